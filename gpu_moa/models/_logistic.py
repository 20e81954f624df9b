"""MultilabelLogistic: all MoA labels' L2 logistic regressions fitted jointly on the device."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from gpu_moa import _backend
from gpu_moa._validation import check_no_nan_array
from gpu_moa.models._solver import sigmoid, solve, whiten

#: C values tried by ``C="auto"`` (inner drug-grouped CV), from strong to weak regularisation
DEFAULT_C_GRID = (0.001, 0.003, 0.01, 0.03)


def as_arrays(X: Any, Y: Any = None) -> tuple[Any, Any]:
    """Validate ``X`` (n x p) and optional 0/1 ``Y`` (n x K); put Y in X's namespace and dtype."""
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    if not array_api_compat.is_array_api_obj(X):
        X = np.asarray(X)
    xp = _backend.get_namespace(X)
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}")
    check_no_nan_array(X, "X")
    if Y is None:
        return X, None
    if isinstance(Y, pd.DataFrame):
        Y = Y.to_numpy()
    Y = xp.astype(_backend.to_device(Y, xp), X.dtype)
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
    coef = xp.astype(_backend.to_device(coef, xp), X.dtype)
    return xp.matmul(X, coef.T) + xp.astype(_backend.to_device(intercept, xp), X.dtype)


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
    const_coef = xp.zeros((const.size, p), dtype=X.dtype)
    const_icpt = xp.asarray(np.log(prior / (1 - prior)), dtype=X.dtype, device=dev)

    note = f"{varying.size} of {K} labels fitted, C in {list(Cs)}"
    with _backend.timed_step("multilabel_logistic", xp, note):
        Yv = xp.take(Y, xp.asarray(varying, device=dev), axis=1)
        w, Z = whiten(X, center=fit_intercept)
        r = Z.shape[1]
        pbar = pos[varying] / n
        b0 = np.log(pbar / (1 - pbar)) if fit_intercept else np.zeros_like(pbar)
        x = xp.concat(
            [xp.zeros((r, varying.size), dtype=xp.float64), xp.asarray(b0[None, :], device=dev)]
        )
        T64 = w.V_sqrt_d / w.d
        out = []
        for C in Cs:
            lam = xp.concat([1.0 / (float(C) * n * w.d), xp.zeros(1, dtype=xp.float64)])[:, None]
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


class MultilabelLogistic(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression of every label at once, on the device of ``X``.

    Each label solves scikit-learn's ``LogisticRegression(C=C, solver="lbfgs")`` problem (same
    objective, penalty scale and stopping rule), so the coefficients match it; the labels share
    every matrix product (batched L-BFGS in a whitened basis, see
    :mod:`gpu_moa.models._solver`) and each stops at its own tolerance.

    Parameters
    ----------
    C : float or "auto"
        Inverse regularisation strength as in scikit-learn. ``"auto"`` picks one C for all
        labels from ``C_grid`` by inner cross-validation (drug-grouped when ``fit`` gets
        ``groups``), scored by the mean column-wise log loss.
    fit_intercept : bool
        Fit an unpenalised intercept per label.
    max_iter : int
        Maximum L-BFGS iterations per label.
    tol : float
        Stop a label when the largest absolute gradient component of its (n-averaged) objective
        is at most ``tol`` (scikit-learn's ``tol`` for lbfgs).
    memory : int
        Number of L-BFGS correction pairs per label.
    C_grid : sequence of float, optional
        Candidates for ``C="auto"`` (default :data:`DEFAULT_C_GRID`).
    cv : int
        Inner folds for ``C="auto"``.
    random_state : int
        Seed of the inner folds.

    Attributes
    ----------
    coef_ : array, shape (n_labels, n_features)
    intercept_ : array, shape (n_labels,)
    C_ : float
        The C used (the chosen one for ``"auto"``).
    C_scores_ : pandas.DataFrame or None
        Inner-CV log loss per candidate C and fold (``"auto"`` only).
    n_iter_ : ndarray of int, shape (n_labels,)
    classes_ : ndarray
        ``arange(n_labels)`` (multilabel convention).

    Notes
    -----
    Labels with no positive (or no negative) training row predict the smoothed prior
    ``(positives + 0.5) / (n + 1)``. Probabilities are clipped to ``[eps, 1 - eps]`` of the
    floating dtype, so no label ever predicts exactly 0 or 1.
    """

    def __init__(
        self,
        *,
        C: float | str = 1.0,
        fit_intercept: bool = True,
        max_iter: int = 200,
        tol: float = 1e-4,
        memory: int = 10,
        C_grid: Sequence[float] | None = None,
        cv: int = 3,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.memory = memory
        self.C_grid = C_grid
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def _solver_kw(self) -> dict[str, Any]:
        return {
            "fit_intercept": self.fit_intercept,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "memory": self.memory,
        }

    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> MultilabelLogistic:
        """Fit all labels.

        Parameters
        ----------
        X : array, shape (n, p)
            Features (NumPy, CuPy or any array-API array); the fit runs in its namespace.
        Y : array, shape (n, K)
            0/1 label matrix.
        groups : array-like, shape (n,), optional
            Drug ids, used by ``C="auto"`` to keep drugs whole in the inner folds.

        Returns
        -------
        self
        """
        X, Y = as_arrays(X, Y)
        self.C_scores_ = None
        if self.C == "auto":
            from gpu_moa.models._auto_c import choose_C

            grid = tuple(self.C_grid or DEFAULT_C_GRID)
            self.C_, self.C_scores_ = choose_C(
                X,
                Y,
                grid,
                groups=groups,
                n_splits=self.cv,
                random_state=self.random_state,
                **self._solver_kw(),
            )
        elif isinstance(self.C, str) or not float(self.C) > 0:
            raise ValueError(f"C must be a positive number or 'auto', got {self.C!r}")
        else:
            self.C_ = float(self.C)
        (fit,) = fit_path(X, Y, [self.C_], **self._solver_kw())
        self.coef_, self.intercept_ = fit.coef, fit.intercept
        self.n_iter_, self.converged_ = fit.n_iter, fit.converged
        self.n_features_in_ = int(X.shape[1])
        self.classes_ = np.arange(Y.shape[1])
        if not fit.converged.all():
            warnings.warn(
                f"{int((~fit.converged).sum())} label(s) reached max_iter={self.max_iter} before "
                f"tol={self.tol}; increase max_iter",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def decision_function(self, X: Any) -> Any:
        """Logits ``X @ coef_.T + intercept_``, shape (n, n_labels), in X's namespace."""
        check_is_fitted(self, "coef_")
        X, _ = as_arrays(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model {self.n_features_in_}")
        return logits(X, self.coef_, self.intercept_)

    def predict_proba(self, X: Any) -> Any:
        """Probability of each label, shape (n, n_labels), clipped to [eps, 1 - eps]."""
        return probabilities(self.decision_function(X))

    def predict(self, X: Any) -> Any:
        """0/1 indicator matrix (probability >= 0.5), shape (n, n_labels)."""
        L = self.decision_function(X)
        xp = _backend.get_namespace(L)
        return xp.astype(L >= 0, xp.int64)
