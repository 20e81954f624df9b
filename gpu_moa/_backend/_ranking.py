"""``average_precision_rows``: average precision of every row of a score block.

Tied scores form one threshold, as in ``sklearn.metrics.average_precision_score``: a row's AP is
``(1/m) * sum_j TP(t_j) / N(t_j)`` over its ``m`` positives ``j``, where ``t_j`` is positive
``j``'s score, ``TP(t)`` the positives and ``N(t)`` the candidates scoring at least ``t``.

The NumPy path computes exactly that: ``N`` by binary searches of the positives' scores in the
value-sorted rows (or, with at most :data:`FEW_POSITIVES` positives per row, by counting the
scores at least each threshold), ``TP`` by binary searches in each row's sorted positive scores.
No row is argsorted and nothing of the block's size is gathered. Other namespaces argsort the
rows and walk them in rank order.
"""

from __future__ import annotations

from typing import Any

from gpu_moa._backend._devices import array_device, get_namespace, is_numpy_namespace

#: Up to this many positives per row, the NumPy path counts the scores at least each threshold
#: (one pass over the block per threshold) instead of sorting the rows (about four passes' cost).
FEW_POSITIVES = 4


def average_precision_rows(S: Any, pos: Any) -> tuple[Any, Any]:
    """Per row: average precision of ranking the positives ``pos`` by the scores ``S``.

    Parameters
    ----------
    S : array, shape (b, n)
        Scores, higher ranks first; ``-inf`` marks a non-candidate (never ranked).
    pos : bool array, shape (b, n)
        Positive candidates; their scores must be finite.

    Returns
    -------
    ap : float64 array, shape (b,)
        The sum over the row's positives of the precision at their score, divided by ``n_pos``
        (``sklearn.metrics.average_precision_score`` on the row's candidates); 0 without
        positives.
    n_pos : float64 array, shape (b,)
        Positives per row.
    """
    xp = get_namespace(S)
    if is_numpy_namespace(xp):
        return _average_precision_numpy(S, pos)
    return _average_precision_sorted(S, pos, xp)


# ------------------------------------------------------------------ NumPy fast path
def _count_below(A: Any, row: Any, t: Any) -> Any:
    """Per needle: entries of row ``row`` of ``A`` (rows sorted ascending) below ``t``.

    One branch-free binary search per needle, all needles advanced together: each of the
    ``ceil(log2(m))`` steps gathers one entry per needle.
    """
    import numpy as np

    flat = np.ascontiguousarray(A).reshape(-1)
    base = row * A.shape[1]
    at = base.copy()
    size = A.shape[1]
    while size > 1:
        half = size // 2
        at += half * (flat[at + half] < t)
        size -= half
    return at + (flat[at] < t) - base


def _average_precision_numpy(S: Any, pos: Any) -> tuple[Any, Any]:
    """``(1/m) sum_j TP(t_j) / N(t_j)`` per row, from a (b x max m) table of positive scores."""
    import numpy as np

    b, n = S.shape
    at = np.flatnonzero(pos)  # row-major: grouped by row
    row = at // n
    m = np.bincount(row, minlength=b)
    n_pos = m.astype(np.float64)
    if row.size == 0:
        return np.zeros(b), n_pos
    t = S[row, at - row * n]
    slot = np.arange(row.size) - (np.cumsum(m) - m)[row]
    width = int(m.max())
    thresholds = np.full((b, width), -np.inf, dtype=S.dtype)
    thresholds[row, slot] = t
    if width <= FEW_POSITIVES:
        at_least = np.empty((b, width), dtype=np.int64)
        for k in range(width):
            at_least[:, k] = np.count_nonzero(S >= thresholds[:, k : k + 1], axis=1)
        n_at = at_least[row, slot]
    else:
        n_at = n - _count_below(np.sort(S, axis=1), row, t)
    thresholds.sort(axis=1)  # the -inf padding stays below every positive
    tp_at = width - _count_below(thresholds, row, t)
    ap = np.bincount(row, weights=tp_at / n_at, minlength=b)
    return ap / np.where(m > 0, n_pos, 1.0), n_pos


# ------------------------------------------------------------------ array-API path
def _ap_sorted(s: Any, hits: Any, xp: Any) -> Any:
    """Average precision of rows already sorted by descending score, tie groups honoured.

    Tied scores form one threshold: every positive of a tie group is credited with the
    precision at the end of the group, as in ``sklearn.metrics.average_precision_score``.
    """
    b, n = s.shape
    dev = array_device(s)
    ends = xp.concat([s[:, 1:] != s[:, :-1], xp.ones((b, 1), dtype=xp.bool, device=dev)], axis=1)
    flat_ends = xp.reshape(ends, (-1,))
    (end_at,) = xp.nonzero(flat_ends)
    starts = xp.concat([xp.ones((1,), dtype=xp.bool, device=dev), flat_ends[:-1]])
    group = xp.cumulative_sum(xp.astype(starts, xp.int64)) - 1
    group_end = xp.take(end_at, group)  # flat position of the end of each element's tie group
    cum_hits = xp.reshape(xp.cumulative_sum(xp.astype(hits, xp.float64), axis=1), (-1,))
    row_start = xp.reshape(
        xp.arange(b, dtype=xp.int64, device=dev)[:, None] * n
        + xp.zeros((b, n), dtype=xp.int64, device=dev),
        (-1,),
    )
    precision = xp.take(cum_hits, group_end) / xp.astype(group_end - row_start + 1, xp.float64)
    return xp.sum(xp.astype(hits, xp.float64) * xp.reshape(precision, (b, n)), axis=1)


def _average_precision_sorted(S: Any, pos: Any, xp: Any) -> tuple[Any, Any]:
    """Argsort every row; rows where no positive ties with the next score take the direct sum
    of precision@rank over positives, only rows with such ties the tie-group computation."""
    b, n = S.shape
    order = xp.argsort(-S, axis=1, stable=False)  # order within ties does not matter
    s = xp.take_along_axis(S, order, axis=1)
    hits = xp.take_along_axis(pos, order, axis=1)
    cum = xp.cumulative_sum(xp.astype(hits, xp.int32), axis=1)
    rank = xp.arange(1, n + 1, dtype=xp.float64, device=array_device(S))[None, :]
    ap = xp.sum(xp.where(hits, xp.astype(cum, xp.float64) / rank, 0.0), axis=1)  # as on NumPy
    tied = xp.any(hits[:, :-1] & (s[:, 1:] == s[:, :-1]), axis=1)
    if bool(xp.any(tied)):
        (rows,) = xp.nonzero(tied)
        exact = _ap_sorted(xp.take(s, rows, axis=0), xp.take(hits, rows, axis=0), xp)
        slot = xp.clip(xp.cumulative_sum(xp.astype(tied, xp.int64)) - 1, 0, None)
        ap = xp.where(tied, xp.take(exact, slot), ap)
    n_pos = xp.astype(cum[:, n - 1], xp.float64)
    return ap / xp.where(n_pos > 0, n_pos, 1.0), n_pos
