"""``gpu-moa predict``: apply a saved model to test profiles and write a submission CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_moa import _backend


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        parents=parents,
        help="predict MoA probabilities with a trained model (submission CSV)",
        description=(
            "Load a model directory written by `gpu-moa train` (logistic, kNN votes or their "
            "blend; the files are checked for consistency), predict every row of the test split "
            "of TEST_DATA (default: the embedded synthetic set) and write the competition "
            "submission: sig_id then the scored labels in the model's order, controls 0."
        ),
    )
    p.add_argument("model", help="model directory from `gpu-moa train --out`")
    p.add_argument(
        "data",
        nargs="?",
        default=None,
        help="lish-moa directory / annotated CSV / Parquet with test rows",
    )
    p.add_argument(
        "--out", default="submission.csv", help="submission CSV (default submission.csv)"
    )
    p.set_defaults(func=main)


def _check_template(data: Path, labels: list[str]) -> None:
    """Refuse a model whose labels differ from the columns of DATA's sample_submission.csv."""
    from gpu_moa._validation import _preview, data_error
    from gpu_moa.io._csv import read_header

    names = ("sample_submission.csv", "sample_submission.csv.zip")
    found = [data / n for n in names if data.is_dir() and (data / n).is_file()]
    if not found:
        return
    template = found[0]
    columns = [c for c in read_header(template) if c != "sig_id"]
    missing = [c for c in columns if c not in set(labels)]
    extra = [c for c in labels if c not in set(columns)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} template label(s) the model lacks ({_preview(missing, 3)})"
            )
        if extra:
            parts.append(f"{len(extra)} model label(s) not in the template ({_preview(extra, 3)})")
        raise data_error(
            str(template),
            f"the model predicts {len(labels)} labels, the template has {len(columns)} columns: "
            + "; ".join(parts),
            "train the model on targets with the template's label columns",
        )


def main(args: argparse.Namespace) -> int:
    """Run ``gpu-moa predict``; returns the exit status."""
    from gpu_moa import io
    from gpu_moa.cli.train import load_split
    from gpu_moa.models import TrainedModel

    model = TrainedModel.load(args.model)
    if args.data:
        _check_template(Path(args.data), model.label_names)
    p = load_split(args.data, "test", _backend.resolve_device(args.device))
    proba = model.predict(p)
    path = io.write_submission(
        proba.to_numpy(), p.sig_ids, model.label_names, Path(args.out), controls=p.is_control
    )
    kind = type(model.estimator).__name__
    print(
        f"gpu-moa predict: {p.n_obs} rows x {len(model.label_names)} labels ({kind}) written to "
        f"{path}"
    )
    return 0
