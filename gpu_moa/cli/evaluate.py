"""``gpu-moa evaluate PROFILES --pos-sameby COL``: per-query AP and per-group mAP with p-values."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_moa._atomic import atomic_path
from gpu_moa._settings import settings
from gpu_moa._validation import data_error
from gpu_moa.cli._errors import usage_error
from gpu_moa.profiles import Profiles

_SHOWN = 20


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        parents=parents,
        help="average precision of retrieving positives, mAP per group with p-values",
        description=(
            "Rank, for every profile, its positive and negative partners by similarity and "
            "score the ranking by average precision (copairs' rules: a positive pair agrees on "
            "every --pos-sameby column and differs on every --pos-diffby column; a negative pair "
            "agrees on --neg-sameby and differs on --neg-diffby; 'Y' means the scored labels). "
            "Then average per group (--map-by, default the --pos-sameby columns) and test each "
            "mAP against random rankings of the same sizes (p-value, Benjamini-Hochberg). "
            "PROFILES is a pycytominer-style CSV(.gz)/Parquet table (Metadata_ columns), a "
            "gpu_moa Parquet file, a lish-moa directory or a GCT/GCTX file."
        ),
    )
    p.add_argument("profiles", metavar="PROFILES", help="the profiles to evaluate")
    p.add_argument("--pos-sameby", nargs="+", required=True, metavar="COL", help="positives agree")
    p.add_argument("--pos-diffby", nargs="+", default=[], metavar="COL", help="positives differ")
    p.add_argument("--neg-sameby", nargs="+", default=[], metavar="COL", help="negatives agree")
    p.add_argument(
        "--neg-diffby",
        nargs="+",
        default=[],
        metavar="COL",
        help="negatives differ (default: every pair that is not positive is negative)",
    )
    p.add_argument("--map-by", nargs="+", default=None, metavar="COL", help="mAP groups")
    p.add_argument("--null-size", type=int, default=10000, help="random rankings (default 10000)")
    p.add_argument("--threshold", type=float, default=0.05, help="significance level")
    p.add_argument("--seed", type=int, default=0, help="seed of the null (default 0)")
    p.add_argument(
        "--metric", choices=["pearson", "spearman", "cosine"], default="pearson", help="similarity"
    )
    p.add_argument("--labels", default=None, metavar="COL", help="MoA column of a table -> Y")
    p.add_argument("--label-sep", default="|", help="separator of several labels (default |)")
    p.add_argument("--meta-prefix", default="Metadata_", help="metadata column prefix")
    p.add_argument("--out", "-o", default="ap.parquet", help="per-query table (.parquet/.csv)")
    p.add_argument("--map-out", default=None, help="also write the mAP table (.parquet/.csv)")
    p.set_defaults(func=main)


def load_profiles(path: str, args: argparse.Namespace) -> Profiles:
    """gpu_moa's own formats through :func:`gpu_moa.io.read`, other tables as pycytominer's."""
    import pyarrow.parquet as pq

    from gpu_moa import io

    kind = io.sniff(path)
    own = kind in ("lish_moa_dir", "gct", "gctx") or (
        kind == "parquet" and b"gpu_moa" in (pq.read_schema(path).metadata or {})
    )
    if own:
        return io.read(path, device=settings.device)
    return io.read_profiles(
        path,
        meta_prefix=args.meta_prefix,
        labels=args.labels,
        label_sep=args.label_sep,
        device=settings.device,
    )


def _write(table, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)


def main(args: argparse.Namespace) -> int:
    """Compute the tables, write them atomically and print the mAP summary."""
    from gpu_moa import metrics

    if args.null_size < 1:
        usage_error("gpu-moa evaluate: error: --null-size must be >= 1")
    map_by = args.map_by or [c for c in args.pos_sameby if c != "Y"]
    if not map_by:
        raise data_error(
            "--map-by", "no mAP grouping: --pos-sameby is only 'Y'", "name a column, e.g. the drug"
        )
    p = load_profiles(args.profiles, args)
    ap = metrics.average_precision(
        p,
        pos_sameby=args.pos_sameby,
        pos_diffby=args.pos_diffby,
        neg_sameby=args.neg_sameby,
        neg_diffby=args.neg_diffby,
        metric=args.metric,
    )
    maps = metrics.mean_average_precision(
        ap, sameby=map_by, null_size=args.null_size, threshold=args.threshold, seed=args.seed
    )
    _write(ap.reset_index(), Path(args.out))
    if args.map_out:
        _write(maps, Path(args.map_out))
    n_q = int(ap["average_precision"].notna().sum())
    print(
        f"{n_q:,} of {len(ap):,} profiles have a positive; mean AP "
        f"{ap['average_precision'].mean():.4f} (normalized {ap['normalized_average_precision'].mean():.4f})"
    )
    print(
        f"{int(maps['below_corrected_p'].sum()):,} of {len(maps):,} groups have mAP below "
        f"corrected p {args.threshold} (null of {args.null_size:,} random rankings)"
    )
    shown = maps.sort_values(["p_value", "mean_average_precision"], ascending=[True, False])
    columns = [*map_by, "n_queries", "mean_average_precision", "p_value", "corrected_p_value"]
    print(shown[columns].head(_SHOWN).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(maps) > _SHOWN:
        print(
            f"... {len(maps) - _SHOWN:,} more groups"
            + (f" in {args.map_out}" if args.map_out else "")
        )
    print(f"per-query AP -> {args.out}")
    return 0
