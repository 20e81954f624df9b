"""``gpu-moa connect QUERY --reference REF``: Connectivity Map queries (WTCS, NCS, tau)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gpu_moa._atomic import atomic_path
from gpu_moa._settings import settings
from gpu_moa.cli import _cluster
from gpu_moa.cli._errors import usage_error

GENE_SET_SUFFIXES = (".gmt", ".grp")
STREAMED = (".gctx", ".h5", ".hdf5", ".parquet", ".pq")


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``connect`` sub-command."""
    p = subparsers.add_parser(
        "connect",
        parents=parents,
        help="Connectivity Map query: the reference signatures best connected to each query",
        description=(
            "Score every query against every reference signature with the Connectivity Map's "
            "weighted connectivity score (WTCS), its normalised form (NCS) or tau, and write "
            "the K best-connected signatures of each query: query, rank, reference, the scores "
            "and the reference's annotations. QUERY is a GMT/GRP file of up gene sets (symbols, "
            "Entrez ids or probe ids; --down adds the down sets) or profiles whose rows give "
            "their --n-genes highest and lowest genes. A GCTX/Parquet reference is streamed; "
            "tau and --permutations need the whole reference in memory."
        ),
    )
    p.add_argument("query", metavar="QUERY", help="GMT/GRP gene sets, or profiles")
    p.add_argument("--reference", "-r", metavar="REF", required=True, help="reference signatures")
    p.add_argument(
        "--down", metavar="GMT", help="down sets (GMT/GRP), paired with QUERY's in order"
    )
    p.add_argument("--n-genes", type=int, default=50, help="genes per set of profile queries")
    p.add_argument(
        "--k", type=_cluster.positive_int, default=50, help="hits per query (default 50)"
    )
    p.add_argument("--score", choices=["wtcs", "ncs", "tau"], default="wtcs", help="ranking score")
    p.add_argument(
        "--by", nargs="+", default=None, metavar="COLUMN", help="NCS groups (e.g. cell_id)"
    )
    p.add_argument(
        "--direction",
        choices=["positive", "negative"],
        default="positive",
        help="highest scores first (similar) or lowest first (opposing)",
    )
    p.add_argument(
        "--permutations", type=int, default=0, help="random sets for p-values and q-values"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random sets")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="reference rows read at a time")
    p.add_argument("--out", "-o", default="hits.parquet", help="output .parquet or .csv")
    _cluster.add_cluster_options(p)
    p.set_defaults(func=main)


def _gene_sets(path: Path) -> dict[str, list[str]]:
    from gpu_moa import io

    if path.suffix.lower() == ".grp":
        return {path.stem: io.read_grp(path)}
    return io.read_gmt(path)


def _query(args: argparse.Namespace) -> dict[str, Any]:
    from gpu_moa import io

    path = Path(args.query)
    if path.suffix.lower() in GENE_SET_SUFFIXES:
        up = _gene_sets(path)
        down = _gene_sets(Path(args.down)) if args.down else None
        return {"up": up, "down": down}
    if args.down:
        usage_error("gpu-moa connect: error: --down goes with a GMT/GRP QUERY")
    return {"query": io.read(path, device=settings.device), "n_genes": args.n_genes}


def _hits(args: argparse.Namespace, query: dict[str, Any]) -> tuple[Any, Any]:
    """The hit table and the per-query information (set sizes, genes not in the reference)."""
    from gpu_moa import io, tl

    ref_path = Path(args.reference)
    if args.permutations > 0 or args.score == "tau":
        reference = io.read(ref_path, device=settings.device)
        result = tl.connectivity(
            reference=reference,
            by=args.by,
            tau_reference="reference" if args.score == "tau" else None,
            n_permutations=args.permutations,
            random_state=args.seed,
            **query,
        )
        frame = result.to_frame(top=args.k, score=args.score, direction=args.direction)
        return frame, result.queries
    streamed = ref_path.suffix.lower() in STREAMED
    reference = ref_path if streamed else io.read(ref_path, device=settings.device)
    options = {"k": args.k, "score": args.score, "by": args.by, "direction": args.direction}
    with _cluster.cluster_from_args(args) as cluster:
        if cluster is not None or args.partitions is not None:
            from gpu_moa import dist

            search = dist.connectivity_topk
        else:
            search = tl.connectivity_topk
        found = search(reference=reference, chunk_rows=args.chunk_rows, **options, **query)
        return found.to_frame(), found.queries


def main(args: argparse.Namespace) -> int:
    """Run the query and write the hit table atomically."""
    if args.k < 1 or args.n_genes < 1 or args.permutations < 0 or args.chunk_rows < 1:
        usage_error(
            "gpu-moa connect: error: --k, --n-genes and --chunk-rows must be >= 1, "
            "--permutations >= 0"
        )
    hits, queries = _hits(args, _query(args))
    out = Path(args.out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            hits.to_csv(tmp, index=False)
        else:
            hits.to_parquet(tmp, index=False)
    missing = int(queries["missing_up"].sum() + queries["missing_down"].sum())
    print(
        f"{len(queries):,} queries x up to {args.k} hits ({args.score}) -> {len(hits):,} rows in "
        f"{out}; {missing:,} query genes not in the reference were dropped"
    )
    return 0
