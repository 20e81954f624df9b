"""``gpu-moa synth``: write a synthetic lish-moa data set (Kaggle layout or annotated CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_moa._atomic import atomic_dir


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``synth`` sub-command."""
    p = subparsers.add_parser(
        "synth",
        parents=parents,
        help="write a realistic synthetic lish-moa data set",
        description=(
            "Generate a deterministic synthetic data set with the real lish-moa structure "
            "(drugs x 2 doses x 3 times, one vehicle-control drug, the 206 scored and 402 "
            "non-scored real label names, 772 genes and 100 cell lines) and write it to OUT_DIR "
            "in the Kaggle file layout (train_features.csv, train_targets_scored.csv, "
            "train_targets_nonscored.csv, train_drug.csv, test_features.csv, "
            "sample_submission.csv) or as one annotated CSV."
        ),
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory to write into (created)")
    p.add_argument(
        "--layout",
        choices=["kaggle", "annotated"],
        default="kaggle",
        help="kaggle: the competition's files; annotated: one CSV with a training flag, genes "
        "named g-<SYMBOL>_<ENTREZ> and cells c-<N>-<CCLE_NAME> (default: kaggle)",
    )
    p.add_argument(
        "--preset",
        choices=["full", "small"],
        default="full",
        help="full: the real size (23,814 train + 3,982 test rows); small: ~2,000 rows",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--compress", action="store_true", help="write .csv.zip files instead of .csv")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Generate and write the data set for parsed ``args``; returns the exit status."""
    from gpu_moa import datasets

    out = Path(args.out_dir)
    # OUT_DIR is written whole: into a staging directory beside it, swapped in at the end
    with atomic_dir(out, replaceable=_is_synth_output, what="OUT_DIR") as stage:
        files = datasets.write_synthetic(
            stage,
            preset=args.preset,
            random_state=args.seed,
            layout=args.layout,
            compress=args.compress,
        )
    if not args.quiet:
        for role, path in files.items():
            print(f"{role}: {out / Path(path).name}")
    return 0


def _is_synth_output(name: str) -> bool:
    """Whether an entry of an existing OUT_DIR is one an earlier ``synth`` writes."""
    return name == "synthetic.json" or name.endswith((".csv", ".csv.zip"))
