"""The competition metric (mean column-wise binary log loss) and per-label ROC AUC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa.pp._rank import rank_rows

#: predictions are clipped to [EPS, 1 - EPS] before taking logs, as in the competition
EPS = 1e-15


def _as_pair(Y: Any, P: Any) -> tuple[Any, Any, Any]:
    """Put labels and predictions in P's namespace as float64 (n, K) arrays."""
    if isinstance(P, pd.DataFrame | pd.Series):
        P = P.to_numpy()
    if isinstance(Y, pd.DataFrame | pd.Series):
        Y = Y.to_numpy()
    if not _backend.is_array(P):
        P = np.asarray(P)
    xp = _backend.get_namespace(P)
    Y = _backend.to_device(Y, P)
    P = xp.astype(P, xp.float64)
    Y = xp.astype(Y, xp.float64)
    if P.ndim == 1:
        P, Y = P[:, None], Y[:, None]
    if Y.shape != P.shape:
        raise ValueError(f"labels have shape {tuple(Y.shape)} but predictions {tuple(P.shape)}")
    return xp, Y, P


def per_label_log_loss(Y: Any, P: Any) -> Any:
    """Binary log loss of each label column (natural log, predictions clipped to [1e-15, 1-1e-15]).

    Parameters
    ----------
    Y : array, shape (n, K)
        0/1 labels (NumPy, CuPy or any array-API array, or a DataFrame).
    P : array, shape (n, K)
        Predicted probabilities; the computation runs in P's namespace, in float64.

    Returns
    -------
    array, shape (K,)
        Mean loss of each column, in P's namespace.
    """
    xp, Y, P = _as_pair(Y, P)
    P = xp.clip(P, EPS, 1.0 - EPS)
    loss = -(Y * xp.log(P) + (1.0 - Y) * xp.log1p(-P))
    return xp.mean(loss, axis=0)


def multilabel_log_loss(Y: Any, P: Any) -> float:
    """The lish-moa competition metric: mean over label columns of the binary log loss.

    Natural log; predictions are clipped to [1e-15, 1 - 1e-15]. Equals the average over columns
    of ``sklearn.metrics.log_loss(Y[:, k], P[:, k], labels=[0, 1])``.

    Parameters
    ----------
    Y : array, shape (n, K)
        0/1 labels.
    P : array, shape (n, K)
        Predicted probabilities (computed in P's namespace, float64).

    Returns
    -------
    float
    """
    per_label = per_label_log_loss(Y, P)
    return float(_backend.get_namespace(per_label).mean(per_label))


def per_label_auc(Y: Any, P: Any, *, labels: Sequence[str] | None = None) -> pd.Series:
    """ROC AUC of each label column (Mann-Whitney statistic with tie-averaged ranks).

    Parameters
    ----------
    Y : array or DataFrame, shape (n, K)
        0/1 labels.
    P : array or DataFrame, shape (n, K)
        Scores (probabilities or logits).
    labels : sequence of str, optional
        Names for the columns (default: the DataFrame's columns, else 0..K-1).

    Returns
    -------
    pandas.Series
        AUC per label, NaN where a column has only one class. Ranks and sums are computed in
        ``P``'s namespace; only the K AUCs come to the host.
    """
    if labels is None:
        labels = (
            list(P.columns)
            if isinstance(P, pd.DataFrame)
            else list(Y.columns)
            if isinstance(Y, pd.DataFrame)
            else None
        )
    xp, y, s = _as_pair(Y, P)
    ranks = xp.permute_dims(rank_rows(xp.permute_dims(s, (1, 0))), (1, 0))  # ranks on the device
    n_pos = xp.sum(y, axis=0)
    n_neg = y.shape[0] - n_pos
    u = xp.sum(ranks * y, axis=0) - n_pos * (n_pos + 1) / 2
    both = (n_pos > 0) & (n_neg > 0)
    auc = _backend.to_numpy(xp.where(both, u / xp.where(both, n_pos * n_neg, 1.0), xp.nan))
    return pd.Series(auc, index=labels, name="auc")
