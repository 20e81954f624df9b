"""``gpu-moa validate DATA``: load and validate a data set, print a short summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gpu_moa._backend import to_numpy
from gpu_moa._settings import settings
from gpu_moa.profiles import Profiles


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``validate`` sub-command."""
    p = subparsers.add_parser(
        "validate",
        parents=parents,
        help="check a data set and print a summary",
        description=(
            "Load DATA with every check gpu_moa makes (files present, required columns, numeric "
            "finite features, unique sig_ids, targets matching the features, 0/1 labels, known "
            "cp_type/cp_time/cp_dose values, well-formed rows) and print rows, features, drugs, "
            "controls and labels. Exits 0 when the data are valid; otherwise prints what is "
            "wrong, where, and how to fix it, and exits 2."
        ),
    )
    p.add_argument(
        "data",
        metavar="DATA",
        help="a lish-moa directory, an annotated CSV, a Parquet file, or a GCT/GCTX file",
    )
    p.add_argument(
        "--split",
        choices=["train", "test", "all"],
        default=None,
        help="which rows of lish-moa data to check (default: all that are present)",
    )
    p.set_defaults(func=main)


def load(path: Path, split: str | None = None) -> Profiles:
    """Read ``path`` with :func:`gpu_moa.io.read` on the configured device."""
    from gpu_moa import io

    return io.read(path, split=split, device=settings.device)


def summary_lines(p: Profiles) -> list[str]:
    """Rows, features, drugs, controls and labels of Profiles, one fact per line."""
    obs = p.obs
    lines = []
    if "split" in obs:
        counts = obs["split"].value_counts()
        lines.append("rows: " + " + ".join(f"{n:,} {s}" for s, n in counts.items()))
    else:
        lines.append(f"rows: {p.n_obs:,}")
    kinds = p.var["kind"].value_counts() if "kind" in p.var else {}
    detail = ", ".join(f"{n:,} {k}s" for k, n in kinds.items())
    lines.append(f"features: {p.n_vars:,}" + (f" ({detail})" if detail else ""))
    if "drug_id" in obs:
        lines.append(f"drugs: {obs['drug_id'].nunique():,}")
    if p.type_column is not None:
        lines.append(f"controls: {int(p.is_control.sum()):,}")
    for what, Y, names in (
        ("scored", p.Y, p.label_names),
        ("non-scored", p.Y_extra, p.extra_label_names),
    ):
        if Y is not None:
            positives = int(np.nansum(to_numpy(Y)))
            lines.append(f"labels: {len(names)} {what} ({positives:,} positives)")
    return lines


def main(args: argparse.Namespace) -> int:
    """Validate ``args.data``; print the summary and return 0 (errors propagate as DataError)."""
    path = Path(args.data)
    p = load(path, args.split)
    print(f"{path}: valid")
    for line in summary_lines(p):
        print(f"  {line}")
    return 0
