"""Batched L-BFGS for many L2-penalised logistic regressions sharing one design matrix.

Each label k minimises scikit-learn's objective (``LogisticRegression(C=C)``, lbfgs)::

    F_k(w, b) = mean_i [log(1 + exp(x_i w + b)) - y_ik (x_i w + b)] + ||w||^2 / (2 C n)

The problem is solved in the whitened principal-component basis of the centred features,
``w = V D^(-1/2) u``: there ``Z = (X - mu) V D^(-1/2)`` has ``Z^T Z = n I``, the penalty becomes the
diagonal quadratic ``u^T D^-1 u / (2 C n)`` (same optimum; directions with no variance are dropped,
where the optimal ``w`` has no component anyway), and at the start (``u = 0``, intercept at the
label's log-odds) the Hessian is exactly diagonal, ``h_k + 1 / (C n D_j)`` with
``h_k = p_k (1 - p_k)``. That diagonal preconditions every label's L-BFGS recursion.

All labels iterate in lockstep: one product ``Z @ directions`` and one ``Z^T @ residuals`` per
iteration serve every label still active. Logits are linear in the step length, so each label's
backtracking (Armijo) line search needs only elementwise work. Each label stops at its own
tolerance with scikit-learn's rule (max |gradient of F in the original (w, b) space| <= tol, or a
relative decrease of F below 64 eps) and leaves the batch, which shrinks the products.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from gpu_moa import _backend
from gpu_moa._validation import data_error

_FTOL = 64 * float(np.finfo(np.float64).eps)
_C1 = 1e-4  # Armijo constant
_MAX_LS = 25  # backtracking steps before a label gives up (scipy: ABNORMAL_TERMINATION_IN_LNSRCH)
_BLOCK = 4096  # rows per block of the covariance product


@dataclass
class Whitening:
    """The basis ``Z = (X - mean) @ V D^-1/2`` (kept directions only)."""

    mean: Any  # (p,) data dtype
    V_sqrt_d: Any  # (p, r) float64: maps u-space gradients to w-space
    d: Any  # (r,) float64 variances of the kept directions


def whiten(X: Any, *, center: bool = True) -> tuple[Whitening, Any]:
    """Eigen-decompose the (centred) second moment of ``X`` and return the basis and ``Z``.

    The p x p product is accumulated over row blocks whose left factor is a copy (distinct
    buffers: avoids the symmetric rank-k path of OpenBLAS). Directions whose variance is below
    what the data's precision resolves are dropped: the optimum has (almost) no component there,
    since the penalty ``1 / (C n D_j)`` on them dwarfs any data curvature.
    """
    xp = _backend.get_namespace(X)
    n, p = X.shape
    dev = _backend.array_device(X)
    if center:  # accumulated in float64: one large value cannot overflow or swamp the sum
        mean = xp.astype(xp.sum(X, axis=0, dtype=xp.float64) / n, X.dtype)
    else:
        mean = xp.zeros(p, dtype=X.dtype, device=dev)
    S = xp.zeros((p, p), dtype=xp.float64, device=dev)
    for start in range(0, n, _BLOCK):
        blk = X[start : min(start + _BLOCK, n), :] - mean
        S = S + xp.astype(xp.matmul(xp.asarray(blk, copy=True).T, blk), xp.float64)
    d, V = _backend.eigh(S / n)
    eps = float(np.finfo(np.float32 if X.dtype == xp.float32 else np.float64).eps)
    rtol = max((max(n, p) * eps) ** 2, p * float(np.finfo(np.float64).eps))
    keep = xp.nonzero(d > xp.max(d) * rtol)[0]
    d, V = xp.take(d, keep), xp.take(V, keep, axis=1)
    Z = xp.matmul(X - mean, xp.astype(V / xp.sqrt(d), X.dtype))
    return Whitening(mean, V * xp.sqrt(d), d), Z


@dataclass
class SolveResult:
    """Solution in whitened coordinates: rows 0..r-1 are ``u``, row r the intercept."""

    x: Any  # (r + 1, K) float64
    n_iter: np.ndarray  # (K,) iterations used by each label
    converged: np.ndarray  # (K,) bool: stopped by the gradient or decrease test


def _mean_loss(xp: ModuleType, L: Any, Y: Any) -> tuple[Any, Any]:
    """Per-column mean logistic loss (float64) at logits ``L``, and ``exp(-|L|)``."""
    e = xp.exp(-xp.abs(L))
    softplus = xp.maximum(L, xp.zeros_like(L)) + xp.log1p(e)
    return xp.sum(softplus - Y * L, axis=0, dtype=xp.float64) / L.shape[0], e


def sigmoid(xp: ModuleType, L: Any, e: Any = None) -> Any:
    """Overflow-free logistic function (``e = exp(-|L|)`` when already computed)."""
    e = xp.exp(-xp.abs(L)) if e is None else e
    return xp.where(L >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _two_loop(xp: ModuleType, g: Any, hist: list, H0: Any) -> Any:
    """Batched L-BFGS two-loop recursion: returns ``H g`` for every column."""
    q, coefs = g, []
    for s, y, rho in reversed(hist):
        a = rho * xp.sum(s * q, axis=0)
        q = q - a * y
        coefs.append(a)
    r = H0 * q
    for (s, y, rho), a in zip(hist, reversed(coefs), strict=True):
        r = r + s * (a - rho * xp.sum(y * r, axis=0))
    return r


class _Batch:
    """State of the labels still being optimised (columns of every array)."""

    def __init__(
        self, Z: Any, Y: Any, x: Any, lam: Any, w: Whitening, icpt: bool, memory: int
    ) -> None:
        xp = _backend.get_namespace(Z)
        self.xp, self.Z, self.Y, self.x, self.lam, self.w = xp, Z, Y, x, lam, w
        self.memory = memory
        self.icpt = 1.0 if icpt else 0.0
        r = Z.shape[1]
        self.L = xp.matmul(Z, xp.astype(x[:r, :], Z.dtype)) + xp.astype(x[r, :], Z.dtype)
        data, e = _mean_loss(xp, self.L, Y)
        self.f = data + 0.5 * xp.sum(lam * x * x, axis=0)
        P = sigmoid(xp, self.L, e)
        self.g = self._grad(P)
        h = xp.astype(xp.mean(P * (1.0 - P), axis=0), xp.float64)
        self.M = 1.0 / (h + lam)  # exact inverse Hessian diagonal at a constant prediction
        self.gamma = xp.ones_like(h)
        self.hist: list = []
        self.labels = xp.arange(Y.shape[1], device=_backend.array_device(Y))

    def _grad(self, P: Any) -> Any:
        xp, Z, n = self.xp, self.Z, self.Z.shape[0]
        R = P - self.Y
        gu = xp.astype(xp.matmul(Z.T, R), xp.float64) / n
        gb = xp.sum(R, axis=0, dtype=xp.float64)[None, :] * (self.icpt / n)
        return xp.concat([gu, gb], axis=0) + self.lam * self.x

    def pgnorm(self) -> Any:
        """Max |gradient| in the original (w, b) coordinates, as scikit-learn measures it."""
        xp, r = self.xp, self.Z.shape[1]
        gw = xp.matmul(self.w.V_sqrt_d, self.g[:r, :])
        gb = self.g[r : r + 1, :]
        gw = gw + xp.astype(self.w.mean, xp.float64)[:, None] * gb
        return xp.maximum(xp.max(xp.abs(gw), axis=0), xp.abs(gb[0, :]))

    def _line_search(self, d: Any, gd: Any, A: Any) -> tuple[Any, Any, Any, Any]:
        """Per-label backtracking (Armijo) along ``d``; logits move as ``L + alpha * A``.

        Returns (alpha, accepted, new objective, exp(-|new L|) or None when not at hand).
        """
        xp, dtype = self.xp, self.L.dtype
        # penalty along the line: pen_x + alpha * pen1 + alpha^2 / 2 * pen2
        pen_x = 0.5 * xp.sum(self.lam * self.x * self.x, axis=0)
        pen1, pen2 = xp.sum(self.lam * self.x * d, axis=0), xp.sum(self.lam * d * d, axis=0)
        alpha = xp.ones_like(gd)
        done = xp.zeros(gd.shape, dtype=xp.bool, device=_backend.array_device(gd))
        f_new = self.f
        for trial_no in range(_MAX_LS):
            data, e = _mean_loss(xp, self.L + xp.astype(alpha, dtype) * A, self.Y)
            phi = data + pen_x + alpha * pen1 + 0.5 * alpha * alpha * pen2
            ok = (phi <= self.f + _C1 * alpha * gd) & ~done
            f_new = xp.where(ok, phi, f_new)
            done = done | ok
            if bool(xp.all(done)):
                return alpha, done, f_new, e if trial_no == 0 else None
            denom = 2.0 * (phi - self.f - gd * alpha)
            safe = xp.where(denom > 0, denom, xp.ones_like(denom))
            trial = xp.where(denom > 0, -gd * alpha * alpha / safe, 0.5 * alpha)
            alpha = xp.where(done, alpha, xp.clip(trial, 0.1 * alpha, 0.5 * alpha))
        return xp.where(done, alpha, xp.zeros_like(alpha)), done, f_new, None

    def step(self) -> tuple[Any, Any]:
        """One L-BFGS iteration for every column; returns (accepted, relative decrease)."""
        xp, Z, r = self.xp, self.Z, self.Z.shape[1]
        d = -_two_loop(xp, self.g, self.hist, self.gamma * self.M)
        gd = xp.sum(self.g * d, axis=0)
        bad = gd >= 0  # numerical loss of descent: restart from the preconditioned gradient
        d = xp.where(bad, -self.M * self.g, d)
        gd = xp.where(bad, -xp.sum(self.g * self.M * self.g, axis=0), gd)
        A = xp.matmul(Z, xp.astype(d[:r, :], Z.dtype)) + xp.astype(d[r, :], Z.dtype)
        alpha, done, f_new, e = self._line_search(d, gd, A)
        s = alpha * d
        self.x = self.x + s
        self.L = self.L + xp.astype(alpha, Z.dtype) * A
        g_new = self._grad(sigmoid(xp, self.L, e))
        yv = g_new - self.g
        sy, yy = xp.sum(s * yv, axis=0), xp.sum(yv * self.M * yv, axis=0)
        good = sy > 1e-10 * xp.sqrt(xp.sum(s * s, axis=0) * xp.sum(yv * yv, axis=0))
        one = xp.ones_like(sy)
        rho = xp.where(good, 1.0 / xp.where(good, sy, one), xp.zeros_like(sy))
        self.gamma = xp.where(good, sy / xp.where(good, yy, one), self.gamma)
        self.hist = [*self.hist, (s, yv, rho)][-self.memory :]
        decrease = (self.f - f_new) / xp.maximum(xp.maximum(xp.abs(self.f), xp.abs(f_new)), one)
        self.f, self.g = f_new, g_new
        return done, decrease

    def keep(self, cols: Any) -> None:
        """Keep only the given columns (labels) of every array."""
        xp = self.xp

        def t(a: Any) -> Any:
            return xp.take(a, cols, axis=a.ndim - 1)

        self.Y, self.x, self.L, self.f, self.g = map(t, (self.Y, self.x, self.L, self.f, self.g))
        self.M, self.gamma, self.labels = t(self.M), t(self.gamma), t(self.labels)
        self.hist = [(t(s), t(y), t(rho)) for s, y, rho in self.hist]


def _check_finite_loss(xp: ModuleType, batch: _Batch, iteration: int) -> None:
    """Raise a :class:`DataError` when a label's objective or gradient is NaN or infinite."""
    if bool(xp.all(xp.isfinite(batch.f)) & xp.all(xp.isfinite(batch.g))):
        return
    bad = _backend.to_numpy(~xp.isfinite(batch.f) | ~xp.all(xp.isfinite(batch.g), axis=0))
    labels = _backend.to_numpy(batch.labels)[bad]
    raise data_error(
        "logistic fit",
        f"the loss or its gradient became NaN/inf at iteration {iteration} for "
        f"{labels.size} label(s) (first: label column {int(labels[0])})",
        "the features hold values too large for float32 arithmetic: fix or drop the rows "
        "with extreme values, rescale the columns, or use rank_gauss features",
    )


