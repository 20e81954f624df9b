"""Figures of the data: MoA frequencies, most variable features, cell lines, controls, replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from gpu_moa import _backend, eda
from gpu_moa.pl._common import as_table, category_colors, new_figure
from gpu_moa.profiles import Profiles

#: at most this many bars get a tick label
_MAX_TICK_LABELS = 60


def moa_frequencies(
    p: Profiles | pd.DataFrame, *, which: str = "scored", top: int | None = None
) -> Figure:
    """Bar chart of the positive rows per MoA label, most frequent first.

    Parameters
    ----------
    p : Profiles or DataFrame
        Labelled profiles, or the table of :func:`gpu_moa.eda.label_frequencies`.
    which : {"scored", "nonscored", "all"}
        Label set (when ``p`` is a Profiles).
    top : int, optional
        Only the ``top`` most frequent labels (all by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    freq = as_table(p, eda.label_frequencies, which=which)
    shown = freq if top is None else freq.head(top)
    fig, axes = new_figure(size=(max(8.0, min(18.0, 0.12 * len(shown) + 4)), 5))
    ax = axes[0, 0]
    x = np.arange(len(shown))
    ax.bar(x, shown["positives"], color="tab:blue", width=0.85)
    if len(shown) <= _MAX_TICK_LABELS:
        ax.set_xticks(x, shown.index, rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
        for i, (name, count) in enumerate(shown["positives"].head(5).items()):
            ax.annotate(
                f"{name} ({count})",
                (i, count),
                xytext=(8, -12 * i - 4),
                textcoords="offset points",
                fontsize=8,
            )
        ax.set_xlabel(f"{len(shown)} labels, sorted by frequency")
    n_empty = int(freq["empty"].sum())
    ax.set_ylabel("positive rows")
    ax.set_title(f"Frequency of each MoA ({n_empty} of {len(freq)} labels without any sample)")
    return fig


def top_variance(p: Profiles, *, kind: str = "gene", n: int = 3) -> Figure:
    """Densities of the ``n`` most variable features of a kind (in lish-moa: CCNA2, COL1A1, BUB1B).

    Parameters
    ----------
    p : Profiles
    kind : {"gene", "cell"}
    n : int, default 3

    Returns
    -------
    matplotlib.figure.Figure
        One panel per feature, titled with its symbol / CCLE name.
    """
    top = eda.top_variance(p, kind=kind, n=n)
    pos = p.var.index.get_indexer(top.index)
    values = _backend.to_numpy(_backend.take_cols(p.X, pos)).astype(np.float64)
    fig, axes = new_figure(1, len(top), size=(5.0 * len(top), 3.8))
    for j, (feature, row) in enumerate(top.iterrows()):
        ax, col = axes[0, j], values[:, j]
        grid = np.linspace(col.min(), col.max(), 256)
        if np.ptp(col) > 0:
            density = gaussian_kde(col)(grid)
            ax.plot(grid, density, color="tab:blue")
            ax.fill_between(grid, density, alpha=0.2)
        title = row["name"] if row["name"] == feature else f"{row['name']} ({feature})"
        ax.set_title(f"{title}\nvariance {row['variance']:.2f}")
        ax.set_xlabel("normalised response")
    axes[0, 0].set_ylabel("density")
    return fig


def cell_variance(p: Profiles | pd.DataFrame) -> Figure:
    """Cell lines sorted by the variance of their viability (most sensitive first).

    Parameters
    ----------
    p : Profiles or DataFrame
        Profiles, or the table of :func:`gpu_moa.eda.cell_variance_ranking`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ranking = as_table(p, eda.cell_variance_ranking)
    fig, axes = new_figure(size=(max(8.0, 0.16 * len(ranking) + 3), 5.5))
    ax = axes[0, 0]
    x = np.arange(len(ranking))
    ax.bar(x, ranking["variance"], color="tab:red", width=0.8)
    ax.set_xticks(x, ranking["name"], rotation=90, fontsize=6)
    ax.set_ylabel("viability variance")
    ax.set_title("Cell lines sorted by variance")
    return fig


def control_vs_treatment(p: Profiles, *, by: str = "cp_type") -> Figure:
    """Signature strength (per-row standard deviation) of controls and treatments.

    Parameters
    ----------
    p : Profiles
    by : str, default "cp_type"
        ``obs`` column defining the groups.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per feature kind, one histogram per group.
    """
    kinds = [k for k in ("gene", "cell") if (p.var["kind"] == k).any()]
    fig, axes = new_figure(1, len(kinds), size=(5.5 * len(kinds), 4))
    groups = p.obs[by].astype(str).to_numpy()
    names = sorted(set(groups))
    for j, kind in enumerate(kinds):
        X = _backend.take_cols(p.X, np.flatnonzero(p.var["kind"].to_numpy() == kind))
        strength = _backend.to_numpy(p.xp.std(X, axis=1, correction=1))
        ax = axes[0, j]
        bins = np.linspace(0, np.quantile(strength, 0.995), 60)
        for colour, name in zip(category_colors(len(names)), names, strict=True):
            sel = groups == name
            ax.hist(
                strength[sel],
                bins=bins,
                density=True,
                histtype="stepfilled",
                alpha=0.45,
                color=colour,
                label=f"{name} ({sel.sum()})",
            )
        ax.set_xlabel(f"standard deviation of a row's {kind} values")
        ax.set_title(f"{kind.capitalize()} signature strength by {by}")
        ax.legend(frameon=False, fontsize="small")
    axes[0, 0].set_ylabel("density")
    return fig


def replicate_reproducibility(
    table: Profiles | pd.DataFrame, *, null: pd.DataFrame | None = None
) -> Figure:
    """Histogram of the mean replicate correlation per drug, optionally against a null.

    Parameters
    ----------
    table : Profiles or DataFrame
        Profiles, or the table of :func:`gpu_moa.eda.replicate_reproducibility`.
    null : DataFrame, optional
        The same table for shuffled groups (what unrelated signatures give).

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = as_table(table, eda.replicate_reproducibility)
    fig, axes = new_figure(size=(7, 4))
    ax = axes[0, 0]
    real = table["mean_corr"].dropna().to_numpy()
    parts = [("drugs", real, "tab:blue")]
    if null is not None:
        parts.append(("shuffled", null["mean_corr"].dropna().to_numpy(), "tab:gray"))
    parts = [part for part in parts if part[1].size]
    if not parts:  # no drug with two or more replicates (tiny data)
        ax.text(0.5, 0.5, "no drug with replicates", ha="center", va="center")
        return fig
    bins = np.linspace(min(v.min() for _, v, _ in parts), max(v.max() for _, v, _ in parts), 50)
    for name, values, colour in parts:
        ax.hist(
            values,
            bins=bins,
            alpha=0.55,
            color=colour,
            density=True,
            label=f"{name} (median {np.median(values):.3f})",
        )
    ax.set_xlabel("mean pairwise correlation of replicates")
    ax.set_ylabel("density")
    ax.set_title("Replicate reproducibility")
    ax.legend(frameon=False)
    return fig
