"""``gpu-moa run``: the main job (load, validate, annotate, analyse, report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_moa import _backend as B
from gpu_moa import pipeline


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
    p.add_argument("--seed", type=int, default=0, help="random seed for every stochastic step")
    p.set_defaults(func=main)


def _load(data: str | None, quick: bool, device: str) -> tuple[str, object, object]:
    from gpu_moa import datasets, io

    path = Path(data) if data else datasets.default_data_dir(preset="small" if quick else "full")
    train = io.annotate(io.read_lish_moa(path, device=device, split="train"))
    test = None
    if io.has_test_split(path):
        test = io.annotate(io.read_lish_moa(path, device=device, split="test"))
    return str(path), train, test


def main(args: argparse.Namespace) -> int:
    """Run the pipeline for parsed ``args``; returns the exit status."""
    device = B.resolve_device(args.device)
    B.clear_step_log()
    source, train, test = _load(args.data, args.quick, device)
    ctx = pipeline.RunContext(
        train=train,
        test=test,
        out=Path(args.out),
        device=device,
        quick=args.quick,
        random_state=args.seed,
        source=source,
    )
    pipeline.run_stages(ctx)
    files = pipeline.write_outputs(ctx)
    print(f"gpu-moa run: wrote {len(files)} outputs to {ctx.out}/ (open {files['report']})")
    return 0
