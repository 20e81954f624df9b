"""Feature selection with pycytominer's operations, semantics and defaults, on the device.

Operations run in the order given, each on the features the earlier ones kept; a feature is
dropped when any operation excludes it:

``"variance"``     variance (ddof=0, NaN ignored) at most ``min_variance`` (pycytominer's
                   ``variance_threshold``).
``"frequency"``    second most common value's count / most common value's count below
                   ``freq_cut``, or distinct values / rows below ``unique_cut``
                   (``frequency_threshold``).
``"correlation"``  for every pair of features whose correlation exceeds ``corr_threshold``, the
                   one with the larger sum of absolute correlations to all features is dropped
                   (``correlation_threshold``; one pass, not iterative).
``"drop_na"``      share of NaN above ``na_cutoff`` (``drop_na_columns``).
``"blocklist"``    the named features (``blocklist``: names or a file with one per line; no
                   list is bundled, so without one nothing is dropped).
``"drop_outliers"`` a maximum or minimum beyond +/- ``outlier_cutoff``.

pycytominer's own operation names (``variance_threshold``, ``correlation_threshold``, ...) are
accepted too. Statistics are computed on ``samples`` rows (all, the controls, or an obs query).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.pp._rank import rank_rows
from gpu_moa.profiles import Profiles

OPERATIONS = ("variance", "frequency", "correlation", "drop_na", "blocklist", "drop_outliers")
_ALIASES = {
    "variance_threshold": "variance",
    "frequency_threshold": "frequency",
    "correlation_threshold": "correlation",
    "drop_na_columns": "drop_na",
}


def sample_rows(p: Profiles, samples: Any, where: str) -> np.ndarray:
    """Row positions for ``samples``: "all", "controls", a boolean mask or an obs query string."""
    if isinstance(samples, str) and samples == "all":
        return np.arange(p.n_obs)
    if isinstance(samples, str) and samples == "controls":
        rows = np.flatnonzero(p.is_control)
    elif isinstance(samples, str):
        rows = np.flatnonzero(p.obs.eval(samples).to_numpy(dtype=bool))
    else:
        rows = np.flatnonzero(np.asarray(samples, dtype=bool))
    if rows.size == 0:
        raise data_error(where, f"no rows selected by samples={samples!r}", "select some rows")
    return rows


def _nan_moments(X: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Per column: non-NaN count, mean and variance (ddof=0)."""
    nan = xp.isnan(X)
    count = xp.sum(xp.astype(~nan, xp.float64), axis=0)
    mean = xp.sum(xp.where(nan, 0.0, X), axis=0) / xp.where(count > 0, count, 1.0)
    var = xp.sum(xp.where(nan, 0.0, (X - mean) ** 2), axis=0) / xp.where(count > 0, count, 1.0)
    return count, mean, var


def _frequency(X: Any, xp: Any, freq_cut: float, unique_cut: float) -> Any:
    """Columns whose value frequencies are too skewed or too few (NaN ignored)."""
    n = X.shape[0]
    S = xp.sort(X, axis=0)  # NaN sort last
    known = ~xp.isnan(S)
    m = xp.sum(xp.astype(known, xp.int64), axis=0)
    pos = xp.arange(n, dtype=xp.int64, device=array_api_compat.device(X))[:, None]
    first = xp.concat(
        [
            xp.ones((1, X.shape[1]), dtype=xp.bool, device=array_api_compat.device(X)),
            S[1:, :] != S[:-1, :],
        ]
    )
    starts = xp.where(first & known, pos, m[None, :])
    starts = xp.sort(xp.concat([starts, m[None, :]]), axis=0)
    lengths = xp.sort(starts[1:, :] - starts[:-1, :], axis=0, descending=True)
    n_unique = xp.sum(xp.astype(first & known, xp.float64), axis=0)
    top, second = xp.astype(lengths[0, :], xp.float64), xp.astype(lengths[1, :], xp.float64)
    ratio = xp.where(n_unique >= 2, second / xp.where(top > 0, top, 1.0), 0.0)
    return (ratio < freq_cut) | (n_unique / n < unique_cut)


def _correlated(X: Any, xp: Any, threshold: float, method: str) -> Any:
    """Columns dropped by pycytominer's one-pass correlation rule."""
    if bool(xp.any(xp.isnan(X))):
        raise data_error(
            "feature_select", "'correlation' needs features without NaN", "run 'drop_na' first"
        )
    Z = xp.permute_dims(X, (1, 0))
    Z = rank_rows(Z) if method == "spearman" else Z
    Z = Z - xp.mean(Z, axis=1, keepdims=True)
    norm = xp.sqrt(xp.sum(Z * Z, axis=1, keepdims=True))
    Z = Z / xp.where(norm > 0, norm, 1.0)
    C = xp.matmul(Z, xp.permute_dims(Z, (1, 0)))  # features x features
    order = xp.argsort(xp.sum(xp.abs(C), axis=0), stable=True)
    rank = xp.argsort(order, stable=True)  # position of each feature by total |correlation|
    k = C.shape[0]
    idx = xp.arange(k, device=array_api_compat.device(X))
    high = (C > threshold) & (idx[:, None] != idx[None, :])
    return xp.any(high & (rank[:, None] > rank[None, :]), axis=1)


