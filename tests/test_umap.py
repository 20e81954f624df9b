"""UMAP: the exact kNN graph against scikit-learn, the embedding's neighbourhood preservation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa.tl._umap_graph import exact_knn, fuzzy_graph, smooth_knn_sigmas


def _clusters(n=240, d=12, seed=0):
    """Three well separated Gaussian clusters; returns data and cluster ids."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, d)) * 8
    ids = np.arange(n) % 3
    return (centres[ids] + rng.standard_normal((n, d))).astype(np.float32), ids


def _profiles(X, xp):
    n = X.shape[0]
    obs = pd.DataFrame(
        {"cp_type": ["trt_cp"] * n}, index=pd.Index([f"s{i}" for i in range(n)], name="sig_id")
    )
    p = gm.make_profiles(X, obs, [f"g-{j}" for j in range(X.shape[1])], device=xp)
    return p.replace(obsm={"X_pca": p.X})


def test_exact_knn_matches_sklearn(xp):
    X, _ = _clusters(n=301)
    idx, dist = exact_knn(xp.asarray(X), k=6, block_rows=97)
    assert idx.dtype == xp.int64 and dist.dtype == xp.float32
    assert _backend.array_device(idx) == _backend.array_device(xp.asarray(X))  # stays there
    idx, dist = gm.to_numpy(idx), gm.to_numpy(dist)
    want_d, want_i = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)
    assert idx.shape == (301, 6)
    np.testing.assert_array_equal(idx[:, 0], np.arange(301))
    np.testing.assert_allclose(dist, want_d, atol=1e-4)
    np.testing.assert_array_equal(idx, want_i)


def test_exact_knn_self_first_with_duplicates():
    X, _ = _clusters(n=50)
    X[7] = X[8]
    idx, dist = exact_knn(X, k=3)
    assert idx[7, 0] == 7 and idx[8, 0] == 8
    assert {idx[7, 1], idx[8, 1]} == {8, 7} and dist[7, 1] == pytest.approx(0, abs=1e-3)


