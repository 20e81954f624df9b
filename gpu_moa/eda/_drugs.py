"""Per-drug statistics: viability ranks per cell line, effective drugs, MoA enrichment, replicates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.eda._groups import group_means, group_sums, groups_of
from gpu_moa.eda._names import display_names, feature_position, long_name
from gpu_moa.profiles import Profiles, label_strings


def drug_ranks(p: Profiles, *, cell: str) -> pd.DataFrame:
    """Mean viability of each drug in one cell line and its rank (the original analysis's ``drug_rank``).

    Parameters
    ----------
    p : Profiles
        Signatures with ``obs["drug_id"]``.
    cell : str
        The cell line: Kaggle id ("c-63"), CCLE name ("SNU886_LIVER") or annotated name
        ("c-63-SNU886_LIVER").

    Returns
    -------
    pandas.DataFrame
        One row per drug (sorted by drug id): ``drug_id``, ``cell`` (annotated name),
        ``cell_name`` (CCLE name), ``mean`` (over the drug's rows) and ``rank`` (ascending, ties
        averaged, as ``pandas.Series.rank``; 1 = most lethal).
    """
    pos = feature_position(p, cell, kind="cell" if "kind" in p.var else None)
    groups = groups_of(p, "drug_id")
    means = _backend.to_numpy(group_means(_backend.take_cols(p.X, [pos]), groups))[:, 0]
    table = pd.DataFrame(
        {
            "drug_id": groups.keys.to_numpy(),
            "cell": long_name(p, pos),
            "cell_name": display_names(p.var.iloc[[pos]])[0],
            "mean": means,
        }
    )
    table["rank"] = table["mean"].rank(method="average")
    return table


def drug_moas(p: Profiles, *, which: str = "scored") -> pd.DataFrame:
    """Which MoA labels each drug carries (positive in any of its rows).

    Parameters
    ----------
    p : Profiles
        Labelled signatures with ``obs["drug_id"]``.
    which : {"scored", "all"}
        Scored labels only, or scored and non-scored.

    Returns
    -------
    pandas.DataFrame of bool
        Index ``drug_id`` (sorted), one column per label.
    """
    hits, keys, names = _drug_labels(p, which)
    return pd.DataFrame(_backend.to_numpy(hits) > 0, index=keys, columns=names)


def _drug_labels(p: Profiles, which: str) -> tuple[Any, pd.Index, list[str]]:
    """(drugs x labels 0/1 float32 matrix on the device, drug ids, label names)."""
    if which not in ("scored", "all"):
        raise ValueError(f"which must be 'scored' or 'all', got {which!r}")
    if p.Y is None:
        raise data_error("Profiles.Y", "no labels loaded", "load train_targets_scored.csv too")
    xp = p.xp
    blocks, names = [p.Y], list(p.label_names)
    if which == "all" and p.Y_extra is not None:
        blocks.append(p.Y_extra)
        names += p.extra_label_names
    Y = xp.concat(blocks, axis=1) if len(blocks) > 1 else p.Y
    groups = groups_of(p, "drug_id")
    sums = group_sums(xp.astype(Y > 0.5, xp.float32), groups)
    return xp.astype(sums > 0, xp.float32), groups.keys, names


def effective_drugs(p: Profiles, *, cell: str, threshold: float = -2.0) -> pd.DataFrame:
    """Drugs whose mean viability in ``cell`` is at or below ``threshold`` (most lethal first).

    Parameters
    ----------
    p : Profiles
        Signatures with ``obs["drug_id"]`` (and labels, to list each drug's MoAs).
    cell : str
        Cell line, by any name :func:`drug_ranks` accepts.
    threshold : float, default -2.0
        Mean viability at or below which a drug counts as effective.

    Returns
    -------
    pandas.DataFrame
        The :func:`drug_ranks` rows passing the threshold, with ``moas`` (the drug's scored MoAs,
        "; "-separated) when labels are loaded.
    """
    ranks = drug_ranks(p, cell=cell)
    hits = ranks[ranks["mean"] <= threshold].sort_values("mean", kind="stable")
    if p.Y is not None:
        labels, keys, names = _drug_labels(p, "scored")
        rows = keys.get_indexer(hits["drug_id"])
        hits = hits.assign(moas=label_strings(labels, rows, names, sep="; "))
    return hits.reset_index(drop=True)


def moa_enrichment(
    p: Profiles, *, cell: str, threshold: float = -2.0, which: str = "scored"
) -> pd.DataFrame:
    """MoAs over-represented among the drugs that kill a cell line, with statistics.

    The population is the treated drugs (controls excluded); a drug is *effective* when its mean
    viability in ``cell`` is <= ``threshold``. For each MoA carried by at least one drug, the
    one-sided hypergeometric test (Fisher's exact test, greater) asks whether more effective
    drugs carry it than chance would give; q-values are Benjamini-Hochberg adjusted.

    Parameters
    ----------
    p : Profiles
        Labelled signatures with ``obs["drug_id"]`` (and ``cp_type``).
    cell : str
        Cell line (any name accepted by :func:`drug_ranks`).
    threshold : float, default -2.0
    which : {"scored", "all"}
        Label set tested.

    Returns
    -------
    pandas.DataFrame
        Index ``moa``; columns ``n_effective`` (effective drugs with the MoA), ``n_drugs`` (all
        drugs with it), ``fraction_effective``, ``fraction_all``, ``fold_enrichment``,
        ``p_value``, ``q_value``; most significant first. ``attrs`` holds the totals.
    """
    treated = p[~p.is_control]
    ranks = drug_ranks(treated, cell=cell).set_index("drug_id")
    labels, keys, names = _drug_labels(treated, which)
    effective = (ranks["mean"] <= threshold).reindex(keys).to_numpy(dtype=bool)
    n_all, n_eff = len(keys), int(effective.sum())
    xp = treated.xp
    eff = _backend.to_device(effective.astype(np.float32), labels)
    counts = xp.stack([xp.sum(labels, axis=0), xp.sum(labels * eff[:, None], axis=0)])
    n_drugs, n_hit = _backend.to_numpy(xp.astype(counts, xp.int64))  # label counts only
    keep = n_drugs > 0
    table = pd.DataFrame(
        {"n_effective": n_hit[keep], "n_drugs": n_drugs[keep]},
        index=pd.Index(np.asarray(names, dtype=object)[keep], name="moa"),
    )
    table["fraction_effective"] = table["n_effective"] / max(n_eff, 1)
    table["fraction_all"] = table["n_drugs"] / n_all
    expected = n_eff * table["fraction_all"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["fold_enrichment"] = table["n_effective"] / expected
    table["p_value"] = stats.hypergeom.sf(table["n_effective"] - 1, n_all, table["n_drugs"], n_eff)
    table["q_value"] = (
        stats.false_discovery_control(table["p_value"].to_numpy()) if len(table) else []
    )
    table = table.sort_values(["p_value", "n_effective"], ascending=[True, False], kind="stable")
    table.attrs.update(
        cell=ranks["cell"].iloc[0] if len(ranks) else cell,
        threshold=threshold,
        n_drugs=n_all,
        n_effective=n_eff,
    )
    return table


def replicate_reproducibility(
    p: Profiles, *, by: str = "drug_id", kind: str = "all"
) -> pd.DataFrame:
    """Mean pairwise Pearson correlation between the replicate signatures of each group.

    Each row is centred and scaled to unit norm on the device; for a group of ``m`` rows with
    normalised sum ``S``, the sum of its pairwise correlations is ``(|S|^2 - sum |z_i|^2) / 2``,
    so one grouped sum gives every group's mean without forming the pairs.

    Parameters
    ----------
    p : Profiles
    by : str, default "drug_id"
        ``obs`` column whose groups are replicates (e.g. drug, or drug and dose via a column).
    kind : {"gene", "cell", "all"}
        Features entering the correlation.

    Returns
    -------
    pandas.DataFrame
        Index ``by``; columns ``replicates`` and ``mean_corr`` (NaN for single-row groups),
        most reproducible first. Constant rows count as uncorrelated.
    """
    if kind not in ("gene", "cell", "all"):
        raise ValueError(f"kind must be 'gene', 'cell' or 'all', got {kind!r}")
    X = p.X if kind == "all" else _backend.take_cols(p.X, np.flatnonzero(p.var["kind"] == kind))
    xp = p.xp
    Xc = X - xp.mean(X, axis=1, keepdims=True)
    norm = xp.sqrt(xp.sum(Xc * Xc, axis=1, keepdims=True))
    Z = Xc / xp.where(norm > 0, norm, xp.ones_like(norm))
    groups = groups_of(p, by)
    S = group_sums(Z, groups)
    self_dot = group_sums(xp.sum(Z * Z, axis=1), groups)
    pair_sum = _backend.to_numpy((xp.sum(S * S, axis=1) - self_dot) / 2.0)
    m = groups.counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_corr = np.where(m > 1, pair_sum / (m * (m - 1) / 2.0), np.nan)
    table = pd.DataFrame({"replicates": groups.counts, "mean_corr": mean_corr}, index=groups.keys)
    return table.sort_values("mean_corr", ascending=False, kind="stable", na_position="last")