def _blocklist(names: Sequence[str], blocklist: Any) -> np.ndarray:
    if blocklist is None:
        return np.zeros(len(names), dtype=bool)
    if isinstance(blocklist, str | Path):
        lines = Path(blocklist).read_text(encoding="utf-8").splitlines()
        blocklist = [s.strip() for s in lines if s.strip() and s.strip() != "blocklist"]
    return np.isin(np.asarray(names, dtype=object), list(blocklist))


def feature_select(
    p: Profiles,
    *,
    operations: str | Sequence[str] = ("variance", "correlation", "drop_na", "blocklist"),
    samples: Any = "all",
    min_variance: float = 1e-6,
    freq_cut: float = 0.05,
    unique_cut: float = 0.01,
    corr_threshold: float = 0.9,
    corr_method: str = "pearson",
    na_cutoff: float = 0.05,
    blocklist: Sequence[str] | str | Path | None = None,
    outlier_cutoff: float = 500.0,
) -> Profiles:
    """Drop uninformative features the way pycytominer's ``feature_select`` does.

    Parameters
    ----------
    p : Profiles
        Profiles (NaN allowed; ``"correlation"`` needs none left when it runs).
    operations : str or sequence of str
        Operations in order (see the module text); pycytominer's names are accepted.
    samples : "all", "controls", boolean mask or str, default "all"
        Rows the statistics are computed on; a string other than "all"/"controls" is an obs
        query (``pandas.DataFrame.eval``), as pycytominer's ``samples``.
    min_variance, freq_cut, unique_cut, corr_threshold, na_cutoff, outlier_cutoff : float
        pycytominer's thresholds, with its defaults.
    corr_method : {"pearson", "spearman"}, default "pearson"
        Correlation of the ``"correlation"`` operation.
    blocklist : sequence of str or path, optional
        Feature names (or a file of names, one per line) the ``"blocklist"`` operation drops.

    Returns
    -------
    Profiles
        The kept features in their order; ``uns["feature_select"]`` maps each operation to the
        features it excluded.

    Raises
    ------
    DataError
        For an unknown operation or correlation method, or ``samples`` selecting no row.
    """
    ops = [operations] if isinstance(operations, str) else list(operations)
    ops = [_ALIASES.get(op, op) for op in ops]
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown or corr_method not in ("pearson", "spearman"):
        raise data_error(
            "feature_select",
            f"unknown operation(s) {unknown} or corr_method {corr_method!r}",
            f"choose operations among {OPERATIONS} and corr_method 'pearson' or 'spearman'",
        )
    xp = p.xp
    X = xp.astype(_backend.take_rows(p.X, sample_rows(p, samples, "feature_select")), xp.float64)
    names = np.asarray(p.var_names, dtype=object)
    kept = np.ones(len(names), dtype=bool)
    excluded: dict[str, list[str]] = {}
    opts = {
        "min_variance": min_variance,
        "freq_cut": freq_cut,
        "unique_cut": unique_cut,
        "corr_threshold": corr_threshold,
        "corr_method": corr_method,
        "na_cutoff": na_cutoff,
        "outlier_cutoff": outlier_cutoff,
    }
    for op in ops:
        cols = np.flatnonzero(kept)
        sub = _backend.take_cols(X, cols)
        if op == "blocklist":
            drop = _blocklist(names[cols].tolist(), blocklist)
        else:
            drop = _backend.to_numpy(_operation(op, sub, xp, opts))
        kept[cols[drop]] = False
        excluded[op] = names[cols[drop]].tolist()
    out = p.select_vars(kept)
    return out.replace(uns={**out.uns, "feature_select": excluded})


def _operation(op: str, X: Any, xp: Any, opts: dict[str, Any]) -> Any:
    """Boolean device mask of the columns of ``X`` that operation ``op`` excludes."""
    if op == "variance":
        return _nan_moments(X, xp)[2] <= opts["min_variance"]
    if op == "frequency":
        return _frequency(X, xp, opts["freq_cut"], opts["unique_cut"])
    if op == "correlation":
        return _correlated(X, xp, opts["corr_threshold"], opts["corr_method"])
    if op == "drop_na":
        return xp.mean(xp.astype(xp.isnan(X), xp.float64), axis=0) > opts["na_cutoff"]
    big = xp.where(xp.isnan(X), 0.0, xp.abs(X))  # drop_outliers
    return xp.max(big, axis=0) > opts["outlier_cutoff"]