def test_self_first_when_rounding_drops_the_row():
    from gpu_moa.tl._umap_graph import _self_first

    idx = np.array([[5, 7, 9], [1, 4, 6]])  # row 0 lost itself to rounding, row 1 has itself
    d2 = np.array([[0.0, 4.0, 1.0], [0.5, 0.0, 9.0]])
    got_idx, got_d = _self_first(idx, d2, np.array([0, 1]))
    np.testing.assert_array_equal(got_idx, [[0, 5, 9], [1, 4, 6]])
    np.testing.assert_allclose(got_d, [[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])


def _sigma_oracle(row):
    """Solve sum_j exp(-(d_j - rho) / sigma) = log2(k) for one row with a scalar root finder."""
    rho = row[row > 0].min()
    shifted = row[1:] - rho
    f = lambda s: np.where(shifted > 0, np.exp(-shifted / s), 1.0).sum() - np.log2(len(row))  # noqa: E731
    return rho, brentq(f, 1e-8, 1e4, xtol=1e-12)


def test_smooth_knn_sigmas(xp):
    X, _ = _clusters(n=200)
    idx, dist = exact_knn(X, k=10)
    rho, sigma = smooth_knn_sigmas(xp.asarray(dist))
    rho, sigma = _backend.to_numpy(rho), _backend.to_numpy(sigma)
    for i in range(0, 200, 17):
        want_rho, want_sigma = _sigma_oracle(dist[i].astype(np.float64))
        assert rho[i] == pytest.approx(want_rho, rel=1e-6)
        assert sigma[i] == pytest.approx(want_sigma, rel=1e-3)


def test_fuzzy_graph_by_hand():
    X, _ = _clusters(n=60)
    idx, dist = exact_knn(X, k=5)
    graph = fuzzy_graph(idx, dist).toarray()
    P = np.zeros((60, 60))
    for i in range(60):
        rho, sigma = _sigma_oracle(dist[i].astype(np.float64))
        for j, d in zip(idx[i, 1:], dist[i, 1:], strict=True):
            P[i, j] = 1.0 if d <= rho else np.exp(-(d - rho) / sigma)
    np.testing.assert_allclose(graph, P + P.T - P * P.T, atol=2e-4)
    assert np.allclose(graph, graph.T) and (np.diag(graph) == 0).all()


@pytest.mark.slow
def test_fuzzy_graph_equals_umap_learn():
    """The graph equals umap-learn's fuzzy_simplicial_set on the same kNN (numba compile: slow)."""
    from umap.umap_ import fuzzy_simplicial_set

    X, _ = _clusters(n=300)
    X[3] = X[4]  # a duplicate: zero distances
    idx, dist = exact_knn(X, k=15)
    want, _, _ = fuzzy_simplicial_set(
        X, 15, np.random.RandomState(0), "euclidean", knn_indices=idx, knn_dists=dist
    )
    got = fuzzy_graph(idx, dist)
    assert got.nnz == want.nnz
    assert abs(got - want.tocsr()).max() < 1e-6


@pytest.fixture(scope="module")
def embedded():
    X, ids = _clusters()
    return X, ids, gm.tl.umap(_profiles(X, np), n_neighbors=10, random_state=0)


def _assert_neighbourhoods_kept(X, ids, emb):
    """Trustworthiness above 0.9, and each point's nearest embedded neighbour in its cluster."""
    assert trustworthiness(X, emb, n_neighbors=10) > 0.9
    _, nn = NearestNeighbors(n_neighbors=2).fit(emb).kneighbors(emb)
    assert (ids[nn[:, 1]] == ids).mean() > 0.98


def test_umap_preserves_neighbourhoods(embedded):
    X, ids, out = embedded
    emb = out.obsm["X_umap"]
    assert emb.shape == (240, 2) and emb.dtype == np.float32
    _assert_neighbourhoods_kept(X, ids, emb)
    assert out.uns["umap"]["backend"] == "umap-learn"
    assert out.uns["umap"]["n_neighbors"] == 10


def test_umap_in_namespace_and_deterministic(xp, embedded):
    """The NumPy layout on every namespace whose arithmetic is NumPy's. On CuPy, cuBLAS rounds the
    kNN distances differently in the last bits (the graph itself is checked against the host in
    the tests above) and the stochastic layout amplifies that, so there: the same layout run to
    run, and the same neighbourhood quality."""
    X, ids, ref = embedded
    out = gm.tl.umap(_profiles(X, xp), n_neighbors=10, random_state=0)
    emb = out.obsm["X_umap"]
    assert type(emb) is type(xp.asarray(X)) and emb.dtype == xp.float32
    if not _backend.is_cupy_namespace(xp):
        np.testing.assert_allclose(_backend.to_numpy(emb), ref.obsm["X_umap"], atol=1e-4)
        return
    again = gm.tl.umap(_profiles(X, xp), n_neighbors=10, random_state=0).obsm["X_umap"]
    np.testing.assert_array_equal(_backend.to_numpy(again), _backend.to_numpy(emb))
    _assert_neighbourhoods_kept(X, ids, _backend.to_numpy(emb))


def test_umap_logs_backend_and_reason():
    X, _ = _clusters(n=30)
    _backend.clear_step_log()
    gm.tl.umap(_profiles(X, np), n_neighbors=50, random_state=1)  # n_neighbors is capped
    (rec,) = [r for r in _backend.step_log() if r.step == "umap"]
    assert rec.backend == "umap-learn" and rec.device == "cpu"
    assert "umap-learn" in rec.note


def test_umap_missing_representation():
    X, _ = _clusters(n=30)
    p = _profiles(X, np).replace(obsm={})
    with pytest.raises(KeyError, match=r"run gm.tl.pca\(p\) first"):
        gm.tl.umap(p)
    with pytest.raises(ValueError, match="at least 3 rows"):
        gm.tl.umap(_profiles(X[:2], np))
