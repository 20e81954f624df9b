"""Threshold-pruned top-k (``topk_rows(..., above=...)``) and the block searches that use it,
against brute-force stable sorts, with many exact ties across block boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from test_similarity import _balanced_signs as _signs  # +-1 rows: scores tie in multiples of 1/p
from test_similarity import _brute_topk, _excluded

import gpu_moa as gm
from gpu_moa._backend import _topk, topk_rows
from gpu_moa.tl import _similarity as sim


@pytest.fixture
def count_pruned(monkeypatch):
    """Counts the calls of the NumPy pruned path (checks that a test reaches it)."""
    calls = []
    real = _topk._topk_above_numpy

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_topk, "_topk_above_numpy", counted)
    return calls


@pytest.mark.parametrize("columns", [False, True])
@pytest.mark.parametrize("limit", [0, 4, 10**6])
def test_entries_above_the_bound_equal_a_stable_sort(xp, rng, monkeypatch, columns, limit):
    """Every row's entries above its bound come first, exactly as in a stable descending sort;
    after them only -inf (or the exact top-k); rows without a bound (-inf) are exact."""
    monkeypatch.setattr(_topk, "_ABOVE_GROUPS", limit)  # 0: rows with any candidate exact
    for b, m, k in ((37, 96, 5), (64, 160, 11), (9, 40, 1)):
        S = rng.integers(-12, 13, (b, m)).astype(np.float32)
        S[rng.random((b, m)) < 0.1] = -np.inf
        S[rng.random((b, m)) < 0.1] = -0.0
        T = S.T if columns else S
        # bounds equal to one of the 2k best of the row: few entries above, ties at the bound
        rank = rng.integers(0, 2 * k, T.shape[0])
        bound = np.sort(T, axis=1)[np.arange(T.shape[0]), -1 - rank]
        bound[rng.random(T.shape[0]) < 0.2] = -np.inf
        idx, val = topk_rows(xp.asarray(S), k, 8, columns=columns, above=xp.asarray(bound))
        idx, val = gm.to_numpy(idx), gm.to_numpy(val)
        order, best = _brute_topk(T, k)
        for r in range(T.shape[0]):
            n = k if bound[r] == -np.inf else int(np.sum(best[r] > bound[r]))
            np.testing.assert_array_equal(idx[r, :n], order[r, :n])
            np.testing.assert_array_equal(val[r, :n], best[r, :n])
            exact = np.array_equal(idx[r], order[r]) and np.array_equal(val[r], best[r])
            assert exact or np.all(val[r, n:] == -np.inf)


@pytest.mark.parametrize(
    ("block_rows", "k"), [(40, 3), (48, 4), (56, 2), (37, 3), (40, 60), (88, 9)]
)
def test_symmetric_search_with_ties_equals_brute_force(xp, rng, count_pruned, block_rows, k):
    """Integer-valued profiles (exact ties everywhere, duplicated rows in distant blocks), odd
    and even block sides, k beyond one block, self and group exclusion."""
    n = 301
    A = _signs(rng, n)
    A[[50, 170, 290]] = A[3]  # duplicates: exact ties across block boundaries
    A[200] = A[120]
    S = A @ A.T / A.shape[1]  # the exact Pearson correlations
    groups = rng.integers(0, 40, n)
    for exclude_self, exclude_groups in ((True, None), (False, None), (True, (groups, groups))):
        order, best = _brute_topk(_excluded(S, exclude_self, exclude_groups), k)
        idx, val = gm.tl.similarity_topk(
            xp.asarray(A),
            k=k,
            block_rows=block_rows,
            exclude_self=exclude_self,
            exclude_groups=exclude_groups,
        )
        np.testing.assert_array_equal(gm.to_numpy(idx), np.where(np.isinf(best), -1, order))
        np.testing.assert_array_equal(gm.to_numpy(val), best.astype(np.float32))
    if xp.__name__.endswith("numpy") and block_rows % 8 == 0 and block_rows // 8 > k + 1:
        assert count_pruned  # the bounds were used


@pytest.mark.parametrize("block_rows", [40, 45, 64])
def test_pair_search_with_ties_equals_brute_force(xp, rng, count_pruned, block_rows):
    """Both directions of a cross search (a partitioned all-vs-all's off-diagonal pair)."""
    A, B = _signs(rng, 131), _signs(rng, 203)
    B[[10, 100, 190]] = A[60]
    A[[7, 99]] = B[150]
    ga, gb = rng.integers(0, 9, 131), rng.integers(0, 9, 203)
    k = 4
    (ia, va), (ib, vb) = sim.pair_topk(
        xp.asarray(A), xp.asarray(B), k=k, block_rows=block_rows, exclude_groups=(ga, gb)
    )
    S = A @ B.T / A.shape[1]
    S[ga[:, None] == gb[None, :]] = -np.inf
    for got_idx, got_val, M in ((ia, va, S), (ib, vb, S.T)):
        order, best = _brute_topk(M, k)
        np.testing.assert_array_equal(gm.to_numpy(got_idx), np.where(np.isinf(best), -1, order))
        np.testing.assert_array_equal(gm.to_numpy(got_val), best.astype(np.float32))
    if xp.__name__.endswith("numpy") and block_rows % 8 == 0:
        assert count_pruned


def test_random_profiles_match_the_reference_search(rng, count_pruned):
    """Continuous scores (bounds prune most entries): the same neighbours and scores, bit for
    bit, as the row-block search against a copy of the data."""
    A = rng.standard_normal((700, 31)).astype(np.float32)
    idx, val = gm.tl.similarity_topk(A, k=7, block_rows=96, exclude_self=False)
    ref_idx, ref_val = gm.tl.similarity_topk(A, A.copy(), k=7, block_rows=96)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(val, ref_val)
    assert count_pruned
