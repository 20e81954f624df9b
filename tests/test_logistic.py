"""MultilabelLogistic against scikit-learn's LogisticRegression, on NumPy and array-api-strict."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpu_moa as gm
from gpu_moa.models import MultilabelLogistic


def _correlated_problem(rng, n=600, p=40, k=5, dtype=np.float64):
    """Strongly correlated features (a few latent factors) and labels of varied frequency."""
    latent = rng.normal(size=(n, 6))
    X = latent @ rng.normal(size=(6, p)) + 0.3 * rng.normal(size=(n, p)) + 1.0
    W = rng.normal(size=(p, k)) * 0.15
    bias = np.linspace(-1.0, -4.0, k)
    Y = (rng.random((n, k)) < 1 / (1 + np.exp(-(X @ W + bias)))).astype(np.float64)
    return X.astype(dtype), Y


def _oracle(X, Y, C, **kw):
    return [LogisticRegression(C=C, tol=1e-10, max_iter=10_000, **kw).fit(X, y) for y in Y.T]


@functools.cache
def _problem_and_oracle(C):
    """The shared problem and its scikit-learn fits, computed once per C for all namespaces."""
    X, Y = _correlated_problem(np.random.default_rng(7))
    return X, Y, _oracle(X, Y, C)


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_coefficients_match_sklearn(xp, C):
    X, Y, oracle = _problem_and_oracle(C)
    model = MultilabelLogistic(C=C, tol=1e-8, max_iter=500).fit(xp.asarray(X), xp.asarray(Y))
    assert gm.get_namespace(model.coef_) is gm.get_namespace(xp.asarray(X))
    coef, icpt = gm.to_numpy(model.coef_), gm.to_numpy(model.intercept_)
    for k, ref in enumerate(oracle):
        scale = np.abs(ref.coef_).max()
        assert np.abs(coef[k] - ref.coef_[0]).max() <= 1e-3 * scale
        assert icpt[k] == pytest.approx(ref.intercept_[0], abs=1e-3 * max(1.0, scale))
    P = model.predict_proba(xp.asarray(X))
    assert gm.get_namespace(P) is gm.get_namespace(xp.asarray(X))
    ref_P = np.column_stack([r.predict_proba(X)[:, 1] for r in oracle])
    assert np.abs(gm.to_numpy(P) - ref_P).max() < 1e-4


def test_float32_and_no_intercept_match_sklearn(rng):
    X, Y = _correlated_problem(rng, dtype=np.float32)
    model = MultilabelLogistic(C=0.1, tol=1e-7, fit_intercept=False).fit(X, Y)
    assert model.coef_.dtype == np.float32
    assert np.all(model.intercept_ == 0)
    for k, ref in enumerate(_oracle(X.astype(np.float64), Y, 0.1, fit_intercept=False)):
        scale = np.abs(ref.coef_).max()
        assert np.abs(model.coef_[k] - ref.coef_[0]).max() <= 2e-3 * scale


def test_preconditioning_needs_few_iterations(rng):
    # sklearn's lbfgs on these correlated features needs hundreds of iterations per label
    X, Y = _correlated_problem(rng)
    model = MultilabelLogistic(C=1.0, tol=1e-6).fit(X, Y)
    reference = [r.n_iter_[0] for r in _oracle(X, Y, 1.0)]
    assert model.n_iter_.max() < 60
    assert model.n_iter_.max() < min(reference)


def test_rare_and_empty_labels_get_finite_smoothed_predictions(xp, rng):
    X, Y = _correlated_problem(rng, n=200, k=3)
    n = X.shape[0]
    Y = np.column_stack([Y, np.zeros(n), np.ones(n), np.eye(n)[:, 7]])  # empty, full, one positive
    model = MultilabelLogistic(C=1.0, tol=1e-8).fit(xp.asarray(X), xp.asarray(Y))
    P = gm.to_numpy(model.predict_proba(xp.asarray(X)))
    assert np.isfinite(P).all() and (P > 0).all() and (P < 1).all()
    assert np.allclose(P[:, 3], 0.5 / (n + 1))
    assert np.allclose(P[:, 4], (n + 0.5) / (n + 1))
    assert np.all(gm.to_numpy(model.coef_)[3:5] == 0)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, Y[:, 5])
    assert P[:, 5] == pytest.approx(ref.predict_proba(X)[:, 1], abs=1e-4)
    only_constant = MultilabelLogistic().fit(xp.asarray(X), xp.asarray(Y[:, 3:5]))
    assert np.allclose(gm.to_numpy(only_constant.predict_proba(xp.asarray(X)))[:, 0], 0.5 / (n + 1))


def test_sklearn_conventions_pipeline_and_cross_val_predict(rng):
    X, Y = _correlated_problem(rng, n=300)
    est = MultilabelLogistic(C=0.5)
    assert est.get_params()["C"] == 0.5 and not hasattr(est, "coef_")
    assert clone(est).get_params() == est.get_params()
    pipe = make_pipeline(StandardScaler(), MultilabelLogistic(C=0.5))
    P = cross_val_predict(pipe, X, Y, cv=KFold(3), method="predict_proba")
    assert P.shape == Y.shape and np.isfinite(P).all()
    fitted = est.fit(X, Y)
    assert fitted.predict(X).shape == Y.shape
    assert set(np.unique(fitted.predict(X))) <= {0, 1}
    assert 0 <= fitted.score(X, Y) <= 1


def test_auto_C_picks_from_grid_by_grouped_cv(rng):
    X, Y = _correlated_problem(rng, n=400)
    groups = np.repeat(np.arange(100), 4)
    grid = (0.001, 0.1, 10.0)
    model = MultilabelLogistic(C="auto", C_grid=grid, cv=3).fit(X, Y, groups=groups)
    assert model.C_ in grid
    scores = model.C_scores_
    assert list(scores.index) == sorted(grid) and scores.shape == (3, 4)
    assert model.C_ == scores["mean"].idxmin()


def test_errors_and_convergence_warning(rng):
    X, Y = _correlated_problem(rng, n=100)
    with pytest.raises(ValueError, match="positive number or 'auto'"):
        MultilabelLogistic(C=-1).fit(X, Y)
    with pytest.raises(ValueError, match="only 0 and 1"):
        MultilabelLogistic().fit(X, Y * 2)
    with pytest.raises(ValueError, match="2-D"):
        MultilabelLogistic().fit(X, Y[:, 0])
    with pytest.raises(gm.DataError, match="NaN"):
        MultilabelLogistic().fit(np.where(X > 2, np.nan, X), Y)
    model = MultilabelLogistic().fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict_proba(X[:, :3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MultilabelLogistic(C=10.0, max_iter=1, tol=1e-12).fit(X, Y)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
