"""Exploratory statistics of labels and features: frequencies, variances, controls vs treatments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.eda._groups import group_sums, groups_of
from gpu_moa.eda._names import display_names
from gpu_moa.profiles import Profiles

_KINDS = ("gene", "cell", "all")


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")


def _kind_mask(p: Profiles, kind: str) -> np.ndarray:
    _check_kind(kind)
    if kind == "all":
        return np.ones(p.n_vars, dtype=bool)
    return p.var["kind"].to_numpy() == kind


def label_frequencies(p: Profiles, *, which: str = "scored") -> pd.DataFrame:
    """Positive rows per MoA label, most frequent first (the first figure of the original analysis).

    Parameters
    ----------
    p : Profiles
        Labelled signatures (``Y`` and, for "nonscored"/"all", ``Y_extra``).
    which : {"scored", "nonscored", "all"}
        Which label set to count.

    Returns
    -------
    pandas.DataFrame
        Index ``label``; columns ``positives`` (rows with the label), ``fraction`` (of all rows),
        ``set`` ("scored"/"nonscored") and ``empty`` (True for labels without a single sample).
    """
    sets = {"scored": ("Y",), "nonscored": ("Y_extra",), "all": ("Y", "Y_extra")}
    if which not in sets:
        raise ValueError(f"which must be one of {tuple(sets)}, got {which!r}")
    parts = []
    for field in sets[which]:
        Y = getattr(p, field)
        names = p.label_names if field == "Y" else p.extra_label_names
        if Y is None:
            raise data_error(
                f"Profiles.{field}",
                "no labels loaded",
                "load the targets files (train_targets_*.csv) with the features",
            )
        xp = _backend.get_namespace(Y)
        positives = _backend.to_numpy(xp.sum(xp.astype(Y > 0.5, xp.int64), axis=0))
        parts.append(
            pd.DataFrame(
                {
                    "positives": positives,
                    "fraction": positives / p.n_obs,
                    "set": "scored" if field == "Y" else "nonscored",
                },
                index=pd.Index(names, name="label"),
            )
        )
    out = pd.concat(parts)
    out["empty"] = out["positives"] == 0
    return out.sort_values("positives", ascending=False, kind="stable")


def feature_variance(p: Profiles, *, kind: str = "all") -> pd.DataFrame:
    """Variance of every feature across signatures, largest first.

    Parameters
    ----------
    p : Profiles
    kind : {"gene", "cell", "all"}

    Returns
    -------
    pandas.DataFrame
        Index ``feature``; columns ``name`` (gene symbol / CCLE name where annotated, else the
        id), ``kind``, ``variance`` (ddof=1, as pandas) and ``rank`` (1 = most variable).
    """
    mask = _kind_mask(p, kind)
    xp = p.xp
    var = _backend.to_numpy(xp.var(p.X, axis=0, correction=1)).astype(np.float64)
    table = pd.DataFrame(
        {"name": display_names(p.var), "kind": p.var["kind"].to_numpy(), "variance": var},
        index=pd.Index(p.var_names, name="feature"),
    )[mask]
    table = table.sort_values("variance", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def top_variance(p: Profiles, *, kind: str = "gene", n: int = 3) -> pd.DataFrame:
    """The ``n`` most variable features of a kind (in lish-moa: CCNA2, COL1A1, BUB1B).

    Parameters
    ----------
    p : Profiles
    kind : {"gene", "cell", "all"}
    n : int, default 3

    Returns
    -------
    pandas.DataFrame
        The first ``n`` rows of :func:`feature_variance`.
    """
    return feature_variance(p, kind=kind).head(n)


def cell_variance_ranking(p: Profiles) -> pd.DataFrame:
    """Cell lines ranked by the variance of their viability (most sensitive first).

    Parameters
    ----------
    p : Profiles
        Profiles with cell-viability features (``var["kind"] == "cell"``).

    Returns
    -------
    pandas.DataFrame
        :func:`feature_variance` of the cell features.
    """
    return feature_variance(p, kind="cell")


def control_vs_treatment(p: Profiles, *, by: str = "cp_type") -> pd.DataFrame:
    """Distribution of gene and cell values per group of rows (controls vs treatments).

    Parameters
    ----------
    p : Profiles
    by : str, default "cp_type"
        ``obs`` column defining the groups (also useful: "cp_time", "cp_dose").

    Returns
    -------
    pandas.DataFrame
        One row per (group, kind): ``rows``, ``mean``, ``std`` (ddof=1) and ``mean_abs`` of all
        values, ``frac_below_-2`` and ``frac_above_2`` (fractions of values beyond +-2) and
        ``row_std`` (mean over rows of the per-row standard deviation: signature strength).
    """
    groups = groups_of(p, by)
    xp = p.xp
    rows = []
    for kind in ("gene", "cell"):
        cols = np.flatnonzero(_kind_mask(p, kind))
        if cols.size == 0:
            continue
        X = _backend.take_cols(p.X, cols)
        stats = xp.stack(
            [
                xp.sum(X, axis=1),
                xp.sum(X * X, axis=1),
                xp.sum(xp.abs(X), axis=1),
                xp.sum(xp.astype(X < -2.0, X.dtype), axis=1),
                xp.sum(xp.astype(X > 2.0, X.dtype), axis=1),
                xp.std(X, axis=1, correction=1),
            ],
            axis=1,
        )
        sums = _backend.to_numpy(group_sums(stats, groups))
        for key, n_rows, s in zip(groups.keys, groups.counts, sums, strict=True):
            m = n_rows * cols.size
            mean = s[0] / m
            var = (s[1] - m * mean * mean) / (m - 1) if m > 1 else np.nan
            rows.append(
                {
                    by: key,
                    "kind": kind,
                    "rows": int(n_rows),
                    "mean": mean,
                    "std": float(np.sqrt(max(var, 0.0))),
                    "mean_abs": s[2] / m,
                    "frac_below_-2": s[3] / m,
                    "frac_above_2": s[4] / m,
                    "row_std": s[5] / n_rows,
                }
            )
    return pd.DataFrame(rows).set_index([by, "kind"])
