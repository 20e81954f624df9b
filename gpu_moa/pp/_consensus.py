"""Consensus signatures: one profile per drug (or drug/dose/time) from its replicates.

Groups are processed in buckets of equal size, so every method is a reduction over the replicate
axis of a (groups x replicates x features) array in the device namespace, with no Python loop over
groups. MODZ is the CMap level-5 method: replicate weights are each replicate's mean Spearman
correlation with the other replicates of its group, clipped at 0.01 and normalized to sum 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import DataError, check_no_nan_array, group_columns
from gpu_moa.pp._rank import rank_rows
from gpu_moa.profiles import Profiles

#: smallest MODZ replicate weight before normalization (CMap's choice)
MODZ_MIN_WEIGHT = 0.01


def _modz(T: Any, xp: Any) -> Any:
    """MODZ consensus of a (groups x replicates x features) float64 array."""
    g, s, f = T.shape
    R = xp.reshape(rank_rows(xp.reshape(T, (g * s, f))), (g, s, f))
    R = R - xp.mean(R, axis=2, keepdims=True)
    norm = xp.sqrt(xp.sum(R * R, axis=2, keepdims=True))
    Z = R / xp.where(norm > 0, norm, xp.ones_like(norm))  # constant replicate -> correlation 0
    Zt = xp.permute_dims(xp.asarray(Z, copy=True), (0, 2, 1))  # distinct buffer for the product
    C = xp.matmul(Z, Zt)
    mean_corr = (xp.sum(C, axis=2) - xp.sum(Z * Z, axis=2)) / (s - 1)
    w = xp.clip(mean_corr, MODZ_MIN_WEIGHT, None)
    w = w / xp.sum(w, axis=1, keepdims=True)
    return xp.sum(w[:, :, None] * T, axis=1)


def _reduce(T: Any, method: str, xp: Any) -> Any:
    s = T.shape[1]
    if s == 1:
        return T[:, 0, :]
    if method == "mean":
        return xp.mean(T, axis=1)
    if method == "median":
        S = xp.sort(T, axis=1)
        return (S[:, (s - 1) // 2, :] + S[:, s // 2, :]) / 2.0
    return _modz(T, xp)


def _bucketed(X: Any, order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, fn: Any) -> Any:
    """Apply ``fn`` to (groups x size x p) buckets of equal-size groups; rows in group order."""
    xp = _backend.get_namespace(X)
    p = X.shape[1]
    budget = max(1 << 24, min(_backend.free_memory_bytes(xp) // 8, 1 << 30))
    pieces, group_ids = [], []
    for size in np.unique(sizes):
        groups = np.flatnonzero(sizes == size)
        step = max(1, int(budget // (int(size) * p * 8 * 6)))
        for lo in range(0, groups.size, step):
            gs = groups[lo : lo + step]
            rows = order[starts[gs][:, None] + np.arange(size)[None, :]].reshape(-1)
            T = xp.reshape(
                xp.astype(_backend.take_rows(X, rows), xp.float64), (gs.size, int(size), p)
            )
            pieces.append(fn(T))
            group_ids.append(gs)
    back = np.argsort(np.concatenate(group_ids), kind="stable")
    return _backend.take_rows(xp.concat(pieces, axis=0), back)


def _consensus_obs(obs: pd.DataFrame, cols: list[str], codes: np.ndarray) -> pd.DataFrame:
    grouped = obs.groupby(codes, sort=True)
    first = grouped.first()
    keep = list(cols)
    for c in obs.columns:
        if c not in cols and bool((grouped[c].nunique(dropna=False) <= 1).all()):
            keep.append(c)
    out = first[keep].copy()
    out["n_replicates"] = grouped.size().to_numpy()
    keys = out[cols].astype(str)
    ids = keys.iloc[:, 0] if len(cols) == 1 else keys.agg("|".join, axis=1)
    out.index = pd.Index(ids.to_numpy(), name="sig_id")
    return out


def consensus(
    p: Profiles, *, by: str | Sequence[str] = "drug_id", method: str = "mean"
) -> Profiles:
    """Collapse replicate profiles into one consensus signature per group.

    Parameters
    ----------
    p : Profiles
        Replicate-level profiles (e.g. after :func:`gpu_moa.pp.drop_controls`).
    by : str or list of str, default "drug_id"
        obs column(s) defining a group, e.g. ``["drug_id", "cp_dose", "cp_time"]``.
    method : {"mean", "median", "modz"}
        Feature-wise mean or median of the replicates, or MODZ: the weighted mean with weights
        = each replicate's mean Spearman correlation (over all features) with the other
        replicates of its group, clipped at 0.01 and normalized to sum 1. A replicate with
        constant values has correlation 0 with the others.

    Returns
    -------
    Profiles
        One row per group, sorted by the group key; index ``sig_id`` = the key (values joined
        with ``"|"`` for several columns); obs holds the ``by`` columns, ``n_replicates`` and
        every other obs column that is constant within all groups. Labels (``Y``, ``Y_extra``)
        are the union (maximum) over the group's rows. Groups of one row keep that row.

    Raises
    ------
    DataError
        When a ``by`` column is missing or has missing values, or ``X`` holds NaN/inf.
    """
    if method not in ("mean", "median", "modz"):
        raise ValueError(f"method must be 'mean', 'median' or 'modz', got {method!r}")
    cols = group_columns(p.obs, by, "consensus")
    unknown = p.obs[cols].isna().any(axis=1).to_numpy()
    if unknown.any():
        raise DataError(
            f"consensus: {int(unknown.sum())} row(s) have no value in {cols} (first: "
            f"{p.obs.index[unknown][0]!r}). Fix: fill the group ids (e.g. drug_id from "
            "train_drug.csv) or drop those rows first"
        )
    check_no_nan_array(p.X, "consensus input")
    xp = p.xp
    codes = p.obs.groupby(cols, sort=True, observed=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def labels(Y: Any) -> Any:
        return (
            None if Y is None else _bucketed(Y, order, starts, sizes, lambda T: xp.max(T, axis=1))
        )

    with _backend.timed_step("pp.consensus", xp, method):
        X = _bucketed(p.X, order, starts, sizes, lambda T: _reduce(T, method, xp))
        X = xp.astype(X, p.X.dtype)
        Y, Y_extra = labels(p.Y), labels(p.Y_extra)
    uns = dict(p.uns, consensus={"by": cols, "method": method})
    return Profiles(
        X=X,
        obs=_consensus_obs(p.obs, cols, codes),
        var=p.var,
        Y=None if Y is None else xp.astype(Y, p.Y.dtype),
        Y_extra=None if Y_extra is None else xp.astype(Y_extra, p.Y_extra.dtype),
        label_names=list(p.label_names),
        extra_label_names=list(p.extra_label_names),
        uns=uns,
    )
