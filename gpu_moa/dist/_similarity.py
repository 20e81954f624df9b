"""Partitioned similarity top-k: the reference split across workers, queries in blocks.

Each task runs the single-device :func:`gpu_moa.tl.similarity_topk` on one query block against
one reference partition and shifts the neighbour indices by the partition's offset; partial
results are merged in a tree that keeps the k best, ties going to the lower global index, so the
result equals the single-device one. An all-vs-all search (float32) runs only the pairs of
partitions on and above the diagonal: an off-diagonal pair's products also give the second
partition's neighbours among the first (:func:`local_pair_topk`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from gpu_moa import _backend
from gpu_moa.dist._array import row_blocks, to_dask, tree_reduce
from gpu_moa.dist._cluster import compute, import_dask
from gpu_moa.tl._similarity import deprecated_reference


@dataclass(frozen=True)
class TopK:
    """The best scores per query row (descending) and their global reference indices (int64,
    -1 in slots without a valid neighbour, whose score is -inf)."""

    indices: Any
    scores: Any


def merge_topk(a: TopK, b: TopK, *, k: int) -> TopK:
    """Keep the ``k`` best of two candidate sets per query: higher score first, then lower index."""
    xp = _backend.get_namespace(a.scores)
    scores = xp.concat([a.scores, b.scores], axis=1)
    indices = xp.concat([a.indices, b.indices], axis=1)
    order = xp.argsort(indices, axis=1, stable=True)
    scores = xp.take_along_axis(scores, order, axis=1)
    indices = xp.take_along_axis(indices, order, axis=1)
    order = xp.argsort(-scores, axis=1, stable=True)[:, :k]
    return TopK(
        xp.take_along_axis(indices, order, axis=1), xp.take_along_axis(scores, order, axis=1)
    )


def local_topk(query: Any, ref: Any, offset: int, *, same_block: bool = False, **kw: Any) -> TopK:
    """Single-device top-k of a query block against one reference block, with global indices.

    ``ref`` is moved to the query's namespace (a host block read from a file, a GPU query);
    ``same_block`` runs the all-vs-all search of a diagonal block (``reference=None``) so the
    single-device self-exclusion applies; ``kw`` goes to :func:`gpu_moa.tl.similarity_topk`.
    """
    from gpu_moa.tl._similarity import similarity_topk as single_topk

    xp = _backend.get_namespace(query)
    ref = None if same_block else _backend.to_device(ref, query)
    idx, scores = single_topk(query, ref, **kw)
    return TopK(xp.where(idx >= 0, idx + offset, idx), scores)


def local_pair_topk(
    query: Any, ref: Any, q_offset: int, r_offset: int, **kw: Any
) -> tuple[TopK, TopK]:
    """An off-diagonal pair of partitions of an all-vs-all search, both directions at once.

    The query rows' best reference rows and the reference rows' best query rows, with global
    indices, from one pass over the pair's block products (:func:`gpu_moa.tl._similarity.
    pair_topk`); ``kw``: ``k``, ``metric``, ``block_rows``, ``exclude_groups``.
    """
    from gpu_moa.tl._similarity import pair_topk

    xp = _backend.get_namespace(query)
    (qi, qs), (ri, rs) = pair_topk(query, _backend.to_device(ref, query), **kw)
    return (
        TopK(xp.where(qi >= 0, qi + r_offset, qi), qs),
        TopK(xp.where(ri >= 0, ri + q_offset, ri), rs),
    )


def _groups_kw(exclude_groups: Any, q: slice, r: slice) -> dict[str, Any]:
    if exclude_groups is None:
        return {}
    return {"exclude_groups": (exclude_groups[0][q], exclude_groups[1][r])}


def similarity_topk(
    A: Any,
    reference: Any = None,
    *,
    k: int = 10,
    metric: str = "pearson",
    exclude_self: bool = True,
    exclude_groups: tuple[Any, Any] | None = None,
    block_rows: int | None = None,
    precision: str = "float32",
    chunk_rows: int | None = None,
    B_: Any = None,
) -> tuple[Any, Any]:
    """Partitioned twin of :func:`gpu_moa.tl.similarity_topk` (same options and result).

    One task per (query block, reference partition) pair runs the single-device search; a tree
    of merges per query block keeps the ``k`` best (ties to the lower global index).

    Parameters
    ----------
    A : Profiles, array or dask array, shape (n, p)
        Queries (NumPy/CuPy chunks).
    reference : Profiles, array or dask array, shape (m, p), optional
        Reference; None searches ``A`` against itself (all-vs-all).
    k, metric, exclude_self, exclude_groups, block_rows, precision
        As in :func:`gpu_moa.tl.similarity_topk` (``exclude_groups``: host integer codes;
        ``block_rows``: query rows per block inside each task).
    chunk_rows : int, optional
        Rows per partition of the queries and of the reference (None keeps dask chunks or
        lets Dask choose).
    B_ : optional
        Deprecated name of ``reference`` (removed in the next release).

    Returns
    -------
    indices : int64 array, shape (n, min(k, m - exclude_self))
        Global reference row positions, best first (-1 in slots without a valid neighbour).
    scores : float32 array, same shape
        Similarities, descending.
    """
    reference = deprecated_reference(reference, B_, "dist.similarity_topk")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    delayed = import_dask("dask").delayed
    qa = to_dask(A, chunk_rows=chunk_rows)
    ra = qa if reference is None else to_dask(reference, chunk_rows=chunk_rows)
    (q_blocks, q_offsets), (r_blocks, r_offsets) = row_blocks(qa), row_blocks(ra)
    kw = {
        "k": k,
        "metric": metric,
        "exclude_self": exclude_self,
        "block_rows": block_rows,
        "precision": precision,
    }
    merge = functools.partial(merge_topk, k=k)
    # all-vs-all in float32: each off-diagonal pair of partitions once, feeding both
    symmetric = reference is None and precision == "float32"
    pair_kw = {"k": k, "metric": metric, "block_rows": block_rows}
    parts: list[list[Any]] = [[] for _ in q_blocks]
    for qi, (qb, qlo) in enumerate(zip(q_blocks, q_offsets, strict=True)):
        qs = slice(qlo, qlo + qa.chunks[0][qi])
        for ri, (rb, rlo) in enumerate(zip(r_blocks, r_offsets, strict=True)):
            if symmetric and ri < qi:
                continue
            rs = slice(rlo, rlo + ra.chunks[0][ri])
            groups = _groups_kw(exclude_groups, qs, rs)
            if symmetric and ri > qi:
                fn = functools.partial(local_pair_topk, **pair_kw, **groups)
                both = delayed(fn, nout=2)(qb, rb, qlo, rlo)
                parts[qi].append(both[0])
                parts[ri].append(both[1])
                continue
            same = reference is None and qi == ri
            fn = functools.partial(local_topk, same_block=same, **kw, **groups)
            parts[qi].append(delayed(fn)(qb, rb, rlo))
    per_query = [tree_reduce(p, merge) for p in parts]
    # one collection: pair tasks feed two query blocks, and separately computed collections
    # may release such a shared task as soon as the first of them is done
    (results,) = compute(delayed(list)(per_query), desc="similarity top-k")
    xp = _backend.get_namespace(results[0].scores)
    return (
        xp.concat([r.indices for r in results], axis=0),
        xp.concat([r.scores for r in results], axis=0),
    )
