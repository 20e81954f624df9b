"""Partitioned multilabel logistic regression: loss and gradient summed over row partitions,
L-BFGS on the client.

One pass over the partitions gives the row count, the positives per label and the centred
scatter matrix of the features (merged with Chan's formula). The client whitens with it (the
principal axes scaled to unit variance, as the single-device solver does, so the problem is well
conditioned) and persists the whitened partitions ``Z_i`` next to their labels. Every function
evaluation of scipy's L-BFGS then computes, per partition, the summed logistic loss (with the
single-device solver's numerically stable loss and sigmoid), ``Z_i^T (P_i - Y_i)`` and the column
sums of ``P_i - Y_i``, and adds them up: a partition holding one class only, or no positive of
some label, contributes its terms like any other. Labels constant over all rows predict the
smoothed prior, as in :class:`gpu_moa.models.MultilabelLogistic`.

The fit runs with one BLAS thread in this process: the client's eigh and scipy's L-BFGS-B steps
(level-1 BLAS on a vector of (p + 1) x K parameters) are 5-10x slower with threaded OpenBLAS,
whose NumPy and SciPy pools spin against each other and the workers (2-core machine, small
preset: 12 s -> 2.5 s per fit). In-process CPU workers get one BLAS thread each meanwhile, Dask's
recommended setting; worker processes, remote workers and GPUs are not affected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gpu_moa import _backend
from gpu_moa.dist._array import (
    Moments,
    block_moments,
    merge_moments,
    row_blocks,
    to_dask,
    tree_reduce,
)
from gpu_moa.dist._cluster import compute, import_dask
from gpu_moa.models._logistic import MultilabelLogistic as _SingleDevice
from gpu_moa.models._solver import _mean_loss, sigmoid
from gpu_moa._settings import settings


def _first_pass(x: Any, y: Any) -> tuple[Moments, Any]:
    """Scatter moments of a feature block and its positives per label."""
    xp = _backend.get_namespace(y)
    return block_moments(x, scatter=True), xp.sum(y, axis=0, dtype=xp.float64)


def _merge_first(a: tuple[Moments, Any], b: tuple[Moments, Any]) -> tuple[Moments, Any]:
    return merge_moments(a[0], b[0]), a[1] + b[1]


def _whiten_block(x: Any, mean: Any, T: Any) -> Any:
    xp = _backend.get_namespace(x)
    return xp.matmul(x - xp.astype(_backend.to_device(mean, x), x.dtype), _backend.to_device(T, x))


def _loss_grad(z: Any, y: Any, U: Any, b: Any) -> tuple[Any, Any, Any]:
    """Summed loss (K,), ``z^T (P - y)`` (r x K) and ``sum(P - y)`` (K,) of one partition."""
    xp = _backend.get_namespace(z)
    L = xp.matmul(z, xp.astype(_backend.to_device(U, z), z.dtype)) + xp.astype(
        _backend.to_device(b, z), z.dtype
    )
    mean_loss, e = _mean_loss(xp, L, y)
    R = sigmoid(xp, L, e) - y
    grad_u = xp.astype(xp.matmul(xp.permute_dims(z, (1, 0)), R), xp.float64)
    return mean_loss * z.shape[0], grad_u, xp.sum(R, axis=0, dtype=xp.float64)


def _add(a: tuple, b: tuple) -> tuple:
    return tuple(u + v for u, v in zip(a, b, strict=True))


def _whitening(stats: Moments, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T = V D^-1/2 in ``dtype``, V D^-1/2 in float64, kept variances d) on the host."""
    cov = _backend.to_numpy(stats.M2) / stats.count
    d, V = np.linalg.eigh((cov + cov.T) / 2)
    keep = d > d.max() * max(cov.shape[0] * np.finfo(np.float64).eps, 1e-12)
    d, V = d[keep], V[:, keep]
    T64 = V / np.sqrt(d)
    return T64.astype(dtype), T64, d


