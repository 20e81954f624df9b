"""Dask arrays of profiles and the map-reduce building blocks of the partitioned engine.

A partitioned computation here is: split the rows into blocks (the chunks of a dask array whose
columns stay whole), compute a small statistic per block with the single-device code, and merge
the statistics pairwise in a tree. Blocks are NumPy or CuPy arrays; the merge runs in the same
namespace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gpu_moa import _backend
from gpu_moa.dist._cluster import compute, import_dask
from gpu_moa.profiles import Profiles

#: how many partial results one merge task combines
SPLIT_EVERY = 8


def _check_chunk_rows(chunk_rows: int | None) -> None:
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive integer or None, got {chunk_rows!r}")


def to_dask(p_or_array: Any, *, chunk_rows: int | None) -> Any:
    """A dask array of the rows of ``p_or_array``, chunked by rows with whole columns.

    Parameters
    ----------
    p_or_array : Profiles, NumPy/CuPy array or dask array
        For :class:`~gpu_moa.Profiles`, its ``X``. Other array-API arrays are copied to NumPy.
    chunk_rows : int or None
        Rows per partition; None keeps a dask array's row chunks, or lets Dask choose ("auto")
        for an in-memory array. Columns always form one chunk.

    Returns
    -------
    dask.array.Array
        Chunks are NumPy or CuPy arrays like the input; ``meta`` is built from the input, so a
        CuPy-backed array stays visible as such (``x._meta`` is a CuPy array).
    """
    _check_chunk_rows(chunk_rows)
    da = import_dask("dask.array")
    x = p_or_array.X if isinstance(p_or_array, Profiles) else p_or_array
    if isinstance(x, da.Array):
        spec = {ax: -1 for ax in range(1, x.ndim)}
        if chunk_rows is not None:
            spec[0] = chunk_rows
        return x.rechunk(spec)
    rows = "auto" if chunk_rows is None else chunk_rows
    if not (
        _backend.is_numpy_namespace(_backend.get_namespace(x)) or _backend.device_of(x) == "gpu"
    ):
        x = _backend.to_numpy(x)
    meta = x[(slice(0, 0),) * x.ndim]
    return da.from_array(x, chunks=(rows, *x.shape[1:]), meta=meta, asarray=False)


def row_blocks(x: Any) -> tuple[list[Any], list[int]]:
    """The row blocks of a dask array as Delayed objects, with the global offset of each."""
    if x.ndim == 2 and x.numblocks[1] != 1:
        x = x.rechunk({1: -1})
    blocks = list(x.to_delayed().ravel())
    offsets = [0]
    for size in x.chunks[0][:-1]:
        offsets.append(offsets[-1] + size)
    return blocks, offsets


def _reduce_left(merge: Callable[[Any, Any], Any], parts: Sequence[Any]) -> Any:
    return functools.reduce(merge, parts)


def tree_reduce(parts: Sequence[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """Merge Delayed partial results in a tree, keeping their left-to-right order."""
    delayed = import_dask("dask").delayed
    parts = list(parts)
    if not parts:
        raise ValueError("nothing to reduce: the input has no rows")
    while len(parts) > 1:
        parts = [
            delayed(_reduce_left, pure=True)(merge, parts[i : i + SPLIT_EVERY])
            for i in range(0, len(parts), SPLIT_EVERY)
        ]
    return parts[0]


def map_reduce(
    x: Any, block_fn: Callable[..., Any], merge: Callable[[Any, Any], Any], desc: str
) -> Any:
    """``merge`` over the row blocks of dask array ``x`` of ``block_fn(block)``, computed."""
    delayed = import_dask("dask").delayed
    blocks, _ = row_blocks(x)
    (result,) = compute(tree_reduce([delayed(block_fn)(b) for b in blocks], merge), desc=desc)
    return result


# ----------------------------------------------------------------------------------- moments
@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (M2) of the columns of a matrix.

    ``M2`` is a vector (per-feature) or a matrix (the scatter matrix, for the covariance).
    Arrays are float64 in the input's namespace.
    """

    count: int
    mean: Any
    M2: Any

    def var(self, *, ddof: int = 1) -> Any:
        """Variance (or covariance matrix) with ``ddof`` delta degrees of freedom."""
        return self.M2 / float(self.count - ddof)

    def std(self, *, ddof: int = 1) -> Any:
        """Standard deviation per feature (vector ``M2`` only)."""
        return _backend.get_namespace(self.M2).sqrt(self.var(ddof=ddof))


def block_moments(x: Any, *, scatter: bool = False) -> Moments:
    """Moments of one block; with ``scatter`` the full centred scatter matrix instead of M2.

    The scatter is a float32 matrix product of the block centred on its own mean (then kept in
    float64); the two operands are distinct buffers (OpenBLAS crashes on ``A.T @ A`` of one).
    """
    xp = _backend.get_namespace(x)
    mean = xp.mean(xp.astype(x, xp.float64), axis=0)
    centred = x - xp.astype(mean, x.dtype)
    if scatter:
        other = xp.asarray(centred, copy=True)
        m2 = xp.astype(xp.matmul(xp.permute_dims(other, (1, 0)), centred), xp.float64)
    else:
        d = xp.astype(x, xp.float64) - mean
        m2 = xp.sum(d * d, axis=0)
    return Moments(int(x.shape[0]), mean, m2)


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Chan et al.'s pairwise update: the moments of the union of two disjoint row sets."""
    if a.count == 0:
        return b
    if b.count == 0:
        return a
    xp = _backend.get_namespace(a.mean)
    n = a.count + b.count
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / n)
    if a.M2.ndim == 2:
        outer = xp.reshape(delta, (-1, 1)) * xp.reshape(delta, (1, -1))
    else:
        outer = delta * delta
    return Moments(n, mean, a.M2 + b.M2 + outer * (a.count * b.count / n))


def moments(X: Any, *, chunk_rows: int | None = None) -> Moments:
    """Per-feature count, mean and M2 of a partitioned matrix, merged with Chan's formula.

    Parameters
    ----------
    X : Profiles, array or dask array, shape (n, p)
    chunk_rows : int, optional
        Rows per partition (re-chunks a dask array; None keeps its chunks / lets Dask choose).

    Returns
    -------
    Moments
        ``mean`` and ``M2`` float64 in the chunks' namespace; ``var(ddof=...)``, ``std(...)``.
    """
    x = to_dask(X, chunk_rows=chunk_rows)
    return map_reduce(x, block_moments, merge_moments, desc="moments")


def scatter_moments(X: Any, *, chunk_rows: int | None = None) -> Moments:
    """Count, mean and the centred scatter matrix (p x p) of a partitioned matrix."""
    x = to_dask(X, chunk_rows=chunk_rows)
    return map_reduce(
        x, functools.partial(block_moments, scatter=True), merge_moments, desc="covariance"
    )
