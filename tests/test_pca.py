"""PCA against scikit-learn (float64 'full' SVD as the oracle), on NumPy and array-api-strict."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa.tl._pca import _scatter, pca_fit, pca_fit_from_scatter, pca_transform


def _data(rng, n=300, p=25, shift=2.0):
    """Correlated data with a clear spectrum and a non-zero mean."""
    scales = np.linspace(4.0, 0.2, p)
    X = rng.standard_normal((n, p)) * scales @ np.linalg.qr(rng.standard_normal((p, p)))[0]
    return (X + shift).astype(np.float32)


def _profiles(X, xp):
    n, p = X.shape
    obs = pd.DataFrame(
        {"cp_type": ["trt_cp"] * n, "cp_time": [24] * n, "cp_dose": ["D1"] * n},
        index=pd.Index([f"id_{i}" for i in range(n)], name="sig_id"),
    )
    return gm.make_profiles(X, obs, [f"g-{j}" for j in range(p)], device=xp)


@pytest.mark.parametrize("shape", [(300, 25), (20, 40)])
def test_pca_fit_matches_sklearn(xp, rng, shape):
    X = _data(rng, *shape)
    k = 8
    oracle = PCA(n_components=k, svd_solver="full").fit(X.astype(np.float64))
    fit = pca_fit(xp.asarray(X), n_comps=k)
    assert fit.solver == "covariance_eigh"
    for name in ("mean_", "components_", "explained_variance_", "singular_values_"):
        got = getattr(fit, name)
        assert type(got) is type(xp.asarray(X))
        assert got.dtype == xp.float32
        np.testing.assert_allclose(
            _backend.to_numpy(got), getattr(oracle, name), rtol=2e-4, atol=2e-4, err_msg=name
        )
    np.testing.assert_allclose(
        _backend.to_numpy(fit.explained_variance_ratio_),
        oracle.explained_variance_ratio_,
        atol=1e-5,
    )
    for whiten in (False, True):
        want = PCA(n_components=k, svd_solver="full", whiten=whiten).fit_transform(
            X.astype(np.float64)
        )
        got = pca_transform(fit, xp.asarray(X), whiten=whiten)
        np.testing.assert_allclose(_backend.to_numpy(got), want, rtol=1e-3, atol=2e-3)


def test_pca_profiles(xp, rng):
    X = _data(rng)
    p = _profiles(X, xp)
    out = gm.tl.pca(p, n_comps=5, whiten=True)
    assert "X_pca" not in p.obsm and "pca" not in p.uns  # the input is left alone
    scores = out.obsm["X_pca"]
    assert scores.shape == (300, 5) and scores.dtype == xp.float32
    assert type(scores) is type(p.X)
    want = PCA(n_components=5, whiten=True).fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(_backend.to_numpy(scores), want, rtol=1e-3, atol=2e-3)
    info = out.uns["pca"]
    assert info["components"].shape == (5, 25)
    assert info["features"] == p.var_names and info["whiten"] is True
    np.testing.assert_allclose(
        _backend.to_numpy(info["variance_ratio"]),
        PCA(5).fit(X.astype(np.float64)).explained_variance_ratio_,
        atol=1e-5,
    )
    # n_comps larger than the data allows is capped
    assert gm.tl.pca(p[:4], n_comps=50).obsm["X_pca"].shape == (4, 4)


def test_sklearn_solver_equals_covariance_eigh(rng):
    X = _data(rng)
    a = pca_fit(X, n_comps=6, solver="covariance_eigh")
    b = pca_fit(X, n_comps=6, solver="sklearn")
    assert b.solver == "sklearn"
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-4)
    np.testing.assert_allclose(a.explained_variance_ratio_, b.explained_variance_ratio_, atol=1e-6)


def test_partition_merge_equals_single_fit(xp, rng):
    """Scatter matrices of row blocks merge (parallel-variance formula) into the full fit."""
    X = _data(rng, n=211)
    blocks = [X[:50], X[50:177], X[177:]]
    n, mean, M2 = 0, np.zeros(X.shape[1]), np.zeros((X.shape[1],) * 2)
    for blk in blocks:
        nb, mb = len(blk), blk.mean(axis=0, dtype=np.float64)
        Bc = blk - mb
        delta = mb - mean
        M2 = M2 + Bc.T @ Bc.copy() + np.outer(delta, delta) * n * nb / (n + nb)
        mean = mean + delta * nb / (n + nb)
        n += nb
    merged = pca_fit_from_scatter(xp.asarray(M2), xp.asarray(mean.astype(np.float32)), n, n_comps=7)
    full = pca_fit(xp.asarray(X), n_comps=7)
    np.testing.assert_allclose(
        _backend.to_numpy(merged.components_), _backend.to_numpy(full.components_), atol=1e-4
    )
    np.testing.assert_allclose(
        _backend.to_numpy(merged.explained_variance_),
        _backend.to_numpy(full.explained_variance_),
        rtol=1e-4,
    )


def _spread_data(rng, n, p, mean_sd):
    """Correlated features whose means are ``mean_sd`` standard deviations."""
    scales = np.linspace(3.0, 0.3, p)
    X = rng.standard_normal((n, p)) * scales @ np.linalg.qr(rng.standard_normal((p, p)))[0]
    return (X + mean_sd * X.std(axis=0)).astype(np.float32)


def _graded_data(rng, n, p):
    """Features on scales from 1 to 1e-5, mixed a little and shuffled: the top 5 variances span 8
    decades. The float32 product keeps each entry's relative precision; a float32 eigensolver
    does not (its error is relative to the largest eigenvalue)."""
    scales = np.concatenate([[1.0, 1e-1, 1e-2, 1e-3, 1e-4], np.full(p - 5, 1e-5)])
    mix = np.eye(p) + 0.2 * rng.standard_normal((p, p)) / np.sqrt(p)
    return ((rng.standard_normal((n, p)) @ mix) * scales)[:, rng.permutation(p)].astype(np.float32)


@pytest.mark.parametrize(
    ("case", "k", "fused"),
    [
        ("small_mean", 4, True),  # uncentred product; float32 eigenpairs refined in float64
        ("small_mean", 110, True),  # n_comps close to p: the float64 eigensolver
        ("large_mean", 4, False),  # a mean of 5 standard deviations: centred rows
        ("graded", 5, True),  # ill-conditioned: the refinement rejects the float32 start
    ],
)
def test_pca_paths_match_sklearn(xp, rng, refinements, case, k, fused):
    n, p = 500, 120
    if case == "graded":
        X = _graded_data(rng, n, p)
    else:
        X = _spread_data(rng, n, p, 0.3 if case == "small_mean" else 5.0)
    outcomes = refinements
    assert (_scatter(xp.asarray(X))[2] is None) is fused
    fit = pca_fit(xp.asarray(X), n_comps=k)
    # the float32 start is tried on the NumPy path only (and for few components)
    assert len(outcomes) == (8 * (k + 10) <= p and _backend.is_numpy_namespace(xp))
    if case == "graded" and _backend.is_numpy_namespace(xp):
        assert outcomes == [False]  # the float64 eigensolver took over
    oracle = PCA(n_components=k, svd_solver="full").fit(X.astype(np.float64))
    got = {name: _backend.to_numpy(getattr(fit, name)) for name in ("mean_", "components_")}
    np.testing.assert_allclose(got["mean_"], oracle.mean_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["components_"], oracle.components_, atol=1e-4)
    for name in ("explained_variance_", "singular_values_"):
        np.testing.assert_allclose(
            _backend.to_numpy(getattr(fit, name)), getattr(oracle, name), rtol=1e-5, err_msg=name
        )
    np.testing.assert_allclose(
        _backend.to_numpy(fit.explained_variance_ratio_),
        oracle.explained_variance_ratio_,
        rtol=1e-5,
        atol=1e-8,
    )
    profiles = gm.tl.pca(_profiles(X, xp), n_comps=k, whiten=True)
    want = PCA(n_components=k, svd_solver="full", whiten=True).fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(_backend.to_numpy(profiles.obsm["X_pca"]), want, atol=2e-3)


@pytest.mark.parametrize("mean_sd", [0.3, 5.0])
def test_scatter_equals_float64_scatter(xp, rng, mean_sd):
    X = _spread_data(rng, 700, 40, mean_sd)
    scatter, mean, Xc = _scatter(xp.asarray(X))
    assert (Xc is None) is (mean_sd < 1)  # the centred rows are made only for a large mean
    assert scatter.dtype == xp.float64 and mean.dtype == xp.float64
    Xd = X.astype(np.float64)
    np.testing.assert_allclose(_backend.to_numpy(mean), Xd.mean(axis=0), rtol=1e-12)
    Xd -= Xd.mean(axis=0)
    want = Xd.T @ Xd
    np.testing.assert_allclose(_backend.to_numpy(scatter), want, atol=1e-5 * np.abs(want).max())


def test_backend_is_logged(rng):
    _backend.clear_step_log()
    pca_fit(_data(rng), n_comps=3)
    (rec,) = [r for r in _backend.step_log() if r.step.startswith("pca")]
    assert rec.step == "pca[covariance_eigh]" and rec.backend == "numpy"
    assert "exact covariance-eigh" in rec.note


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
def test_bad_input(rng):
    X = _data(rng, n=30, p=5)
    with pytest.raises(ValueError, match="n_comps=6"):
        pca_fit(X, n_comps=6)
    with pytest.raises(ValueError, match="solver must be one of"):
        pca_fit(X, n_comps=2, solver="arpack")
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(gm.DataError, match="NaN"):
        pca_fit(bad, n_comps=2)
    for values in ([np.inf], [np.inf, -np.inf]):  # found through the column sums as well
        bad = X.copy()
        bad[3 : 3 + len(values), 2] = values
        with pytest.raises(gm.DataError, match=f"{len(values)} NaN/inf"):
            pca_fit(bad, n_comps=2)
    with pytest.raises(ValueError, match="fitted on 5"):
        pca_transform(pca_fit(X, n_comps=2), X[:, :4])


@pytest.mark.skipif(gm.has_gpu(), reason="checks the error raised without cuML")
def test_cuml_solver_without_cuml(rng):
    with pytest.raises(gm.BackendUnavailableError, match="cuML is not available"):
        pca_fit(_data(rng), n_comps=2, solver="cuml")


@pytest.mark.gpu
def test_pca_on_gpu_matches_cpu(rng):
    cupy = pytest.importorskip("cupy")
    if not gm.has_gpu():
        pytest.skip("no usable CUDA device")
    X = _data(rng)
    fit = pca_fit(cupy.asarray(X), n_comps=5)
    want = PCA(5, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(_backend.to_numpy(fit.components_), want.components_, atol=1e-3)


@pytest.mark.slow
def test_full_size_in_subprocess():
    """23,814 x 872 float32 (the lish-moa shape) runs without the OpenBLAS crash."""
    code = (
        "import numpy as np; from gpu_moa.tl._pca import pca_fit, pca_transform;"
        "X = np.random.default_rng(0).standard_normal((23814, 872), dtype=np.float32);"
        "f = pca_fit(X, n_comps=50); s = pca_transform(f, X);"
        "assert s.shape == (23814, 50) and np.isfinite(s).all(); print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