@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_logistic(
    X: Any,
    Y: Any,
    *,
    C: float,
    fit_intercept: bool = True,
    tol: float = 1e-4,
    max_iter: int = 200,
    memory: int = 10,
    chunk_rows: int | None = None,
) -> dict[str, Any]:
    """Fit every label's L2 logistic regression (scikit-learn's objective) over partitions.

    Parameters
    ----------
    X : array or dask array, shape (n, p)
    Y : array or dask array, shape (n, K)
        0/1 labels; re-chunked to ``X``'s row partitions.
    C, fit_intercept, tol, max_iter, memory
        As in :class:`gpu_moa.models.MultilabelLogistic` (``tol`` bounds the largest gradient
        component of the preconditioned joint objective).
    chunk_rows : int, optional
        Rows per partition.

    Returns
    -------
    dict
        ``coef`` (K x p), ``intercept`` (K,) in the chunks' namespace and dtype, ``n_iter``,
        ``converged``.
    """
    from scipy.optimize import minimize

    dask = import_dask("dask")
    x = to_dask(X, chunk_rows=chunk_rows)
    y = to_dask(Y, chunk_rows=None).rechunk((x.chunks[0], -1)).astype(x.dtype)
    (xb, _), (yb, _) = row_blocks(x), row_blocks(y)
    first = [dask.delayed(_first_pass)(a, b) for a, b in zip(xb, yb, strict=True)]
    (stats, pos) = compute(tree_reduce(first, _merge_first), desc="logistic: statistics")[0]
    n, p = stats.count, x.shape[1]
    if not fit_intercept:  # uncentred second moment, as the single-device solver uses
        M2 = (
            stats.M2
            + n * _backend.get_namespace(stats.mean).reshape(stats.mean, (-1, 1)) * stats.mean
        )
        stats = Moments(n, stats.mean * 0.0, M2)
    pos = _backend.to_numpy(pos)
    varying = np.flatnonzero((pos > 0) & (pos < n))
    T, T64, d = _whitening(stats, np.dtype(x.dtype))
    mean = _backend.to_numpy(stats.mean)
    z = x.map_blocks(_whiten_block, mean, T, chunks=(x.chunks[0], (T.shape[1],)), meta=x._meta)
    (z, yv) = dask.persist(z, y[:, varying])
    zb, ybv = row_blocks(z)[0], row_blocks(yv)[0]
    r, K = T.shape[1], varying.size
    pbar = pos[varying] / n
    lam = 1.0 / (C * n * d)
    h = pbar * (1 - pbar)
    scale = np.vstack([1 / np.sqrt(h[None, :] + lam[:, None]), 1 / np.sqrt(h)[None, :]])
    if not fit_intercept:
        scale[r] = 0.0
    b0 = np.log(pbar / (1 - pbar)) if fit_intercept else np.zeros(K)

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray]:
        theta = scale * phi.reshape(r + 1, K)
        U, b = theta[:r], theta[r] + b0
        parts = [dask.delayed(_loss_grad)(zi, yi, U, b) for zi, yi in zip(zb, ybv, strict=True)]
        with settings.override(progress=False):
            (total,) = compute(tree_reduce(parts, _add))
        loss, gu, gb = map(_backend.to_numpy, total)
        f = loss.sum() / n + 0.5 * np.sum(lam[:, None] * U * U)
        grad = np.vstack([gu / n + lam[:, None] * U, gb[None, :] / n])
        return f, (scale * grad).ravel()

    # float32 logits (as on one device) make the loss noisy near 1e-7: few line-search steps
    options = {
        "maxiter": max_iter,
        "gtol": tol,
        "ftol": 64 * np.finfo(float).eps,
        "maxcor": memory,
        "maxls": 8,
    }
    if K:
        res = minimize(
            objective, np.zeros((r + 1) * K), jac=True, method="L-BFGS-B", options=options
        )
        phi, nit, success = res.x, res.nit, bool(res.success)
    else:  # every label constant: nothing to optimise
        phi, nit, success = np.zeros(0), 0, True
    theta = scale * phi.reshape(r + 1, K)
    coef_v = T64 @ theta[:r]  # (p, K)
    icpt_v = theta[r] + b0 - mean @ coef_v
    prior = (pos + 0.5) / (n + 1)  # constant labels: MultilabelLogistic's smoothed prior
    coef, icpt = np.zeros((pos.size, p)), np.log(prior / (1 - prior))
    coef[varying], icpt[varying] = coef_v.T, icpt_v
    xp = _backend.get_namespace(x._meta)
    return {
        "coef": xp.astype(_backend.to_device(coef, x), x.dtype),
        "intercept": xp.astype(_backend.to_device(icpt, x), x.dtype),
        "n_iter": np.where(np.isin(np.arange(pos.size), varying), nit, 0),
        "converged": np.full(pos.size, success),
    }


class MultilabelLogistic(_SingleDevice):
    """:class:`gpu_moa.models.MultilabelLogistic` that fits from dask (or in-memory) arrays.

    The same estimator (same objective, prediction and fitted attributes); ``fit`` runs
    :func:`fit_logistic` over row partitions on the active Dask client. ``C`` must be a number
    (choose it on a sample with the single-device ``C="auto"``).

    Parameters
    ----------
    C, fit_intercept, max_iter, tol, memory
        As in :class:`gpu_moa.models.MultilabelLogistic`.
    chunk_rows : int, optional
        Rows per partition.
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        max_iter: int = 200,
        tol: float = 1e-4,
        memory: int = 10,
        chunk_rows: int | None = None,
    ) -> None:
        super().__init__(
            C=C, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, memory=memory
        )
        self.chunk_rows = chunk_rows

    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> MultilabelLogistic:
        """Fit all labels from partitioned ``X`` (n x p) and 0/1 ``Y`` (n x K); returns self."""
        if isinstance(self.C, str) or not float(self.C) > 0:
            raise ValueError(
                f"C must be a positive number for the partitioned fit, got {self.C!r}; choose it "
                "with gm.models.MultilabelLogistic(C='auto') on a sample"
            )
        fit = fit_logistic(
            X,
            Y,
            C=float(self.C),
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            memory=self.memory,
            chunk_rows=self.chunk_rows,
        )
        self.C_, self.C_scores_ = float(self.C), None
        self.coef_, self.intercept_ = fit["coef"], fit["intercept"]
        self.n_iter_, self.converged_ = fit["n_iter"], fit["converged"]
        self.n_features_in_ = int(X.shape[1])
        self.classes_ = np.arange(int(Y.shape[1]))
        return self
