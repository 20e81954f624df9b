"""``topk_rows``: exact top-k of each row of a score block without sorting whole rows.

The columns are dealt into strided groups; the k groups with the largest maxima hold the k best
entries unless the k-th and (k+1)-th group maxima tie, so only ``k x g`` candidates per row are
sorted (whole rows only where such a tie occurs). Ties between entries go to the lower column,
as in a stable descending sort. With per-row lower bounds (``above``, the k-th best score
found so far in earlier column blocks), the NumPy path gathers only the groups whose maxima
exceed the bound.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from gpu_moa._backend._devices import array_device, get_namespace, is_numpy_namespace

_ABOVE_GROUPS = 4  # NumPy: a row with more groups above its bound takes the group selection


def group_width(m: int, k: int, xp: ModuleType) -> int:
    """Columns per group for the group-maxima top-k.

    8 on NumPy, whose fast path selects the groups with ``argpartition`` (narrow groups: fewer
    candidates to gather, about 5% faster than 16 in an all-vs-all search); elsewhere about
    ``sqrt(m / k)``, which balances sorting the group maxima against sorting the candidates.
    """
    if is_numpy_namespace(xp):
        return 8
    return max(16, 8 * math.ceil(math.sqrt(m / max(k, 1)) / 8))


def _best_groups(gmax: Any, k: int, xp: ModuleType) -> tuple[Any, Any]:
    """The k groups with the highest maxima (any order) and whether the choice is ambiguous.

    Ambiguous rows are those where the k-th best maximum ties with the (k+1)-th: another
    group could then hold one of the k best entries.
    """
    order = xp.argsort(-gmax, axis=1, stable=True)[:, : k + 1]
    vals = xp.take_along_axis(gmax, order, axis=1)
    return order[:, :k], vals[:, k - 1] == vals[:, k]


def _sorted_topk(S: Any, k: int, xp: ModuleType) -> tuple[Any, Any]:
    order = xp.argsort(-S, axis=1, stable=True)[:, :k]
    return xp.astype(order, xp.int64), xp.take_along_axis(S, order, axis=1)


def topk_rows(
    S: Any, k: int, g: int | None = None, *, columns: bool = False, above: Any = None
) -> tuple[Any, Any]:
    """The ``k`` largest entries of each row of ``S`` (ties to the lower column), sorted.

    The columns are dealt into ``G = m / g`` strided groups (column ``c`` goes to group
    ``c mod G``). If the k-th largest group maximum is strictly above the (k+1)-th, the k best
    entries all lie in the k groups with the largest maxima, so only those ``k * g`` candidates
    are sorted; rows where the two tie are sorted whole. The result equals a stable descending
    sort of every row.

    Parameters
    ----------
    S : array, shape (b, m)
        Scores; ``m`` must be a multiple of ``g`` (pad with -inf), else whole rows are sorted.
    k : int
        Entries per row, ``1 <= k <= m``.
    g : int, optional
        Group width, default :func:`group_width`.
    columns : bool, default False
        Select in the columns of ``S`` instead (the rows of ``S.T``, without a transposed copy:
        the group maxima are taken over whole rows of ``S``); the result is that of
        ``topk_rows(S.T, k, g)``.
    above : array, shape (b,), optional
        Per-row lower bounds (-inf for none): only entries strictly above a finite bound are
        needed. A row with a finite bound may then hold just those (best first, at most ``k``),
        its remaining slots -inf; rows with bound -inf are exact. On NumPy, rows whose bound
        leaves few group maxima above it skip the group selection; other namespaces ignore it.
        Merging such a result after ``k`` sorted entries scoring at least the bound, all at
        lower columns, gives the same ``k`` best as the exact result.

    Returns
    -------
    indices : int64 array, shape (b, k)
    values : array, shape (b, k)
        Descending by value; equal values in increasing column order.
    """
    xp = get_namespace(S)
    M, S = (S, xp.permute_dims(S, (1, 0))) if columns else (None, S)
    b, m = S.shape
    g = group_width(m, k, xp) if g is None else g
    G = m // g
    if m % g or G <= k:
        return _sorted_topk(S, k, xp)
    if above is not None and is_numpy_namespace(xp):
        return _topk_above_numpy(S if M is None else M, k, g, above, M is not None)
    if M is None:
        gmax = xp.max(xp.reshape(S, (b, g, G)), axis=1)
    else:  # the maxima of strided row groups of M: elementwise maxima of g contiguous slabs
        gmax = xp.permute_dims(xp.max(xp.reshape(M, (g, G, b)), axis=0), (1, 0))
    if is_numpy_namespace(xp):
        idx, top, ambiguous = _group_topk_numpy(S, gmax, k, g)
    else:
        best, ambiguous = _best_groups(gmax, k, xp)
        cols = _candidates(xp.astype(xp.sort(best, axis=1), xp.int64), g, G, xp)
        vals = xp.take_along_axis(S, cols, axis=1)
        order = xp.argsort(-vals, axis=1, stable=True)[:, :k]
        idx, top = xp.take_along_axis(cols, order, axis=1), xp.take_along_axis(vals, order, axis=1)
    if bool(xp.any(ambiguous)):
        (rows,) = xp.nonzero(ambiguous)
        full_idx, full_top = _sorted_topk(xp.take(S, rows, axis=0), k, xp)
        slot = xp.clip(xp.cumulative_sum(xp.astype(ambiguous, xp.int64)) - 1, 0, None)
        idx = xp.where(ambiguous[:, None], xp.take(full_idx, slot, axis=0), idx)
        top = xp.where(ambiguous[:, None], xp.take(full_top, slot, axis=0), top)
    return idx, top


def _candidates(best: Any, g: int, G: int, xp: ModuleType) -> Any:
    """Columns of the chosen strided groups (sorted group ids), in increasing column order."""
    offsets = xp.arange(g, dtype=xp.int64, device=array_device(best))[None, :, None] * G
    return xp.reshape(offsets + best[:, None, :], (best.shape[0], g * best.shape[1]))


def _group_topk_numpy(S: Any, gmax: Any, k: int, g: int) -> tuple[Any, Any, Any]:
    """NumPy fast path of the group selection: partitions instead of sorts.

    The candidates are ranked by one int64 key per entry (the float's bit pattern mapped to an
    integer decreasing with the value, then the candidate's position), so an unstable partition and a sort of
    k keys reproduce the stable descending order.
    """
    import numpy as np

    G = S.shape[1] // g
    part = np.argpartition(gmax, G - k - 1, axis=1)[:, G - k - 1 :]  # (k+1)-th largest first
    gvals = np.take_along_axis(gmax, part, axis=1)
    ambiguous = gvals[:, 0] == np.min(gvals[:, 1:], axis=1)
    cols = _candidates(np.sort(part[:, 1:], axis=1).astype(np.int64), g, G, np)
    if S.flags.c_contiguous:  # a flat gather is about 2x faster than take_along_axis
        rows = np.arange(S.shape[0], dtype=np.int64)[:, None] * S.shape[1]
        vals = np.take(S.reshape(-1), cols + rows)
    else:
        vals = np.take_along_axis(S, cols, axis=1)
    vals = vals + np.float32(0.0)  # -0.0 -> +0.0
    shift = max(1, (cols.shape[1] - 1).bit_length())
    key = np.left_shift(_descending_key(vals), shift, dtype=np.int64)
    key |= np.arange(cols.shape[1], dtype=np.int64)
    pick = np.sort(np.partition(key, k - 1, axis=1)[:, :k], axis=1) & ((1 << shift) - 1)
    return np.take_along_axis(cols, pick, axis=1), np.take_along_axis(vals, pick, axis=1), ambiguous


def _descending_key(vals: Any) -> Any:
    """int32 keys of float32 values (no -0.0, no NaN), decreasing with the value: ~bits for
    positive floats, the sign bit flipped for negative ones."""
    bits = vals.view("int32")
    return bits ^ ~((bits >> 31) & 0x7FFFFFFF)


def _topk_above_numpy(M: Any, k: int, g: int, above: Any, columns: bool) -> tuple[Any, Any]:
    """NumPy path of ``topk_rows(..., above=...)`` on the score block ``M`` (its columns
    when ``columns``).

    The group maxima above a row's bound point at the only entries it needs. Rows with more
    than ``_ABOVE_GROUPS * k`` such groups (or no finite bound) take the group selection; the
    surviving entries of the others are ordered by one int64 key each (the row, the value's
    descending key, the column) in one sort of all of them.
    """
    import numpy as np

    b, m = M.shape[::-1] if columns else M.shape
    G = m // g
    above = np.ascontiguousarray(above, dtype=M.dtype)  # a strided bound slows the compares
    if columns:  # strided row groups of M: (G, b) maxima
        hit = np.max(M.reshape(g, G, b), axis=0) > above[None, :]
        exact = np.count_nonzero(hit, axis=0) > _ABOVE_GROUPS * k
    else:
        hit = np.max(M.reshape(b, g, G), axis=1) > above[:, None]
        exact = np.count_nonzero(hit, axis=1) > _ABOVE_GROUPS * k
    exact |= above == -np.inf
    rbits, cbits = max(1, (b - 1).bit_length()), max(1, (m - 1).bit_length())
    n_exact = int(np.count_nonzero(exact))
    if n_exact * 2 > b or rbits + 32 + cbits > 63:
        return topk_rows(M, k, g, columns=columns)
    idx = np.zeros((b, k), dtype=np.int64)
    top = np.full((b, k), -np.inf, dtype=M.dtype)
    if n_exact:
        (rows,) = np.nonzero(exact)
        part = np.take(M, rows, axis=1 if columns else 0)
        idx[rows], top[rows] = topk_rows(part, k, g, columns=columns)
        hit &= ~exact[None, :] if columns else ~exact[:, None]
    if columns:
        grp, row = np.divmod(np.flatnonzero(hit), b)
    else:
        row, grp = np.divmod(np.flatnonzero(hit), G)
    col = grp[:, None] + np.arange(0, m, G, dtype=np.int64)  # the g columns of each group
    flat = col * b + row[:, None] if columns else row[:, None] * m + col
    vals = np.take(np.ravel(M), flat)
    keep = vals > above[row][:, None]
    row, col, vals = np.broadcast_to(row[:, None], col.shape)[keep], col[keep], vals[keep]
    vals = vals + np.float32(0.0)  # -0.0 -> +0.0, as the group selection returns them
    vkey = _descending_key(vals).astype(np.int64) + (1 << 31)  # in [0, 2**32)
    key = np.sort((row << (32 + cbits)) | (vkey << cbits) | col)
    row, col = key >> (32 + cbits), key & ((1 << cbits) - 1)
    slot = np.arange(row.shape[0]) - np.searchsorted(row, row)  # rank within the row
    row, col, slot = row[slot < k], col[slot < k], slot[slot < k]
    idx[row, slot] = col
    top[row, slot] = np.take(np.ravel(M), col * b + row if columns else row * m + col) + 0.0
    return idx, top
