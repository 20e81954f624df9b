"""Similarity and blocked top-k against brute-force NumPy/SciPy/scikit-learn oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics.pairwise import cosine_similarity

import gpu_moa as gm
from gpu_moa._backend import topk_rows
from gpu_moa.tl import _similarity as sim


def _oracle(A, B, metric):
    """float64 similarity matrix from independent implementations."""
    n = A.shape[0]
    if metric == "pearson":
        return np.corrcoef(A, B)[:n, n:]
    if metric == "spearman":
        return spearmanr(A, B, axis=1).statistic[:n, n:]
    return cosine_similarity(A, B)


def _brute_topk(S, k):
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


def _excluded(S, exclude_self, exclude_groups):
    """``S`` with the pairs a search leaves out (itself, equal group codes) set to -inf."""
    want = S.copy()
    if exclude_self:
        np.fill_diagonal(want, -np.inf)
    if exclude_groups is not None:
        rows, cols = exclude_groups
        want[rows[:, None] == cols[None, :]] = -np.inf
    return want


def _balanced_signs(rng, n, p=16):
    """Rows of +-1 with as many of each: every score is an exact multiple of 1/p (many ties)."""
    base = np.array([1.0] * (p // 2) + [-1.0] * (p // 2))
    return np.stack([rng.permutation(base) for _ in range(n)])


@pytest.mark.parametrize("metric", ["pearson", "spearman", "cosine"])
def test_similarity_matches_oracle(xp, rng, metric):
    A, B = rng.standard_normal((9, 12)), rng.standard_normal((14, 12))
    got = gm.to_numpy(gm.tl.similarity(xp.asarray(A), xp.asarray(B), metric=metric))
    np.testing.assert_allclose(got, _oracle(A, B, metric), atol=2e-6)
    self_sim = gm.to_numpy(gm.tl.similarity(xp.asarray(A), metric=metric))
    np.testing.assert_allclose(self_sim, _oracle(A, A, metric), atol=2e-6)


@pytest.mark.parametrize("metric", ["pearson", "spearman", "cosine"])
def test_constant_rows_score_zero(xp, rng, metric):
    A = rng.standard_normal((5, 8))
    A[1] = 0.0 if metric == "cosine" else 3.5
    S = gm.to_numpy(gm.tl.similarity(xp.asarray(A), metric=metric))
    assert np.isfinite(S).all()
    np.testing.assert_array_equal(S[1], 0.0)
    np.testing.assert_array_equal(S[:, 1], 0.0)


@pytest.mark.parametrize("metric", ["pearson", "spearman", "cosine"])
@pytest.mark.parametrize("block_rows", [None, 1, 7, 13])
def test_topk_equals_brute_force(xp, rng, metric, block_rows):
    A, B = rng.standard_normal((23, 10)), rng.standard_normal((157, 10))
    idx, val = gm.tl.similarity_topk(
        xp.asarray(A), xp.asarray(B), k=6, metric=metric, block_rows=block_rows
    )
    S = _oracle(A, B, metric)
    order, best = _brute_topk(S, 6)
    np.testing.assert_allclose(gm.to_numpy(val), best, atol=2e-6)
    if metric == "spearman":  # discrete rank correlations tie exactly: compare the scores
        got = np.take_along_axis(S, gm.to_numpy(idx), axis=1)
        np.testing.assert_allclose(got, best, atol=2e-6)
    else:
        np.testing.assert_array_equal(gm.to_numpy(idx), order)
    assert gm.to_numpy(idx).dtype == np.int64 and gm.to_numpy(val).dtype == np.float32


@pytest.mark.parametrize("exclude_self", [True, False])
@pytest.mark.parametrize("block_rows", [None, 5])
def test_topk_all_vs_all_with_ties(xp, rng, exclude_self, block_rows):
    A = _balanced_signs(rng, 70)
    A[3] = A[10]  # duplicated rows: exact ties, including with the row itself
    S = A @ A.T / A.shape[1]  # exact Pearson correlations
    if exclude_self:
        np.fill_diagonal(S, -np.inf)
    idx, val = gm.tl.similarity_topk(
        xp.asarray(A), k=9, exclude_self=exclude_self, block_rows=block_rows
    )
    order, best = _brute_topk(S, 9)
    np.testing.assert_array_equal(gm.to_numpy(idx), order)
    np.testing.assert_allclose(gm.to_numpy(val), best, atol=1e-6)


def test_topk_k_larger_than_reference(xp, rng):
    A, B = rng.standard_normal((4, 6)), rng.standard_normal((5, 6))
    idx, val = gm.tl.similarity_topk(xp.asarray(A), xp.asarray(B), k=50)
    order, best = _brute_topk(_oracle(A, B, "pearson"), 5)
    np.testing.assert_array_equal(gm.to_numpy(idx), order)
    idx, _ = gm.tl.similarity_topk(xp.asarray(A), k=50)
    assert idx.shape == (4, 3)


def test_topk_constant_rows_tie_to_lower_index(xp, rng):
    A = rng.standard_normal((6, 8))
    A[2] = 1.0
    B = rng.standard_normal((40, 8))
    B[[5, 17, 30]] = -2.0
    idx, val = gm.tl.similarity_topk(xp.asarray(A), xp.asarray(B), k=4, block_rows=4)
    order, best = _brute_topk(np.nan_to_num(_oracle(A, B, "pearson")), 4)
    np.testing.assert_array_equal(gm.to_numpy(idx), order)
    np.testing.assert_array_equal(gm.to_numpy(idx)[2], [0, 1, 2, 3])
    np.testing.assert_array_equal(gm.to_numpy(val)[2], 0.0)


def test_topk_exclude_groups(xp, rng):
    A, B = rng.standard_normal((12, 7)), rng.standard_normal((30, 7))
    qg, rg = np.arange(12) % 4, np.arange(30) % 4
    rg[rg == 3] = 2  # group-3 queries keep every reference row; groups 0-2 lose some
    S = _oracle(A, B, "pearson")
    S[qg[:, None] == rg[None, :]] = -np.inf
    idx, val = gm.tl.similarity_topk(
        xp.asarray(A), xp.asarray(B), k=25, exclude_groups=(qg, rg), block_rows=5
    )
    order, best = _brute_topk(S, 25)
    expect = np.where(np.isinf(best), -1, order)
    np.testing.assert_array_equal(gm.to_numpy(idx), expect)
    np.testing.assert_allclose(gm.to_numpy(val), best, atol=2e-6)


@pytest.mark.parametrize("g", [2, 4, 8, 16])
def test_topk_rows_group_selection_with_ties(xp, rng, g):
    for trial in range(12):
        m = int(rng.integers(10, 400)) * g
        S = rng.integers(-3, 4, size=(6, m)).astype(np.float32)
        if trial % 3 == 0:
            S = rng.standard_normal((6, m)).astype(np.float32)
        S[1] = 0.0
        S[2, : m // 2] = -np.inf
        S[3] = np.where(rng.random(m) < 0.5, -0.0, 0.0)  # signed zeros compare equal
        k = int(rng.integers(1, 12))
        idx, val = topk_rows(xp.asarray(S), k, g)
        order, best = _brute_topk(S, k)
        np.testing.assert_array_equal(gm.to_numpy(idx), order)
        np.testing.assert_array_equal(gm.to_numpy(val), best)


def test_low_precision_rescoring_path(rng, monkeypatch):
    """The float16 + exact re-scoring path (a GPU option) checked on NumPy."""
    monkeypatch.setattr(sim, "_low_precision", lambda precision, xp: precision)
    A, B = rng.standard_normal((40, 30)), rng.standard_normal((300, 30))
    idx, val = gm.tl.similarity_topk(A, B, k=10, precision="float16", block_rows=16)
    order, best = _brute_topk(_oracle(A, B, "pearson"), 10)
    assert (gm.to_numpy(idx) == order).mean() >= 0.99
    np.testing.assert_allclose(np.sort(val, axis=1), np.sort(best, axis=1), atol=1e-3)


def test_precision_option_is_float32_on_cpu(rng):
    A = rng.standard_normal((10, 6))
    ref = gm.tl.similarity_topk(A, k=3)
    for precision in ("tf32", "float16"):
        got = gm.tl.similarity_topk(A, k=3, precision=precision)
        np.testing.assert_array_equal(got[0], ref[0])
    with pytest.raises(ValueError, match="precision"):
        gm.tl.similarity_topk(A, k=3, precision="int8")


def test_bad_input_rejected(xp):
    A = np.ones((4, 3))
    A[1, 2] = np.nan
    with pytest.raises(gm.DataError, match="NaN"):
        gm.tl.similarity_topk(xp.asarray(A))
    with pytest.raises(gm.DataError, match="features"):
        gm.tl.similarity(xp.asarray(np.ones((2, 3))), xp.asarray(np.ones((2, 4))))
    with pytest.raises(ValueError, match="metric"):
        gm.tl.similarity(xp.asarray(np.ones((2, 3))), metric="euclid")


def test_block_copy_never_multiplies_a_buffer_by_its_transpose(rng, monkeypatch):
    seen = []
    original = np.matmul

    def spy(a, b, *args, **kwargs):
        seen.append(np.shares_memory(a, b))
        return original(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    A = rng.standard_normal((50, 8)).astype(np.float32)
    gm.tl.similarity_topk(A, k=3)
    gm.tl.similarity(A)
    assert seen and not any(seen)


@pytest.mark.parametrize("chunk", [32, 48])
def test_topk_reference_chunks_merge_exactly(xp, rng, monkeypatch, chunk):
    """Long references are searched in column chunks; merging keeps ties to the lower index."""
    monkeypatch.setattr(sim, "_CPU_CHUNK_COLS", chunk)
    A = _balanced_signs(rng, 150)
    A[7] = A[140]
    S = A @ A.T / A.shape[1]
    groups = np.arange(150) // 3
    S[groups[:, None] == groups[None, :]] = -np.inf
    idx, val = gm.tl.similarity_topk(
        xp.asarray(A), k=12, block_rows=17, exclude_groups=(groups, groups)
    )
    order, best = _brute_topk(S, 12)
    np.testing.assert_array_equal(gm.to_numpy(idx), order)
    np.testing.assert_allclose(gm.to_numpy(val), best, atol=1e-6)


@pytest.mark.parametrize("fn", [gm.tl.similarity, gm.tl.similarity_topk])
def test_B_keyword_is_deprecated_but_works(fn):
    rng = np.random.default_rng(0)
    A, R = rng.normal(size=(6, 5)), rng.normal(size=(9, 5))
    with pytest.warns(DeprecationWarning, match="reference="):
        old = fn(A, B_=R)
    new = fn(A, reference=R)
    for got, want in zip(
        old if isinstance(old, tuple) else (old,),
        new if isinstance(new, tuple) else (new,),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="once"):
        fn(A, R, B_=R)


@pytest.mark.parametrize("block_rows", [None, 7, 16, 48, 61])
@pytest.mark.parametrize("metric", ["pearson", "cosine"])
def test_symmetric_all_vs_all_equals_brute_force_and_reference_path(xp, rng, block_rows, metric):
    """All-vs-all computes each block pair once (its transpose feeds the column block): the
    result equals a stable sort of the full matrix and the search against a copy of itself."""
    A = _balanced_signs(rng, 133)
    A[[5, 77, 120]] = A[40]  # duplicated rows across blocks: exact ties, kept on the lower index
    if metric == "cosine":
        A[9] = 0.0  # an all-zero row scores 0 against everything (ties with all zero scores)
    groups = np.arange(133) // 7
    S = _oracle(A, A, metric)
    S = np.where(np.abs(S) < 1e-12, 0.0, np.round(S * 16) / 16)  # exact multiples of 1/16
    for exclude_self, exclude_groups in ((True, None), (False, None), (True, (groups, groups))):
        order, best = _brute_topk(_excluded(S, exclude_self, exclude_groups), 11)
        kw = {"k": 11, "metric": metric, "block_rows": block_rows}
        idx, val = gm.tl.similarity_topk(
            xp.asarray(A), exclude_self=exclude_self, exclude_groups=exclude_groups, **kw
        )
        expect = np.where(np.isinf(best), -1, order)
        np.testing.assert_array_equal(gm.to_numpy(idx), expect)
        np.testing.assert_allclose(gm.to_numpy(val), best, atol=1e-6)
        if exclude_self:
            continue  # the reference path has no self to exclude
        ref_idx, ref_val = gm.tl.similarity_topk(
            xp.asarray(A), xp.asarray(A.copy()), exclude_groups=exclude_groups, **kw
        )
        np.testing.assert_array_equal(gm.to_numpy(idx), gm.to_numpy(ref_idx))
        np.testing.assert_array_equal(gm.to_numpy(val), gm.to_numpy(ref_val))


@pytest.mark.parametrize("n", [17, 250])
def test_symmetric_random_rows_match_reference_path(rng, n):
    """Random profiles (no ties): the symmetric search picks the neighbours of the row search."""
    A = rng.standard_normal((n, 23)).astype(np.float32)
    idx, val = gm.tl.similarity_topk(A, k=6, block_rows=32)
    ref_idx, ref_val = gm.tl.similarity_topk(A, A.copy(), k=7)
    order, best = _brute_topk(np.where(np.eye(n) > 0, -np.inf, _oracle(A, A, "pearson")), 6)
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(idx, ref_idx[:, 1:])
    np.testing.assert_allclose(val, ref_val[:, 1:], atol=1e-6)


@pytest.mark.parametrize("columns", [False, True])
def test_topk_rows_columns_option(xp, rng, columns):
    S = rng.integers(-3, 4, size=(96, 64)).astype(np.float32)
    S[:, 5] = -np.inf
    got = topk_rows(xp.asarray(S), 7, 8, columns=columns)
    order, best = _brute_topk(S.T if columns else S, 7)
    np.testing.assert_array_equal(gm.to_numpy(got[0]), order)
    np.testing.assert_array_equal(gm.to_numpy(got[1]), best)


@pytest.mark.parametrize("chunk", [32, 48])
def test_topk_reference_chunks_merge_exactly_with_reference(xp, rng, monkeypatch, chunk):
    """The row-block search against a long reference merges its column chunks exactly."""
    monkeypatch.setattr(sim, "_CPU_CHUNK_COLS", chunk)
    A = _balanced_signs(rng, 150)
    A[7] = A[140]
    S = A @ A.T / A.shape[1]
    groups = np.arange(150) // 3
    S[groups[:, None] == groups[None, :]] = -np.inf
    idx, val = gm.tl.similarity_topk(
        xp.asarray(A), xp.asarray(A.copy()), k=12, block_rows=17, exclude_groups=(groups, groups)
    )
    order, best = _brute_topk(S, 12)
    np.testing.assert_array_equal(gm.to_numpy(idx), order)
    np.testing.assert_allclose(gm.to_numpy(val), best, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (40, 23), (7, 300)])
def test_average_ranks_match_rankdata(xp, rng, shape):
    """Ranks with ties (and without, the NumPy path's shortcut), signed zeros and a transposed
    (non-contiguous) input, against SciPy."""
    from scipy.stats import rankdata

    from gpu_moa._backend import average_ranks

    X = rng.standard_normal(shape)
    Xt = np.round(X * 2) / 2
    Xt[0] = 1.5
    Xt[-1, ::2] = -0.0
    for M in (X, Xt, np.ascontiguousarray(Xt.T).T):
        np.testing.assert_array_equal(
            gm.to_numpy(average_ranks(xp.asarray(M))), rankdata(M, axis=1)
        )


def test_ordered_map_keeps_order(xp):
    """Results come back in the items' order whatever order the worker threads finish in."""
    import time

    from gpu_moa._backend import ordered_map

    def slow(i):
        time.sleep(0.002 * ((7 * i) % 5))
        return i * i

    assert list(ordered_map(slow, list(range(23)), xp)) == [i * i for i in range(23)]
    assert list(ordered_map(slow, [3], xp)) == [9]


@pytest.mark.parametrize("block_rows", [None, 5, 16])
def test_pair_topk_equals_both_directions(xp, rng, block_rows):
    """One pass over A @ B.T gives A's neighbours in B and B's in A, with groups and ties."""
    A, B = _balanced_signs(rng, 37), _balanced_signs(rng, 58)
    B[[3, 40]] = A[7]  # exact ties across blocks
    ga, gb = np.arange(37) % 5, np.arange(58) % 7
    (ia, va), (ib, vb) = sim.pair_topk(
        xp.asarray(A), xp.asarray(B), k=9, block_rows=block_rows, exclude_groups=(ga, gb)
    )
    S = A @ B.T / A.shape[1]
    S[ga[:, None] == gb[None, :]] = -np.inf
    for got_idx, got_val, M in ((ia, va, S), (ib, vb, S.T)):
        order, best = _brute_topk(M, 9)
        np.testing.assert_array_equal(gm.to_numpy(got_idx), np.where(np.isinf(best), -1, order))
        np.testing.assert_allclose(gm.to_numpy(got_val), best, atol=1e-6)
