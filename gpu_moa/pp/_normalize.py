"""Drop controls, z-score, rank-Gauss and normalize-to-controls on Profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import DataError, check_no_nan_array, group_columns
from gpu_moa.pp._rankgauss import rank_gauss_apply, rank_gauss_fit
from gpu_moa.profiles import Profiles

#: consistency constant making the MAD of normal data estimate its standard deviation
MAD_TO_SD = 1.4826


def drop_controls(p: Profiles) -> Profiles:
    """Return the profiles without their control rows (:attr:`Profiles.is_control`).

    Parameters
    ----------
    p : Profiles
        Profiles; without a treatment-type column (``cp_type`` / ``pert_type``) every row is
        treated and all are kept.

    Returns
    -------
    Profiles
        The treated rows only.
    """
    return p[~p.is_control]


def _moments(X: Any, xp: Any) -> tuple[Any, Any]:
    """Column mean and population standard deviation (float64 accumulation)."""
    X64 = xp.astype(X, xp.float64)
    mean = xp.mean(X64, axis=0)
    return mean, xp.sqrt(xp.mean((X64 - mean) ** 2, axis=0))


def _median(X: Any, xp: Any) -> Any:
    """Column medians (the mean of the two middle values for an even count)."""
    n = X.shape[0]
    s = xp.sort(xp.astype(X, xp.float64), axis=0)
    return (s[(n - 1) // 2, :] + s[n // 2, :]) / 2.0


def scale(p: Profiles, *, reference: Profiles | None = None) -> Profiles:
    """Z-score every feature: subtract the mean and divide by the standard deviation (ddof=0).

    Parameters
    ----------
    p : Profiles
        Profiles to transform.
    reference : Profiles, optional
        Profiles whose moments are used (e.g. a training fold); default ``p`` itself.

    Returns
    -------
    Profiles
        Scaled copy. Features with zero variance in the reference are only centred, as in
        scikit-learn's ``StandardScaler``.
    """
    ref = p if reference is None else reference
    xp = p.xp
    check_no_nan_array(ref.X, "scale reference")
    mean, sd = _moments(ref.X, xp)
    sd = xp.where(sd > 0, sd, xp.ones_like(sd))
    X = xp.astype((xp.astype(p.X, xp.float64) - mean) / sd, p.X.dtype)
    return p.replace(X=X)


def rank_gauss(
    p: Profiles, *, reference: Profiles | None = None, n_quantiles: int = 1000
) -> Profiles:
    """Map every feature to normal scores through its quantiles (the "rank-Gauss" transform).

    Parameters
    ----------
    p : Profiles
        Profiles to transform.
    reference : Profiles, optional
        Profiles the quantiles are fitted on (e.g. a training fold); default ``p`` itself.
    n_quantiles : int, default 1000
        Quantile levels, as in scikit-learn's ``QuantileTransformer``.

    Returns
    -------
    Profiles
        Transformed copy, equal to ``QuantileTransformer(output_distribution="normal",
        subsample=None)`` fitted on the reference (see :func:`rank_gauss_fit`).
    """
    ref = p if reference is None else reference
    with _backend.timed_step("pp.rank_gauss", p.xp):
        quantiles = rank_gauss_fit(ref.X, n_quantiles=n_quantiles)
        X = rank_gauss_apply(p.X, quantiles)
    return p.replace(X=X)


def _group_codes(obs: pd.DataFrame, by: str | Sequence[str] | None, where: str) -> np.ndarray:
    if by is None:
        return np.zeros(len(obs), dtype=np.int64)
    cols = group_columns(obs, by, where)
    return obs.groupby(cols, sort=True, observed=True).ngroup().to_numpy()


def reference_groups(
    p: Profiles, method: str, reference: str, by: str | Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Check :func:`normalize`'s options; return (reference-row mask, group code of each row).

    Raises a DataError naming the first group without reference rows.
    """
    if method not in ("zscore", "robust_mad"):
        raise ValueError(f"method must be 'zscore' or 'robust_mad', got {method!r}")
    if reference not in ("controls", "all"):
        raise ValueError(f"reference must be 'controls' or 'all', got {reference!r}")
    is_ref = p.is_control if reference == "controls" else np.ones(p.n_obs, bool)
    if not is_ref.any():
        raise DataError(
            "normalize: the profiles have no control rows (obs needs cp_type or pert_type with "
            "'ctl_' values, see Profiles.is_control). Fix: add the treatment type, or use "
            "reference='all'"
        )
    codes = _group_codes(p.obs, by, "normalize")
    lacking = np.setdiff1d(np.arange(int(codes.max()) + 1), codes[is_ref])
    if lacking.size:
        row = int(np.flatnonzero(codes == lacking[0])[0])
        raise DataError(
            f"normalize: group {by}={p.obs.iloc[row][by]!r} has no {reference} rows to "
            "normalize against. Fix: use reference='all', or group by fewer columns"
        )
    return is_ref, codes


def median_mad(R: Any, xp: Any) -> tuple[Any, Any]:
    """Feature-wise median and scaled MAD (``MAD_TO_SD * median |R - median|``) of rows R."""
    centre = _median(R, xp)
    return centre, MAD_TO_SD * _median(xp.abs(xp.astype(R, xp.float64) - centre), xp)


def normalize_rows(X: Any, codes: np.ndarray, centre: Any, spread: Any, epsilon: float) -> Any:
    """``(X - centre[g]) / (spread[g] + epsilon)`` for the rows of each group g, in X's dtype."""
    xp = _backend.get_namespace(X)
    c, s = _backend.take_rows(centre, codes), _backend.take_rows(spread, codes)
    return xp.astype((xp.astype(X, xp.float64) - c) / (s + epsilon), X.dtype)


def normalize(
    p: Profiles,
    *,
    method: str = "zscore",
    reference: str = "controls",
    by: str | Sequence[str] | None = None,
    epsilon: float = 1e-6,
) -> Profiles:
    """Normalize every feature to a reference population, optionally per group.

    Parameters
    ----------
    p : Profiles
        Profiles to normalize.
    method : {"zscore", "robust_mad"}
        ``(x - mean) / (sd + epsilon)`` or ``(x - median) / (1.4826 * MAD + epsilon)`` where MAD
        is the median absolute deviation from the median; the population sd uses ddof=0.
    reference : {"controls", "all"}
        Rows that define the centre and spread: the controls (:attr:`Profiles.is_control`) or
        all rows.
    by : str or list of str, optional
        obs column(s) defining groups (e.g. ``"cp_time"`` or ``["cp_time", "cp_dose"]``) that
        are normalized separately, each to its own reference rows.
    epsilon : float, default 1e-6
        Added to the spread so that features constant in the reference stay finite.

    Returns
    -------
    Profiles
        Normalized copy (all rows, controls included).

    Raises
    ------
    DataError
        When a group has no reference rows, or a needed obs column is missing.
    """
    is_ref, codes = reference_groups(p, method, reference, by)
    xp = p.xp
    check_no_nan_array(p.X, "normalize input")
    stats = _moments if method == "zscore" else median_mad
    centres, spreads = [], []
    for g in range(int(codes.max()) + 1):
        centre, spread = stats(_backend.take_rows(p.X, np.flatnonzero((codes == g) & is_ref)), xp)
        centres.append(centre)
        spreads.append(spread)
    with _backend.timed_step("pp.normalize", xp, f"{method} to {reference}"):
        X = normalize_rows(p.X, codes, xp.stack(centres), xp.stack(spreads), epsilon)
    return p.replace(X=X)
