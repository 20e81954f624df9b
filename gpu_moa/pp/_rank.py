"""Row-wise ranks with averaged ties (the ranks behind Spearman correlation), in the array namespace."""

from __future__ import annotations

from typing import Any

from gpu_moa import _backend


def rank_rows(X: Any) -> Any:
    """Rank the values of each row from 1 to ``n_cols``, giving tied values their mean rank.

    Equals ``scipy.stats.rankdata(X, axis=1)`` (method "average"), computed with array-API
    functions only: a stable sort per row, the boundaries of runs of equal values, and a gather of
    each run's first and last position.

    Parameters
    ----------
    X : array, shape (n_rows, n_cols)
        Values without NaN.

    Returns
    -------
    array, shape (n_rows, n_cols)
        float64 ranks (float32 when the namespace has no float64), in ``X``'s namespace.
    """
    xp = _backend.get_namespace(X)
    n, p = X.shape
    out_dtype = xp.float64 if hasattr(xp, "float64") else xp.float32
    if n == 0 or p == 0:
        return xp.zeros((n, p), dtype=out_dtype, device=_backend.array_device(X))
    order = xp.argsort(X, axis=1, stable=True)
    ordered = xp.take_along_axis(X, order, axis=1)
    dev = _backend.array_device(X)
    first = xp.ones((n, 1), dtype=xp.bool, device=dev)
    starts = xp.concat([first, ordered[:, 1:] != ordered[:, :-1]], axis=1)
    flat_starts = xp.reshape(starts, (-1,))
    (start_pos,) = xp.nonzero(flat_starts)  # global positions of every run's first element
    run = xp.cumulative_sum(xp.astype(flat_starts, xp.int64)) - 1  # global run of each element
    last = xp.asarray([n * p], dtype=start_pos.dtype, device=dev)
    run_end = xp.concat([start_pos[1:], last]) - 1
    first, last = xp.take(start_pos, run), xp.take(run_end, run)
    row_offset = xp.reshape(
        xp.arange(n, dtype=xp.int64, device=dev)[:, None] * p + xp.zeros_like(order), (-1,)
    )
    mean_pos = xp.astype(first + last - 2 * row_offset, out_dtype) / 2.0 + 1.0
    ranks_sorted = xp.reshape(mean_pos, (n, p))
    inverse = xp.argsort(order, axis=1)
    return xp.take_along_axis(ranks_sorted, inverse, axis=1)
