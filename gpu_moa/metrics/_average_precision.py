"""Per-query average precision under pair constraints, as copairs defines it.

Two profiles form a *positive pair* when they agree on every ``pos_sameby`` column and differ on
every ``pos_diffby`` column; a *negative pair* when they agree on every ``neg_sameby`` column and
differ on every ``neg_diffby`` column. Each query ranks its positive and negative partners by
similarity and scores that ranking by average precision. The pseudo-column ``"Y"`` compares the
scored labels: the pair *agrees* when it shares at least one label (multi-label MoA) and
*differs* when both rows are labelled and share none. A missing value (NaN, None) is neither equal
nor different to anything, so such a row never pairs on that column (copairs refuses them).

A pair that qualifies as both positive and negative counts once, as a positive. The computation
runs in query-row blocks in the profiles' array namespace: a block x n slice of similarities and
masks at a time, never an n x n matrix; only per-query scalars come back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.metrics._retrieval import _block_rows
from gpu_moa.profiles import Profiles
from gpu_moa.tl._similarity import prepare

LABELS = "Y"


def _as_list(cols: str | Sequence[str], name: str) -> list[str]:
    out = [cols] if isinstance(cols, str) else list(cols)
    if not all(isinstance(c, str) for c in out):
        raise TypeError(f"{name} must be a column name or a sequence of column names, got {cols!r}")
    return out


def _check_columns(p: Profiles, rules: dict[str, list[str]]) -> list[str]:
    """The distinct obs columns the rules name (``"Y"`` aside); raise on unknown ones."""
    where = "average_precision"
    if not rules["pos_sameby"]:
        raise data_error(where, "pos_sameby is empty", "name the column(s) positives share")
    for kind in ("pos", "neg"):
        both = set(rules[f"{kind}_sameby"]) & set(rules[f"{kind}_diffby"])
        if both:
            raise data_error(
                where,
                f"{sorted(both)} in both {kind}_sameby and {kind}_diffby",
                "a pair cannot agree and differ on the same column",
            )
    columns = list(dict.fromkeys(c for cols in rules.values() for c in cols if c != LABELS))
    missing = [c for c in columns if c not in p.obs]
    if missing:
        raise data_error(
            where, f"obs has no column(s) {missing}", f"choose among {list(p.obs.columns)} or 'Y'"
        )
    if any(LABELS in cols for cols in rules.values()) and p.Y is None:
        raise data_error(
            where,
            "'Y' (shared scored labels) was named but the profiles have no labels",
            "load the labels with the profiles (e.g. read_profiles(..., labels=COLUMN))",
        )
    return columns


def _codes(obs: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """(n x m) int64 codes of the columns: equal values share a code, missing values are -1."""
    out = np.empty((len(obs), max(1, len(columns))), dtype=np.int64)
    for j, col in enumerate(columns):
        out[:, j] = pd.factorize(obs[col], use_na_sentinel=True)[0]
    return out


def _restrict(mask: Any, rule: list[str], same: bool, ctx: dict[str, Any], lo: int, hi: int) -> Any:
    """``mask`` (b x n, query rows lo:hi against all rows) where the pair agrees (``same``) or
    differs on every column of ``rule``."""
    xp = ctx["xp"]
    for col in rule:
        if col == LABELS:
            shared = xp.matmul(ctx["Y"][lo:hi, :], ctx["YT"]) > 0
            labelled = ctx["labelled"][lo:hi][:, None] & ctx["labelled"][None, :]
            ok = shared if same else (~shared & labelled)
        else:
            j = ctx["col_of"][col]
            q, c = ctx["codes"][lo:hi, j][:, None], ctx["codes"][:, j][None, :]
            ok = ((q == c) if same else (q != c)) & (q >= 0) & (c >= 0)
        mask = mask & ok
    return mask


def average_precision(
    p: Profiles,
    *,
    pos_sameby: str | Sequence[str],
    pos_diffby: str | Sequence[str] = (),
    neg_sameby: str | Sequence[str] = (),
    neg_diffby: str | Sequence[str] = (),
    metric: str = "pearson",
    block_rows: int | None = None,
) -> pd.DataFrame:
    """Average precision of each profile retrieving its positive partners, copairs-style.

    Parameters
    ----------
    p : Profiles
        Profiles with the metadata columns the rules name (and labels ``Y`` for ``"Y"``).
    pos_sameby : str or sequence of str
        Columns a positive pair agrees on (at least one); ``"Y"``: shares a scored label.
    pos_diffby : str or sequence of str, default ()
        Columns a positive pair differs on (e.g. the compound, for MoA retrieval).
    neg_sameby : str or sequence of str, default ()
        Columns a negative pair agrees on (e.g. the plate).
    neg_diffby : str or sequence of str, default ()
        Columns a negative pair differs on; with no negative rule at all, every pair that is
        not positive is a negative.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity that ranks the partners (copairs calls Pearson "correlation").
    block_rows : int, optional
        Query rows per block (default: sized from free memory).

    Returns
    -------
    pandas.DataFrame
        One row per profile in input order (index sig_id): the obs columns, ``n_pos`` and
        ``n_total`` (positive and all partners), ``average_precision`` (ties ranked as one
        threshold, as in ``sklearn.metrics.average_precision_score``; NaN without a positive)
        and ``normalized_average_precision`` (``(AP - mu0) / (1 - mu0)``, mu0 the expected AP of
        a random ranking, clipped at -1 as copairs does).

    Raises
    ------
    DataError
        When a named column is missing, ``pos_sameby`` is empty, a column is both a same- and a
        diff-rule of one kind, or ``"Y"`` is named without labels.
    """
    rules = {
        name: _as_list(value, name)
        for name, value in (
            ("pos_sameby", pos_sameby),
            ("pos_diffby", pos_diffby),
            ("neg_sameby", neg_sameby),
            ("neg_diffby", neg_diffby),
        )
    }
    columns = _check_columns(p, rules)
    xp, n = p.xp, p.n_obs
    device = array_api_compat.device(p.X)
    X = prepare(p.X, metric)
    XT = xp.permute_dims(X, (1, 0))
    ctx: dict[str, Any] = {
        "xp": xp,
        "codes": xp.asarray(_codes(p.obs, columns), device=device),
        "col_of": {c: j for j, c in enumerate(columns)},
    }
    if p.Y is not None:
        ctx["Y"] = xp.astype(p.Y, xp.float32)
        ctx["YT"] = xp.permute_dims(ctx["Y"], (1, 0))
        ctx["labelled"] = xp.sum(ctx["Y"], axis=1) > 0
    rows = _block_rows(n, 56, xp, block_rows)
    index = xp.arange(n, device=device)
    has_neg_rule = bool(rules["neg_sameby"] or rules["neg_diffby"])
    ap_parts, pos_parts, tot_parts = [], [], []
    with _backend.timed_step("metrics.average_precision", xp, f"{metric}, {n} queries"):
        for lo in range(0, n, rows):
            hi = min(lo + rows, n)
            other = index[lo:hi][:, None] != index[None, :]  # never the query itself
            pos = _restrict(other, rules["pos_sameby"], True, ctx, lo, hi)
            pos = _restrict(pos, rules["pos_diffby"], False, ctx, lo, hi)
            neg = _restrict(other, rules["neg_sameby"], True, ctx, lo, hi)
            neg = _restrict(neg, rules["neg_diffby"], False, ctx, lo, hi)
            cand = (pos | neg) if has_neg_rule else other
            S = xp.where(cand, xp.matmul(xp.asarray(X[lo:hi, :], copy=True), XT), -xp.inf)
            ap, n_pos = _backend.average_precision_rows(S, pos)
            ap_parts.append(_backend.to_numpy(ap))
            pos_parts.append(_backend.to_numpy(n_pos))
            tot_parts.append(_backend.to_numpy(xp.count_nonzero(cand, axis=1)))
    return _table(p.obs, np.concatenate(ap_parts), np.concatenate(pos_parts), tot_parts)


def _table(obs: pd.DataFrame, ap: np.ndarray, n_pos: np.ndarray, tot_parts: list) -> pd.DataFrame:
    n_total = np.concatenate(tot_parts).astype(np.int64)
    n_pos = n_pos.astype(np.int64)
    ap = np.where(n_pos > 0, ap, np.nan)
    out = obs.copy()
    out["n_pos"] = n_pos
    out["n_total"] = n_total
    out["average_precision"] = ap
    mu0 = expected_average_precision(n_pos, n_total)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = (ap - mu0) / np.maximum(1.0 - mu0, 1e-10)
    out["normalized_average_precision"] = np.clip(norm, -1.0, 1.0)
    return out


def expected_average_precision(n_pos: Any, n_total: Any) -> np.ndarray:
    """Expected AP of a uniformly random ranking of ``n_pos`` positives among ``n_total``.

    A positive at rank r has precision ``(1 + (M - 1)(r - 1)/(L - 1)) / r`` on average; the mean
    over the L equally likely ranks is ``(H_L + (M - 1)/(L - 1) (L - H_L)) / L`` with ``H_L`` the
    L-th harmonic number.

    Parameters
    ----------
    n_pos, n_total : array of int
        Positives M and candidates L of each ranking.

    Returns
    -------
    numpy.ndarray of float64
        mu0 per ranking; NaN where M == 0, 1.0 where M == L.
    """
    M = np.asarray(n_pos, dtype=np.float64)
    L = np.asarray(n_total, dtype=np.int64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, int(L.max(initial=0)) + 1))])
    H = harmonic[L]
    Lf = L.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu0 = (H + (M - 1.0) / np.maximum(Lf - 1.0, 1.0) * (Lf - H)) / Lf
    mu0 = np.where(M >= Lf, 1.0, mu0)
    return np.where(M > 0, mu0, np.nan)
