"""Mean average precision per group, with p-values against random rankings and BH correction.

The null of one query's AP is the AP of a uniformly random ranking of its ``n_pos`` positives
among its ``n_total`` partners: the positives' ranks are a uniformly random ``n_pos``-subset of
``1..n_total``, and with them sorted, AP = mean over j of ``j / rank_j``. Such a subset is drawn
without shuffling ``n_total`` items: ``n_pos`` independent uniform ranks, repeated values
redrawn until all are distinct. That rule looks only at which draws are equal, never at their
values, so the distribution of the final set is unchanged by any relabelling of the ranks, and
the only such distribution over ``n_pos``-subsets is the uniform one. The cost is O(M log M) per
draw (M = n_pos) instead of O(L) for a shuffle; when positives are the majority, the negatives'
ranks are drawn that way and the positives take the rest.

Each distinct (n_pos, n_total) configuration gets one pool of ``null_size`` null APs; a group's
null mAP averages, per draw, one pool entry per member, each member reading its pool from its own
random starting point (members are independent rankings, so their null draws are not aligned;
copairs instead gives members of one configuration the same draws, a wider null). The p-value
counts null mAPs at least as large as the observed one (copairs counts strictly larger ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse
from scipy.stats import false_discovery_control

from gpu_moa._validation import data_error, group_columns
from gpu_moa.metrics._average_precision import expected_average_precision

_DRAW_CELLS = 1 << 22  # null draws x ranks generated at once


def random_subsets(m: int, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` uniformly random ``m``-subsets of ``range(n)``.

    ``min(m, n - m)`` uniform positions per row, repeated values redrawn until they are
    distinct; when ``m > n / 2`` they are the complement of the subset.

    Parameters
    ----------
    m : int
        Subset size (0 <= m <= n).
    n : int
        Size of the ground set.
    size : int
        Number of subsets.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int, shape (size, m)
        One subset per row, increasing.
    """
    if 2 * m <= n:
        return _distinct_sorted(m, n, size, rng)
    taken = np.zeros((size, n), dtype=bool)
    taken[np.arange(size)[:, None], _distinct_sorted(n - m, n, size, rng)] = True
    return np.reshape(np.nonzero(~taken)[1], (size, m))  # row-major order: rows increasing


