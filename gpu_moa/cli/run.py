"""``gpu-moa run``: the main job (load, validate, annotate, analyse, report)."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from gpu_moa import _backend, run
from gpu_moa._atomic import atomic_dir
from gpu_moa._settings import settings
from gpu_moa._validation import require_treated
from gpu_moa.cli import _cluster
from gpu_moa.cli.train import seed_value
from gpu_moa.metrics._folds import CV_GROUPS, cv_group_ids
from gpu_moa.profiles import Profiles


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``run`` sub-command."""
    p = subparsers.add_parser(
        "run",
        parents=parents,
        help="run the whole analysis and write an HTML report",
        description=(
            "Load a lish-moa data set (Kaggle directory, annotated CSV or Parquet; the embedded "
            "synthetic default when DATA is omitted), validate and annotate it, run every analysis "
            "stage and write report.html, metrics.json, summary.md, tables/*.parquet and, when a "
            "test set is present, submission.csv into --out."
        ),
    )
    p.add_argument(
        "data", nargs="?", default=None, help="data path (default: embedded synthetic set)"
    )
    p.add_argument("--out", default="out", help="output directory (default: out)")
    p.add_argument("--quick", action="store_true", help="small preset and cheaper settings")
    p.add_argument(
        "--seed", type=seed_value, default=0, help="random seed for every stochastic step"
    )
    p.add_argument(
        "--cv-groups", choices=CV_GROUPS, default="drugs",
        help="drugs (default): refuse labelled data without drug ids (train_drug.csv); rows: "
        "accept them with an optimistic row-grouped CV, labelled so in every output",
    )  # fmt: skip
    _cluster.add_cluster_options(p)
    p.set_defaults(func=main)


#: what ``--out`` holds after a run (an existing --out with anything else is not replaced)
OUTPUT_FILES = ("metrics.json", "summary.md", "report.html", "submission.csv", "tables")


def _has_test_files(path: Path) -> bool:
    """True unless ``path`` is a Kaggle directory without test_features (files hold their own)."""
    if not path.is_dir():
        return True
    return any((path / name).is_file() for name in ("test_features.csv", "test_features.csv.zip"))


def load_train_test(path: Path, device: str) -> tuple[Profiles, Profiles | None]:
    """Read, validate and annotate the training rows and, when present, the test rows."""
    from gpu_moa import io

    p = io.annotate(
        io.read_lish_moa(path, device=device, split="all" if _has_test_files(path) else "train")
    )
    is_test = p.obs["split"].to_numpy() == "test"
    train = p[~is_test]
    test = p[is_test].replace(Y=None, Y_extra=None) if is_test.any() else None
    return train, test


def main(args: argparse.Namespace) -> int:
    """Run the pipeline for parsed ``args``; returns the exit status."""
    device = _backend.resolve_device(args.device)
    _backend.clear_step_log()
    from gpu_moa import datasets

    path = (
        Path(args.data)
        if args.data
        else datasets.default_data_dir(preset="small" if args.quick else "full")
    )
    out = Path(args.out)
    figure_process = run.FigureProcess() if settings.figure_process else nullcontext()
    # --out is written whole: into a staging directory beside it, swapped in at the end
    with atomic_dir(out, replaceable=OUTPUT_FILES, what="--out") as stage, figure_process as fp:
        train, test = load_train_test(path, device)
        require_treated(train, str(path))
        if train.Y is not None:  # the baseline stage cross-validates
            cv_group_ids(train, args.cv_groups, where=str(path))
        ctx = run.RunContext(
            train=train,
            test=test,
            out=stage,
            device=device,
            quick=args.quick,
            random_state=args.seed,
            cv_groups=args.cv_groups,
            source=str(path),
            figure_process=fp,
        )
        with _cluster.cluster_from_args(args) as cluster:
            ctx.search = _cluster.search_from_args(args, cluster, train.n_obs)
            run.run_stages(ctx)
        files = run.write_outputs(ctx)
    report = out / Path(files["report"]).relative_to(stage)
    print(f"gpu-moa run: wrote {len(files)} outputs to {out}/ (open {report})")
    return 0
