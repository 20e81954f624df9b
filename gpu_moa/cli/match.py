"""``gpu-moa match QUERY --reference REF``: nearest annotated profiles of every query profile."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_moa._atomic import atomic_path
from gpu_moa.cli import _cluster, _hits
from gpu_moa.cli._errors import usage_error
from gpu_moa.profiles import Profiles


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``match`` sub-command."""
    p = subparsers.add_parser(
        "match",
        parents=parents,
        help="find the most similar annotated profiles of each query profile",
        description=(
            "For every profile in QUERY, find the K most similar profiles in the reference "
            "(Pearson, Spearman or cosine similarity of the feature vectors, streamed in blocks) "
            "and write one row per (query, neighbour): query_sig_id, rank, ref_sig_id, "
            "ref_drug_id, score and ref_moa (the neighbour's MoA labels joined with '|'). "
            "QUERY and REF are lish-moa directories, annotated CSVs, Parquet or GCT/GCTX files. "
            "--annotate adds reference metadata (e.g. pert_iname,cell_id) to each hit; when QUERY "
            "is REF, a signature is never its own hit."
        ),
    )
    p.add_argument("query", metavar="QUERY", help="profiles to identify")
    p.add_argument("--reference", "-r", metavar="REF", required=True, help="annotated profiles")
    p.add_argument(
        "--k", type=_cluster.positive_int, default=10, help="neighbours per query (default 10)"
    )
    p.add_argument(
        "--metric", choices=["pearson", "spearman", "cosine"], default="pearson", help="similarity"
    )
    p.add_argument(
        "--level",
        choices=["signature", "drug"],
        default="signature",
        help="search reference signatures, or one MODZ consensus signature per drug",
    )
    p.add_argument(
        "--query-split",
        choices=["train", "test", "all"],
        default=None,
        help="rows of a lish-moa QUERY (default: test when QUERY has test rows, else train)",
    )
    p.add_argument(
        "--reference-split",
        choices=["train", "all"],
        default="train",
        help="rows of a lish-moa REF (default: train, the annotated rows)",
    )
    p.add_argument(
        "--keep-same-drug",
        action="store_true",
        help="allow neighbours of the query's own drug (excluded by default)",
    )
    p.add_argument(
        "--rank-gauss",
        action="store_true",
        help="rank-Gauss transform both sides with quantiles fitted on the reference first",
    )
    p.add_argument(
        "--annotate",
        default=None,
        metavar="COLS",
        help="reference metadata to add to each hit as ref_<col>, e.g. pert_iname,cell_id",
    )
    p.add_argument(
        "--out",
        "-o",
        default="hits.parquet",
        help="output table: .parquet (default hits.parquet) or .csv",
    )
    _cluster.add_cluster_options(p)
    p.set_defaults(func=main)


def _load(path: str, split: str | None) -> Profiles:
    from gpu_moa.cli.validate import load
    from gpu_moa.io._read import default_split

    src = Path(path)
    if split is None and src.is_dir():  # a Kaggle directory queries with its test rows
        split = "test" if default_split(src) == "all" else "train"
    return load(src, split)


def main(args: argparse.Namespace) -> int:
    """Run the search and write the neighbour table atomically."""
    from gpu_moa import pp, tl

    if args.k < 1:
        usage_error("gpu-moa match: error: --k must be >= 1")
    query = _load(args.query, args.query_split)
    reference = _load(args.reference, args.reference_split)
    if args.rank_gauss:
        quantiles = pp.rank_gauss_fit(reference.X)
        query = query.replace(X=pp.rank_gauss_apply(query.X, quantiles))
        reference = reference.replace(X=pp.rank_gauss_apply(reference.X, quantiles))
    same_file = Path(args.query).resolve() == Path(args.reference).resolve()
    with _cluster.cluster_from_args(args) as cluster:
        hits = tl.match(
            query,
            reference,
            k=args.k + 1 if same_file else args.k,  # one more: a signature's hit on itself
            metric=args.metric,
            level=args.level,
            exclude_same_drug=not args.keep_same_drug,
            search=_cluster.search_from_args(args, cluster, reference.n_obs),
        )
    if same_file:
        hits = _hits.drop_self(hits, args.k)
    if args.annotate:
        hits = _hits.annotate_hits(hits, reference, args.annotate, args.level)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            hits.to_csv(tmp, index=False)
        else:
            hits.to_parquet(tmp, index=False)
    k = min(args.k, reference.n_obs - int(same_file))
    capped = f" (--k {args.k} capped at the reference's rows)" if k < args.k else ""
    print(
        f"{query.n_obs:,} queries x up to {k} neighbours{capped} ({args.metric}, {args.level} "
        f"level) -> {len(hits):,} rows in {out}"
    )
    return 0
