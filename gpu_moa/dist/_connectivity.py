"""Partitioned connectivity top-k: reference partitions scored by Dask tasks, merged in a tree.

Each task ranks one partition of the reference and scores every query set against it with the
single-device code (:mod:`gpu_moa.tl._connectivity`), keeping its ``k`` best per query; a tree
of merges keeps the global ``k`` best, ties going to the lower reference row, so the result
equals :func:`gpu_moa.tl.connectivity_topk`. A GCTX reference is read by the tasks themselves,
one slab of signatures each. NCS adds a first round of tasks that sum each query's positive and
negative scores per reference group.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from gpu_moa import _backend
from gpu_moa._backend import topk_rows
from gpu_moa._validation import data_error
from gpu_moa.dist._array import row_blocks, to_dask, tree_reduce
from gpu_moa.dist._cluster import compute, import_dask
from gpu_moa.dist._similarity import TopK, merge_topk
from gpu_moa.tl import _connectivity_scores as scores
from gpu_moa.tl._connectivity import group_codes, query_sets, wtcs_matrix
from gpu_moa.tl._connectivity_result import DIRECTIONS, ConnectivityHits, _key
from gpu_moa.tl._connectivity_source import GCTX_SUFFIXES, source_of


def _read_rows(path: Path, sig_ids: list[str]) -> Any:
    from gpu_moa import io

    return io.read_gctx(path, cid=sig_ids, device="cpu").X


def _scores(sets: Any, block: Any, codes: Any, sums: Any, block_rows: Any) -> Any:
    W = wtcs_matrix(sets, _backend.to_device(block, sets.up), block_rows)
    return W if sums is None else scores.normalise(W, _backend.to_device(codes, sets.up), sums)


def _local_sums(sets: Any, block: Any, codes: Any, n_groups: int, block_rows: Any) -> Any:
    W = wtcs_matrix(sets, _backend.to_device(block, sets.up), block_rows)
    return scores.group_means(W, _backend.to_device(codes, sets.up), n_groups)


def _add(parts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    total = parts[0]
    for part in parts[1:]:
        total = tuple(a + b for a, b in zip(total, part, strict=True))
    return total


def _local_topk(
    sets: Any, block: Any, offset: int, k: int, direction: str, codes: Any, sums: Any, rows: Any
) -> TopK:
    W = _scores(sets, block, codes, sums, rows)
    idx, val = topk_rows(_key(W, direction), min(k, W.shape[1]))
    return TopK(idx + offset, val)


def connectivity_topk(
    query: Any = None,
    reference: Any = None,
    *,
    k: int = 50,
    n_genes: int = 50,
    up: Any = None,
    down: Any = None,
    score: str = "wtcs",
    by: str | list[str] | None = None,
    direction: str = "positive",
    block_rows: int | None = None,
    chunk_rows: int | None = None,
) -> ConnectivityHits:
    """Partitioned twin of :func:`gpu_moa.tl.connectivity_topk` (same options and result).

    Parameters
    ----------
    query, up, down, n_genes, k, score, by, direction, block_rows
        As in :func:`gpu_moa.tl.connectivity_topk`.
    reference : Profiles, array or path to a GCTX file
        In-memory references are split into row partitions; a GCTX file is read by the tasks,
        ``chunk_rows`` signatures each.
    chunk_rows : int, optional
        Reference rows per partition (default: Dask's choice in memory, 50,000 for a file).

    Returns
    -------
    ConnectivityHits
        Equal to the single-device result.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if score not in ("wtcs", "ncs"):
        raise ValueError(f"score must be 'wtcs' or 'ncs', got {score!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    delayed = import_dask("dask").delayed
    source = source_of(reference, query)
    sets = query_sets(query, up, down, source.var, n_genes, source.like)
    if isinstance(reference, str | Path):
        path = Path(reference)
        if path.suffix.lower() not in GCTX_SUFFIXES:
            raise data_error(
                str(path),
                "dist.connectivity_topk reads GCTX references only",
                "convert it with gm.io.write_gctx, or use gm.tl.connectivity_topk (streams Parquet)",
            )
        rows = chunk_rows or 50_000
        ids = [str(i) for i in source.obs.index]
        offsets = list(range(0, len(ids), rows))
        blocks = [delayed(_read_rows)(path, ids[lo : lo + rows]) for lo in offsets]
    else:
        blocks, offsets = row_blocks(to_dask(reference, chunk_rows=chunk_rows))
    ends = [*offsets[1:], source.n_rows]
    codes, sums = None, None
    if score == "ncs":
        codes, n_groups = group_codes(source.obs, by, source.n_rows, source.like)
        parts = [
            delayed(_local_sums)(sets, b, codes[lo:hi], n_groups, block_rows)
            for b, lo, hi in zip(blocks, offsets, ends, strict=True)
        ]
        (sums,) = compute(delayed(_add)(parts), desc="connectivity NCS sums")
    kk = min(k, source.n_rows)
    parts = [
        delayed(_local_topk)(
            sets, b, lo, kk, direction, None if codes is None else codes[lo:hi], sums, block_rows
        )
        for b, lo, hi in zip(blocks, offsets, ends, strict=True)
    ]
    (best,) = compute(tree_reduce(parts, functools.partial(merge_topk, k=kk)), desc="connectivity")
    values = _key(best.scores, direction)
    return ConnectivityHits(best.indices, values, score, sets.info, source.obs, source.labels)