def solve(
    Z: Any,
    Y: Any,
    x0: Any,
    lam: Any,
    whitening: Whitening,
    *,
    fit_intercept: bool,
    tol: float,
    max_iter: int,
    memory: int = 10,
) -> SolveResult:
    """Minimise every column's objective from ``x0`` ((r + 1) x K, float64) in lockstep.

    ``lam`` ((r + 1, 1) float64) holds ``1 / (C n D_j)`` and a trailing 0 for the intercept.
    """
    xp = _backend.get_namespace(Z)
    K = Y.shape[1]
    if K == 0:
        return SolveResult(x0, np.zeros(0, np.int64), np.ones(0, bool))
    batch = _Batch(Z, Y, x0, lam, whitening, fit_intercept, memory)
    _check_finite_loss(xp, batch, 0)
    parts, n_iter, converged = [], np.zeros(K, np.int64), np.zeros(K, bool)
    stop = batch.pgnorm() <= tol
    for it in range(max_iter + 1):
        if it == max_iter:
            stop = xp.ones_like(stop)
        if bool(xp.any(stop)):
            idx = xp.nonzero(stop)[0]
            labels = _backend.to_numpy(xp.take(batch.labels, idx))
            parts.append((labels, xp.take(batch.x, idx, axis=1)))
            n_iter[labels] = it
            converged[labels] = it < max_iter
            rest = xp.nonzero(~stop)[0]
            if rest.shape[0] == 0:
                break
            batch.keep(rest)
        ok, decrease = batch.step()
        _check_finite_loss(xp, batch, it + 1)
        stop = ~ok | (decrease <= _FTOL) | (batch.pgnorm() <= tol)
    order = np.concatenate([lab for lab, _ in parts])
    x = xp.concat([blk for _, blk in parts], axis=1)
    inv = xp.asarray(np.argsort(order).astype(np.int64), device=array_api_compat.device(x))
    return SolveResult(xp.take(x, inv, axis=1), n_iter, converged)