def _distinct_sorted(m: int, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`random_subsets` for ``m <= n / 2``: sorted rows, repeats redrawn and the rows that
    had them sorted again (about ``m**2 / 2n`` repeats per row at first, then fewer each round)."""
    dtype = np.int32 if n <= np.iinfo(np.int32).max else np.int64
    pos = np.sort(rng.integers(0, n, size=(size, m), dtype=dtype), axis=1)
    while True:
        repeat = pos[:, 1:] == pos[:, :-1]  # every copy after the first of a value
        rows = np.flatnonzero(np.any(repeat, axis=1))
        if rows.size == 0:
            return pos
        part, redo = pos[rows], repeat[rows]
        part[:, 1:][redo] = rng.integers(0, n, size=int(np.sum(redo)), dtype=dtype)
        pos[rows] = np.sort(part, axis=1)


def null_average_precision(
    n_pos: int, n_total: int, *, size: int, rng: np.random.Generator
) -> np.ndarray:
    """APs of ``size`` uniformly random rankings of ``n_pos`` positives among ``n_total``.

    Parameters
    ----------
    n_pos : int
        Positives M (>= 1).
    n_total : int
        Ranked items L (>= M).
    size : int
        Number of random rankings.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of float64, shape (size,)
        The AP of each random ranking.
    """
    M, L = int(n_pos), int(n_total)
    if M < 1 or L < M:
        raise ValueError(f"need 1 <= n_pos <= n_total, got n_pos={n_pos}, n_total={n_total}")
    if M == L:
        return np.ones(size, dtype=np.float64)
    out = np.empty(size, dtype=np.float64)
    j = np.arange(1, M + 1, dtype=np.float64)
    step = max(1, _DRAW_CELLS // (M if 2 * M <= L else L))
    for lo in range(0, size, step):
        b = min(step, size - lo)
        ranks = random_subsets(M, L, b, rng).astype(np.float64)
        ranks += 1.0
        np.divide(j, ranks, out=ranks)  # precision at the j-th positive
        out[lo : lo + b] = np.sum(ranks, axis=1) / M
    return out


def mean_average_precision(
    ap: pd.DataFrame,
    *,
    sameby: str | Sequence[str],
    null_size: int = 10000,
    threshold: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean AP per group and whether it beats random rankings of the same sizes.

    Parameters
    ----------
    ap : pandas.DataFrame
        Per-query table from :func:`average_precision` (``n_pos``, ``n_total``,
        ``average_precision`` and the metadata columns).
    sameby : str or sequence of str
        Column(s) whose distinct values form the groups (e.g. the compound).
    null_size : int, default 10000
        Random rankings per configuration.
    threshold : float, default 0.05
        Significance level of ``below_p`` and ``below_corrected_p``.
    seed : int, default 0
        Seed of the null draws (equal seeds give equal p-values).

    Returns
    -------
    pandas.DataFrame
        One row per group with at least one query having a positive: the ``sameby`` columns,
        ``n_queries``, ``mean_average_precision``, ``mean_normalized_average_precision``,
        ``p_value`` (``(#null >= observed + 1) / (null_size + 1)``), ``corrected_p_value``
        (Benjamini-Hochberg), ``below_p`` and ``below_corrected_p``.

    Raises
    ------
    DataError
        When ``ap`` lacks the per-query columns or a ``sameby`` column.
    """
    where = "mean_average_precision"
    needed = ["n_pos", "n_total", "average_precision"]
    missing = [c for c in needed if c not in ap]
    if missing:
        raise data_error(
            where, f"input has no column(s) {missing}", "pass the average_precision table"
        )
    if null_size < 1:
        raise ValueError(f"null_size must be >= 1, got {null_size}")
    cols = group_columns(ap, sameby, where)
    valid = ap[(ap["n_pos"] > 0) & ap["average_precision"].notna()].reset_index(drop=True)
    if "normalized_average_precision" not in valid:
        valid = valid.assign(normalized_average_precision=np.nan)
    grouped = valid.groupby(cols, observed=True, sort=True, dropna=True)
    table = grouped.agg(
        n_queries=("average_precision", "size"),
        mean_average_precision=("average_precision", "mean"),
        mean_normalized_average_precision=("normalized_average_precision", "mean"),
    ).reset_index()
    group_of = grouped.ngroup().to_numpy()
    keep = group_of >= 0
    null_means = _null_means(valid.loc[keep], group_of[keep], len(table), null_size, seed)
    observed = table["mean_average_precision"].to_numpy()
    exceed = np.sum(null_means >= observed[:, None] - 1e-12, axis=1)
    table["p_value"] = (exceed + 1.0) / (null_size + 1.0)
    table["corrected_p_value"] = (
        false_discovery_control(table["p_value"].to_numpy(), method="bh") if len(table) else []
    )
    table["below_p"] = table["p_value"] < threshold
    table["below_corrected_p"] = table["corrected_p_value"] < threshold
    return table


def map_p_value(
    observed: float, n_pos: np.ndarray, n_total: np.ndarray, *, null_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """p-value and chance level of one mAP over queries of known ranking sizes.

    Parameters
    ----------
    observed : float
        The mean AP of the queries.
    n_pos, n_total : array of int
        Positives and candidates of each query (queries without a positive are ignored).
    null_size : int, default 1000
        Random rankings per configuration.
    seed : int, default 0
        Seed of the null draws.

    Returns
    -------
    (float, float)
        ``(#null >= observed + 1) / (null_size + 1)`` and the expected mAP of random rankings
        (the mean of the queries' mu0); NaN, NaN without queries.
    """
    keep = np.asarray(n_pos) > 0
    if not keep.any():
        return float("nan"), float("nan")
    rows = pd.DataFrame({"n_pos": np.asarray(n_pos)[keep], "n_total": np.asarray(n_total)[keep]})
    null = _null_means(rows, np.zeros(len(rows), dtype=np.int64), 1, null_size, seed)[0]
    p_value = (np.sum(null >= observed - 1e-12) + 1.0) / (null_size + 1.0)
    return float(p_value), float(
        np.mean(expected_average_precision(rows["n_pos"], rows["n_total"]))
    )


def _null_means(
    rows: pd.DataFrame, group_of: np.ndarray, n_groups: int, null_size: int, seed: int
) -> np.ndarray:
    """(groups x null_size) null mAPs: the mean over members of independent null APs."""
    rng = np.random.default_rng(seed)
    configs, config_of = np.unique(
        rows[["n_pos", "n_total"]].to_numpy(dtype=np.int64), axis=0, return_inverse=True
    )
    pools = (
        np.stack([null_average_precision(m, t, size=null_size, rng=rng) for m, t in configs])
        if len(configs)
        else np.empty((0, null_size))
    )
    # windows[c, s] = pool c read from position s, wrapping around (a view, no copy)
    windows = sliding_window_view(np.concatenate([pools, pools], axis=1), null_size, axis=1)
    sums = np.zeros((n_groups, null_size))
    step = max(1, _DRAW_CELLS // null_size)
    for lo in range(0, len(rows), step):  # members in chunks, each reading its pool shifted
        members = np.arange(lo, min(lo + step, len(rows)))
        draws = windows[config_of[members], rng.integers(0, null_size, size=members.size)]
        onehot = sparse.csr_matrix(
            (np.ones(members.size), (group_of[members], np.arange(members.size))),
            shape=(n_groups, members.size),
        )
        sums += onehot @ draws
    counts = np.bincount(group_of, minlength=n_groups).astype(np.float64)
    return sums / np.maximum(counts, 1.0)[:, None]
