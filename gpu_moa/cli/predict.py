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


def main(args: argparse.Namespace) -> int:
    """Run ``gpu-moa predict``; returns the exit status."""
    from gpu_moa import io
    from gpu_moa.cli.train import load_split
    from gpu_moa.models import TrainedModel

    model = TrainedModel.load(args.model)
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
