"""The fitting core of the multilabel logistic model: validated arrays, logits, and a C path.

:func:`fit_path` fits every label for each C of a grid (warm-started, one whitening); both
:class:`~gpu_moa.models.MultilabelLogistic` and ``C="auto"`` (:mod:`gpu_moa.models._auto_c`)
build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from gpu_moa import _backend
from gpu_moa._validation import check_magnitude_array, check_no_nan_array
from gpu_moa.models._solver import sigmoid, solve, whiten


def as_arrays(X: Any, Y: Any = None) -> tuple[Any, Any]:
    """Validate ``X`` (n x p) and optional 0/1 ``Y`` (n x K); put Y in X's namespace and dtype."""
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    if not _backend.is_array(X):
        X = np.asarray(X)
    xp = _backend.get_namespace(X)
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}")
    check_no_nan_array(X, "X")
    check_magnitude_array(X, "X")
    if Y is None:
        return X, None
    if isinstance(Y, pd.DataFrame):
        Y = Y.to_numpy()
    Y = xp.astype(_backend.to_device(Y, X), X.dtype)
    if Y.ndim != 2:
        raise ValueError(
            f"Y must be a 2-D 0/1 label matrix (n_samples, n_labels), got shape {tuple(Y.shape)}"
        )
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    if not bool(xp.all((Y == 0) | (Y == 1))):
        raise ValueError("Y must contain only 0 and 1 (a multilabel indicator matrix)")
    return X, Y


def logits(X: Any, coef: Any, intercept: Any) -> Any:
    """``X @ coef.T + intercept`` in X's namespace and dtype (parameters moved there)."""
    xp = _backend.get_namespace(X)
    coef = xp.astype(_backend.to_device(coef, X), X.dtype)
    return xp.matmul(X, coef.T) + xp.astype(_backend.to_device(intercept, X), X.dtype)


def probabilities(L: Any) -> Any:
    """Sigmoid of logits, clipped to [eps, 1 - eps] of the dtype (never exactly 0 or 1)."""
    xp = _backend.get_namespace(L)
    eps = float(xp.finfo(L.dtype).eps)
    return xp.clip(sigmoid(xp, L), eps, 1.0 - eps)


@dataclass
class PathFit:
    """One point of a regularisation path: parameters in the original feature space."""

    C: float
    coef: Any  # (K, p) in X's namespace and dtype
    intercept: Any  # (K,)
    n_iter: np.ndarray  # (K,)
    converged: np.ndarray  # (K,)


def fit_path(
    X: Any,
    Y: Any,
    Cs: Sequence[float],
    *,
    fit_intercept: bool = True,
    tol: float = 1e-4,
    max_iter: int = 200,
    memory: int = 10,
) -> list[PathFit]:
    """Fit every label for each C in ``Cs`` (warm-started along the path, one whitening).

    Labels without any positive (or without any negative) row are not optimised: they predict
    the smoothed prior ``(positives + 0.5) / (n + 1)``, never exactly 0 or 1.
    """
    xp = _backend.get_namespace(X)
    n, p = X.shape
    K = Y.shape[1]
    pos = _backend.to_numpy(xp.sum(Y, axis=0, dtype=xp.float64))
    varying = np.flatnonzero((pos > 0) & (pos < n))
    const = np.flatnonzero((pos == 0) | (pos == n))
    prior = (pos[const] + 0.5) / (n + 1)
    dev = array_api_compat.device(X)
    inv = xp.asarray(np.argsort(np.concatenate([varying, const])), device=dev)
    const_coef = xp.zeros((const.size, p), dtype=X.dtype, device=dev)
    const_icpt = xp.asarray(np.log(prior / (1 - prior)), dtype=X.dtype, device=dev)

    note = f"{varying.size} of {K} labels fitted, C in {list(Cs)}"
    with _backend.timed_step("multilabel_logistic", xp, note):
        Yv = xp.take(Y, xp.asarray(varying, device=dev), axis=1)
        w, Z = whiten(X, center=fit_intercept)
        r = Z.shape[1]
        pbar = pos[varying] / n
        b0 = np.log(pbar / (1 - pbar)) if fit_intercept else np.zeros_like(pbar)
        x = xp.concat(
            [
                xp.zeros((r, varying.size), dtype=xp.float64, device=dev),
                xp.asarray(b0[None, :], device=dev),
            ]
        )
        T64 = w.V_sqrt_d / w.d
        out = []
        for C in Cs:
            lam = xp.concat([1.0 / (float(C) * n * w.d), xp.zeros(1, dtype=xp.float64, device=dev)])
            lam = lam[:, None]
            res = solve(
                Z,
                Yv,
                x,
                lam,
                w,
                fit_intercept=fit_intercept,
                tol=tol,
                max_iter=max_iter,
                memory=memory,
            )
            x = res.x
            coef = xp.matmul(T64, x[:r, :])  # (p, Kv)
            icpt = x[r, :] - xp.matmul(xp.astype(w.mean, xp.float64), coef)
            coef = xp.concat([xp.astype(coef.T, X.dtype), const_coef])
            icpt = xp.concat([xp.astype(icpt, X.dtype), const_icpt])
            n_iter, converged = np.zeros(K, np.int64), np.ones(K, bool)
            n_iter[varying], converged[varying] = res.n_iter, res.converged
            out.append(
                PathFit(float(C), xp.take(coef, inv, axis=0), xp.take(icpt, inv), n_iter, converged)
            )
        return out


class MultilabelClassifierMixin(ClassifierMixin, BaseEstimator):
    """Base of the multilabel estimators: scikit-learn's tags for one 0/1 column per label."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags
