"""Partitioned similarity top-k: the reference split across workers, queries in blocks.

Each task runs the single-device :func:`gpu_moa.tl.similarity_topk` on one query block against
one reference partition and shifts the neighbour indices by the partition's offset; partial
results are merged in a tree that keeps the k best, ties going to the lower global index. The
reference may also be streamed from a GCTX or Parquet file, each task reading its own rows, so
memory stays flat in the number of reference signatures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from gpu_moa import _backend as bk
from gpu_moa._dist_array import row_blocks, to_dask, tree_reduce
from gpu_moa._dist_cluster import compute, import_dask


@dataclass(frozen=True)
class TopK:
    """The best ``k`` scores per query row and their global reference indices (int64)."""

    scores: Any
    indices: Any


def merge_topk(a: TopK, b: TopK, *, k: int) -> TopK:
    """Keep the ``k`` best of two candidate sets per query: higher score first, then lower index."""
    xp = bk.get_namespace(a.scores)
    scores = xp.concat([a.scores, b.scores], axis=1)
    indices = xp.concat([a.indices, b.indices], axis=1)
    order = xp.argsort(indices, axis=1, stable=True)
    scores = xp.take_along_axis(scores, order, axis=1)
    indices = xp.take_along_axis(indices, order, axis=1)
    order = xp.argsort(-scores, axis=1, stable=True)[:, :k]
    return TopK(
        xp.take_along_axis(scores, order, axis=1), xp.take_along_axis(indices, order, axis=1)
    )


def _local_topk(
    query: Any, ref: Any, offset: int, *, k: int, metric: str, same_block: bool
) -> TopK:
    """Single-device top-k of one query block against one reference block, global indices."""
    from gpu_moa.tl._similarity import similarity_topk as single_topk

    xp = bk.get_namespace(ref)
    k_local = min(k, ref.shape[0])
    if same_block:
        scores, idx = single_topk(query, None, k=min(k, ref.shape[0] - 1), metric=metric)
    else:
        scores, idx = single_topk(query, ref, k=k_local, metric=metric)
    return TopK(scores, xp.astype(idx, xp.int64) + offset)


def _read_and_topk(
    query: Any, reader: Any, start: int, stop: int, *, k: int, metric: str, xp_name: str
) -> TopK:
    """Read reference rows [start, stop) from a file, move them to the query's device, top-k."""
    ref = bk.to_device(reader(start, stop), bk.resolve_xp("gpu" if xp_name == "cupy" else "cpu"))
    return _local_topk(query, ref, start, k=k, metric=metric, same_block=False)


def _finish(parts: list[TopK]) -> tuple[Any, Any]:
    xp = bk.get_namespace(parts[0].scores)
    if len(parts) == 1:
        return parts[0].scores, parts[0].indices
    return (
        xp.concat([p.scores for p in parts], axis=0),
        xp.concat([p.indices for p in parts], axis=0),
    )


def similarity_topk(
    A: Any,
    B: Any = None,
    *,
    k: int,
    metric: str = "pearson",
    chunk_rows: int | None = None,
) -> tuple[Any, Any]:
    """Top-k most similar reference rows for each query row, partitioned with Dask.

    Same result as :func:`gpu_moa.tl.similarity_topk` (same tie rule), computed as one task per
    (query block, reference partition) pair and a tree merge per query block.

    Parameters
    ----------
    A : Profiles, array or dask array, shape (n_q, p)
        Queries.
    B : Profiles, array or dask array, shape (n_ref, p), optional
        Reference; None for all-vs-all within ``A`` (same convention as the single-device
        function for the self match).
    k : int
        Neighbours per query.
    metric : {"pearson", "spearman", "cosine"}
        Similarity, as in the single-device function.
    chunk_rows : int, optional
        Rows per partition for queries and reference (None keeps dask chunks / lets Dask choose).

    Returns
    -------
    scores : array, shape (n_q, k)
        Best similarities, descending, in the chunks' namespace.
    indices : array of int64, shape (n_q, k)
        Global row positions in the reference.
    """
    delayed = import_dask("dask").delayed
    qa = to_dask(A, chunk_rows=chunk_rows)
    q_blocks, q_offsets = row_blocks(qa)
    if B is None:
        r_blocks, r_offsets = q_blocks, q_offsets
    else:
        r_blocks, r_offsets = row_blocks(to_dask(B, chunk_rows=chunk_rows))
    merge = functools.partial(merge_topk, k=k)
    local = functools.partial(_local_topk, k=k, metric=metric)
    per_query = []
    for qi, qb in enumerate(q_blocks):
        parts = [
            delayed(local)(qb, rb, off, same_block=B is None and qi == ri)
            for ri, (rb, off) in enumerate(zip(r_blocks, r_offsets, strict=True))
        ]
        per_query.append(tree_reduce(parts, merge))
    return _finish(list(compute(*per_query, desc="similarity top-k")))
