"""Row-wise ranks with averaged ties (the ranks behind Spearman correlation), in the array namespace."""

from __future__ import annotations

from typing import Any

from gpu_moa import _backend


def rank_rows(X: Any) -> Any:
    """Rank the values of each row from 1 to ``n_cols``, giving tied values their mean rank.

    Equals ``scipy.stats.rankdata(X, axis=1)`` (method "average"): a sort per row, the
    boundaries of runs of equal values and each run's first and last position (see
    :func:`gpu_moa._backend.average_ranks`, which has a NumPy fast path).

    Parameters
    ----------
    X : array, shape (n_rows, n_cols)
        Values without NaN.

    Returns
    -------
    array, shape (n_rows, n_cols)
        float64 ranks (float32 when the namespace has no float64), in ``X``'s namespace.
    """
    return _backend.average_ranks(X)
