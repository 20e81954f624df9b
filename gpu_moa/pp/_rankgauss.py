"""Rank-Gauss: map every feature to normal scores through its empirical quantiles.

Array-level building blocks behind :func:`gpu_moa.pp.rank_gauss`, written once against the array
namespace. They reproduce scikit-learn's ``QuantileTransformer(output_distribution="normal",
subsample=None)``: the fit stores ``n_quantiles`` linearly interpolated percentiles per column; the
transform interpolates each value to its quantile level (averaging the upward and downward
interpolation so that repeated quantiles map to the middle of their run), sends values within 1e-7
of the extreme quantiles to the levels 0 and 1, and applies the inverse normal CDF, clipped to
+/-5.1993 (the normal quantile of 1e-7). Fitting on a training fold and applying the quantiles to a
test fold is the leakage-free way to use it in cross-validation.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gpu_moa import _backend
from gpu_moa._validation import DataError, check_no_nan_array

#: distance to the extreme quantiles below which a value is mapped to level 0 or 1 (scikit-learn)
BOUNDS_THRESHOLD = 1e-7
#: columns per chunk on the CPU: a chunk's float64 temporaries stay near the caches, and the
#: chunks run side by side on the cores (``ordered_map``): the transform of 23,814 x 872 takes
#: 0.8-0.9 s instead of 2.2-3.3 s in 469-column chunks one after the other (2 cores)
CPU_CHUNK_COLS = 32
_EPS64 = 2.220446049250313e-16


def _clip_levels() -> tuple[float, float]:
    lo = BOUNDS_THRESHOLD - _EPS64
    return lo, 1.0 - lo


def _column_chunk(n_rows: int, xp: ModuleType, bytes_per_value: int = 8, copies: int = 4) -> int:
    """Columns per chunk: ``copies`` temporaries of ``bytes_per_value`` within 1/8 of the free
    memory (at most 1 GB); on the CPU at most ``CPU_CHUNK_COLS``."""
    budget = min(_backend.free_memory_bytes(xp) // 8, 1 << 30)
    chunk = max(1, int(budget // max(1, n_rows * bytes_per_value * copies)))
    return min(chunk, CPU_CHUNK_COLS) if _backend.is_numpy_namespace(xp) else chunk


def rank_gauss_fit(X: Any, *, n_quantiles: int = 1000) -> Any:
    """Fit the per-feature quantiles of the rank-Gauss transform.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
        Reference data (e.g. a training fold) in any supported namespace; no NaN/inf.
    n_quantiles : int, default 1000
        Number of quantile levels (``linspace(0, 1, n_quantiles)``), capped at ``n_samples``.

    Returns
    -------
    array, shape (min(n_quantiles, n_samples), n_features)
        float64 quantiles in ``X``'s namespace, the ``quantiles_`` that scikit-learn's
        ``QuantileTransformer(subsample=None)`` would store (linear-interpolated percentiles).

    Raises
    ------
    DataError
        When ``X`` is empty or holds NaN/inf.
    """
    xp = _backend.get_namespace(X)
    if X.ndim != 2 or X.shape[0] < 1:
        raise DataError(
            f"rank_gauss_fit: expected a non-empty 2-D matrix, got shape {tuple(X.shape)}. "
            "Fix: pass the reference profiles (rows) x features"
        )
    if n_quantiles < 1:
        raise ValueError(f"n_quantiles must be >= 1, got {n_quantiles}")
    check_no_nan_array(X, "rank_gauss_fit input")
    n, p = X.shape
    nq = max(1, min(int(n_quantiles), n))
    # positions and weights exactly as numpy.percentile(X, linspace(0, 1, nq) * 100) computes them
    virtual = (n - 1) * (np.linspace(0.0, 1.0, nq) * 100 / 100)
    lo_idx = np.floor(virtual)
    hi_idx = lo_idx + 1
    top = virtual >= n - 1
    lo_idx[top] = hi_idx[top] = n - 1
    gamma = virtual - lo_idx
    upper = _backend.to_device(gamma >= 0.5, X)
    frac = _backend.to_device(gamma, X)
    lo_t, hi_t = (_backend.to_device(i.astype(np.int64), X) for i in (lo_idx, hi_idx))

    def levels(cols: slice) -> Any:
        """The quantiles of the columns ``cols``."""
        ordered = _backend.sort_columns(X[:, cols])
        a = xp.astype(xp.take(ordered, lo_t, axis=0), xp.float64)
        b = xp.astype(xp.take(ordered, hi_t, axis=0), xp.float64)
        diff = b - a
        return xp.where(upper[:, None], b - diff * (1 - frac[:, None]), a + diff * frac[:, None])

    chunk = _column_chunk(n, xp)
    chunks = [slice(start, min(start + chunk, p)) for start in range(0, p, chunk)]
    return xp.concat(list(_backend.ordered_map(levels, chunks, xp)), axis=1)


def rank_gauss_apply(X: Any, quantiles: Any) -> Any:
    """Transform ``X`` to normal scores with quantiles from :func:`rank_gauss_fit`.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
        Data to transform (same features as the fit), no NaN/inf.
    quantiles : array, shape (n_quantiles, n_features)
        Output of :func:`rank_gauss_fit`, in the same namespace as ``X``.

    Returns
    -------
    array, shape (n_samples, n_features)
        Normal scores in ``[-5.1993, 5.1993]``, dtype of ``X`` when floating (else float64),
        equal to ``QuantileTransformer(output_distribution="normal").transform`` up to the
        1e-9 relative error of the inverse-CDF approximation.
    """
    xp = _backend.get_namespace(X, quantiles)
    if X.ndim != 2 or quantiles.ndim != 2 or X.shape[1] != quantiles.shape[1]:
        raise DataError(
            f"rank_gauss_apply: X has shape {tuple(X.shape)} but the quantiles have shape "
            f"{tuple(quantiles.shape)}. Fix: fit the quantiles on data with the same features"
        )
    check_no_nan_array(X, "rank_gauss_apply input")
    out_dtype = X.dtype if xp.isdtype(X.dtype, "real floating") else xp.float64
    nq = quantiles.shape[0]
    u_lo, u_hi = _clip_levels()
    p = X.shape[1]

    def scores(cols: slice) -> Any:
        """The normal scores of the columns ``cols`` (each column is transformed on its own)."""
        x = xp.astype(X[:, cols], xp.float64)
        q = quantiles[:, cols]
        # levels from X's own dtype: the kernel sorts it before widening (same order, faster)
        u = _backend.interp_levels(X[:, cols], q) if nq > 1 else xp.zeros_like(x)
        u = xp.where(x + BOUNDS_THRESHOLD > q[nq - 1, :], 1.0, u)
        u = xp.where(x - BOUNDS_THRESHOLD < q[0, :], 0.0, u)
        return xp.astype(_backend.ndtri(xp.clip(u, u_lo, u_hi)), out_dtype)

    chunk = _column_chunk(X.shape[0], xp, copies=12)
    chunks = [slice(start, min(start + chunk, p)) for start in range(0, p, chunk)]
    return xp.concat(list(_backend.ordered_map(scores, chunks, xp)), axis=1)
