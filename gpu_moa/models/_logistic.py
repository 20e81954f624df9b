"""MultilabelLogistic: all MoA labels' L2 logistic regressions fitted jointly on the device."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from gpu_moa import _backend
from gpu_moa.models._auto_c import choose_C
from gpu_moa.models._path import (
    MultilabelClassifierMixin,
    as_arrays,
    fit_path,
    logits,
    probabilities,
)

#: C values tried by ``C="auto"`` (inner drug-grouped CV), from strong to weak regularisation
DEFAULT_C_GRID = (0.001, 0.003, 0.01, 0.03)


#: a fit whose coefficients move no logit by more than this across the data is intercept-only
_NO_EFFECT = 1e-6


def _warn_if_intercept_only(X: Any, Y: Any, coef: Any) -> None:
    """Warn when varying features left every label with both classes at its intercept (e.g. one
    extreme value swamped the others' scale), or when one column's range dwarfs the others' a
    million-fold."""
    xp = _backend.get_namespace(X)
    spread = xp.astype(xp.max(X, axis=0) - xp.min(X, axis=0), xp.float64)  # (p,), no n x p copy
    spread_h = _backend.to_numpy(spread)
    positives = _backend.to_numpy(xp.sum(Y, axis=0))
    both = (positives > 0) & (positives < Y.shape[0])
    varying = spread_h > 0
    if not varying.any() or not both.any():
        return
    per_label = _backend.to_numpy(xp.max(xp.abs(coef) * xp.astype(spread, coef.dtype), axis=1))
    effect = float(per_label[both].max())
    wide = int(np.argmax(spread_h))
    ratio = spread_h[wide] / float(np.median(spread_h[varying]))
    if effect < _NO_EFFECT or ratio > 1e6:
        what = "intercept-only" if effect < _NO_EFFECT else "dominated by one feature"
        warnings.warn(
            f"the logistic fit is {what}"
            f" (largest logit change across the data {effect:.3g}) although {int(varying.sum())}"
            f" feature column(s) vary; column {wide}'s range {spread_h[wide]:.3g} is {ratio:.3g}"
            " times the median column's: check it for extreme or mis-scaled values, rescale the"
            " features (e.g. rank_gauss) or raise C",
            UserWarning,
            stacklevel=3,
        )


class MultilabelLogistic(MultilabelClassifierMixin):
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
        _warn_if_intercept_only(X, Y, self.coef_)
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
