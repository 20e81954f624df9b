"""cytominer-eval's replicate questions: reproducibility, percent replicating/matching, grit.

* **replicate reproducibility**: the share of replicate pairs (same group) more similar than
  the ``quantile`` of all non-replicate pairs (each unordered pair counted once).
* **percent replicating**: the share of groups whose median replicate similarity exceeds the
  ``quantile`` of a null of medians over random sets of the same size, each set taking one
  profile from each of that many distinct groups. **Percent matching** is the same question asked
  of MoAs: groups are MoAs and only pairs of different compounds count.
* **grit**: per profile, its similarities to its replicates z-scored against its similarities to
  the control profiles, averaged.

Similarities are dot products of prepared rows (:func:`gpu_moa.tl.similarity`'s metrics) taken in
blocks on the device: replicate pairs are gathered pair by pair, the non-replicate quantile keeps
only the largest values it needs while streaming query blocks, grit reduces each block to per-row
sums. Only per-pair or per-row scalars reach the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import data_error, group_columns
from gpu_moa.metrics._retrieval import _block_rows
from gpu_moa.profiles import Profiles
from gpu_moa.tl._similarity import prepare

_PAIR_BLOCK = 1 << 16


def _group_codes(p: Profiles, by: str | Sequence[str], where: str) -> np.ndarray:
    """One int code per row for the combination of ``by`` columns; -1 where any is missing."""
    cols = group_columns(p.obs, by, where)
    codes = p.obs.groupby(cols, sort=False, dropna=True, observed=True).ngroup().to_numpy()
    return codes.astype(np.int64)


def _pairs(codes: np.ndarray, differ: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j and equal non-negative codes (and unequal ``differ`` codes)."""
    rows = pd.DataFrame({"g": codes, "i": np.arange(codes.size)})
    rows = rows[rows["g"] >= 0]
    both = rows.merge(rows, on="g", suffixes=("", "_b"))
    both = both[both["i"] < both["i_b"]]
    i, j = both["i"].to_numpy(), both["i_b"].to_numpy()
    if differ is not None:
        keep = (differ[i] != differ[j]) & (differ[i] >= 0) & (differ[j] >= 0)
        i, j = i[keep], j[keep]
    return i, j


def pair_similarity(Xp: Any, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Similarities of the row pairs (i, j) of prepared rows ``Xp``, gathered in blocks (host)."""
    xp = _backend.get_namespace(Xp)
    out = [np.empty(0, dtype=np.float64)]
    for lo in range(0, i.size, _PAIR_BLOCK):
        a = _backend.take_rows(Xp, i[lo : lo + _PAIR_BLOCK])
        b = _backend.take_rows(Xp, j[lo : lo + _PAIR_BLOCK])
        out.append(_backend.to_numpy(xp.sum(a * b, axis=1)).astype(np.float64))
    return np.concatenate(out)


def _quantile_of_others(
    Xp: Any, codes: np.ndarray, quantile: float, block_rows: int | None
) -> tuple[float, int]:
    """``quantile`` (linear interpolation) of the similarities of pairs i < j of different
    groups, streamed over query blocks keeping only the largest values needed; and their count."""
    xp = _backend.get_namespace(Xp)
    n = Xp.shape[0]
    sizes = np.bincount(codes[codes >= 0])
    known = int(np.sum(codes >= 0))
    total = known * (known - 1) // 2 - int(np.sum(sizes * (sizes - 1) // 2))
    if total < 1:
        raise data_error("replicate_reproducibility", "no pair of different groups", "add groups")
    pos = quantile * (total - 1)
    keep = total - int(np.floor(pos))  # the values at ascending ranks floor(pos) .. total-1
    device = array_api_compat.device(Xp)
    dev_codes = xp.asarray(codes, device=device)
    index = xp.arange(n, device=device)
    top = xp.full((0,), -xp.inf, dtype=xp.float32, device=device)
    rows = _block_rows(n, 24, xp, block_rows)
    XT = xp.permute_dims(Xp, (1, 0))
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        S = xp.matmul(xp.asarray(Xp[lo:hi, :], copy=True), XT)
        q, c = dev_codes[lo:hi][:, None], dev_codes[None, :]
        valid = (index[lo:hi][:, None] < index[None, :]) & (q != c) & (q >= 0) & (c >= 0)
        values = xp.reshape(xp.where(valid, S, -xp.inf), (-1,))
        top = xp.sort(xp.concat([top, values]), descending=True)[:keep]
    ends = _backend.to_numpy(top[max(0, keep - 2) : keep]).astype(np.float64)  # [next,] lowest
    low, high = ends[-1], ends[0]
    return float(low + (pos - np.floor(pos)) * (high - low)), total


def replicate_reproducibility(
    p: Profiles,
    *,
    groupby: str | Sequence[str],
    quantile: float = 0.95,
    metric: str = "pearson",
    block_rows: int | None = None,
) -> dict[str, float]:
    """Share of replicate pairs more similar than the ``quantile`` of non-replicate pairs.

    Parameters
    ----------
    p : Profiles
        Profiles whose ``groupby`` columns name the replicates (e.g. compound and dose).
    groupby : str or sequence of str
        Rows agreeing on all of them are replicates; a row missing any takes no part.
    quantile : float, default 0.95
        Quantile of the non-replicate similarities used as the threshold.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity of two profiles.
    block_rows : int, optional
        Query rows per block of the non-replicate pass.

    Returns
    -------
    dict
        ``replicate_reproducibility`` (the share), ``threshold``, ``n_replicate_pairs`` and
        ``n_non_replicate_pairs``.
    """
    codes = _group_codes(p, groupby, "replicate_reproducibility")
    Xp = prepare(p.X, metric)
    i, j = _pairs(codes, None)
    if i.size == 0:
        raise data_error("replicate_reproducibility", "no replicate pair", "check groupby")
    threshold, total = _quantile_of_others(Xp, codes, quantile, block_rows)
    sims = pair_similarity(Xp, i, j)
    return {
        "replicate_reproducibility": float(np.mean(sims > threshold)),
        "threshold": threshold,
        "n_replicate_pairs": int(i.size),
        "n_non_replicate_pairs": total,
    }


def percent_replicating(
    p: Profiles,
    *,
    groupby: str | Sequence[str],
    diffby: str | Sequence[str] = (),
    n_null: int = 1000,
    quantile: float = 0.95,
    metric: str = "pearson",
    seed: int = 0,
) -> dict[str, Any]:
    """Percent of groups whose median replicate similarity beats a null of non-replicates.

    Parameters
    ----------
    p : Profiles
        The profiles (typically without controls).
    groupby : str or sequence of str
        Columns defining a group (the compound; the MoA for percent matching).
    diffby : str or sequence of str, default ()
        Only pairs differing on these columns count (the compound, for percent matching).
    n_null : int, default 1000
        Random sets per group size in the null.
    quantile : float, default 0.95
        Quantile of the null medians a group must exceed.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity of two profiles.
    seed : int, default 0
        Seed of the null sets.

    Returns
    -------
    dict
        ``percent`` (0-100), ``groups`` (a table per group with at least one pair:
        ``group_size``, ``median_similarity``, ``null_threshold``, ``replicating``).
    """
    where = "percent_replicating"
    codes = _group_codes(p, groupby, where)
    differ = _group_codes(p, diffby, where) if diffby else None
    Xp = prepare(p.X, metric)
    i, j = _pairs(codes, differ)
    if i.size == 0:
        raise data_error(where, "no pair of rows in one group", "check groupby/diffby")
    medians = pd.Series(pair_similarity(Xp, i, j)).groupby(codes[i]).median()
    sizes = np.bincount(codes[codes >= 0])[medians.index.to_numpy()]
    rng = np.random.default_rng(seed)
    members = pd.Series(np.arange(codes.size)[codes >= 0]).groupby(codes[codes >= 0])
    thresholds = {
        k: _null_threshold(Xp, members, k, differ, n_null, quantile, rng) for k in np.unique(sizes)
    }
    cols = group_columns(p.obs, groupby, where)
    first = p.obs[cols].iloc[members.first().loc[medians.index].to_numpy()].reset_index(drop=True)
    groups = first.assign(
        group_size=sizes,
        median_similarity=medians.to_numpy(),
        null_threshold=[thresholds[k] for k in sizes],
    )
    groups["replicating"] = groups["median_similarity"] > groups["null_threshold"]
    return {"percent": 100.0 * float(groups["replicating"].mean()), "groups": groups}


def _null_threshold(
    Xp: Any, members: Any, size: int, differ: Any, n_null: int, quantile: float, rng: Any
) -> float:
    """``quantile`` of median similarities within random sets of ``size`` distinct groups."""
    lists = [np.asarray(v) for _, v in members]
    size = min(int(size), len(lists))
    picks = np.argsort(rng.random((n_null, len(lists))), axis=1)[:, :size]
    lengths = np.array([len(v) for v in lists])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate(lists)
    rows = flat[offsets[picks] + (rng.random(picks.shape) * lengths[picks]).astype(np.int64)]
    a, b = np.triu_indices(size, k=1)
    i, j = rows[:, a].reshape(-1), rows[:, b].reshape(-1)
    sims = pair_similarity(Xp, i, j).reshape(n_null, a.size)
    if differ is not None:
        sims = np.where(differ[rows[:, a]] != differ[rows[:, b]], sims, np.nan)
    return float(np.nanquantile(np.nanmedian(sims, axis=1), quantile))


def percent_matching(
    p: Profiles,
    *,
    moa: str,
    compound: str,
    n_null: int = 1000,
    quantile: float = 0.95,
    metric: str = "pearson",
    seed: int = 0,
) -> dict[str, Any]:
    """Percent of MoAs whose compounds are more alike than random compounds of other MoAs.

    :func:`percent_replicating` with ``groupby=moa`` and ``diffby=compound``: a MoA's median is
    over pairs of profiles of different compounds.

    Parameters
    ----------
    p : Profiles
        The profiles (e.g. one consensus signature per compound, or wells).
    moa : str
        The MoA column.
    compound : str
        The compound column.
    n_null, quantile, metric, seed
        As in :func:`percent_replicating`.

    Returns
    -------
    dict
        As :func:`percent_replicating`, one row per MoA.
    """
    return percent_replicating(
        p,
        groupby=moa,
        diffby=compound,
        n_null=n_null,
        quantile=quantile,
        metric=metric,
        seed=seed,
    )


def grit(
    p: Profiles,
    *,
    groupby: str | Sequence[str],
    metric: str = "pearson",
    block_rows: int | None = None,
) -> pd.DataFrame:
    """Per profile: mean z-score of its replicate similarities against its control similarities.

    Parameters
    ----------
    p : Profiles
        Profiles with control rows (:attr:`Profiles.is_control`) and treated rows.
    groupby : str or sequence of str
        Columns defining replicates (rows agreeing on all of them).
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity of two profiles.
    block_rows : int, optional
        Query rows per block.

    Returns
    -------
    pandas.DataFrame
        obs plus ``grit`` (NaN for controls and for profiles without a replicate); the control
        similarities are z-scored with their mean and standard deviation (ddof=0, as
        cytominer-eval's StandardScaler).

    Raises
    ------
    DataError
        When there are fewer than two control profiles.
    """
    control = p.is_control
    if int(control.sum()) < 2:
        raise data_error("grit", "fewer than two control profiles", "keep the controls in p")
    codes = _group_codes(p, groupby, "grit")
    codes = np.where(control, -1, codes)
    xp, n = p.xp, p.n_obs
    device = array_api_compat.device(p.X)
    Xp = prepare(p.X, metric)
    XT = xp.permute_dims(Xp, (1, 0))
    dev_codes = xp.asarray(codes, device=device)
    ctrl = xp.asarray(control, device=device)
    index = xp.arange(n, device=device)
    out, step = [], _block_rows(n, 40, xp, block_rows)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        S = xp.astype(xp.matmul(xp.asarray(Xp[lo:hi, :], copy=True), XT), xp.float64)
        other = index[lo:hi][:, None] != index[None, :]
        c = ctrl[None, :] & other
        n_c = xp.sum(xp.astype(c, xp.float64), axis=1, keepdims=True)
        mean = xp.sum(xp.where(c, S, 0.0), axis=1, keepdims=True) / n_c
        sd = xp.sqrt(xp.sum(xp.where(c, (S - mean) ** 2, 0.0), axis=1, keepdims=True) / n_c)
        rep = (dev_codes[lo:hi][:, None] == dev_codes[None, :]) & (dev_codes[None, :] >= 0) & other
        z = xp.sum(xp.where(rep, (S - mean) / sd, 0.0), axis=1)
        n_rep = xp.sum(xp.astype(rep, xp.float64), axis=1)
        out.append(
            _backend.to_numpy(xp.where(n_rep > 0, z / xp.where(n_rep > 0, n_rep, 1.0), xp.nan))
        )
    return p.obs.assign(grit=np.concatenate(out))
