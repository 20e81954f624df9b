"""Figures of drug effects: per-cell drug ranks and the MoAs of the effective drugs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gpu_moa import eda
from gpu_moa.pl._common import as_table, category_colors, new_figure
from gpu_moa.profiles import Profiles


def drug_ranks(p: Profiles, *, cells: Sequence[str], threshold: float = 2.0) -> Figure:
    """Mean viability of every drug against its rank, one colour per cell line (Fig. 7 of the original analysis).

    Parameters
    ----------
    p : Profiles
        Signatures with ``obs["drug_id"]``.
    cells : sequence of str
        Cell lines, by any name :func:`gpu_moa.eda.drug_ranks` accepts.
    threshold : float, default 2.0
        Dashed lines at ``-threshold`` (red: growth inhibited) and ``+threshold`` (green).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(size=(9, 5.5))
    ax = axes[0, 0]
    ax.axhline(-threshold, color="r", linestyle="--", linewidth=1)
    ax.axhline(threshold, color="g", linestyle="--", linewidth=1)
    for colour, cell in zip(category_colors(len(cells)), cells, strict=True):
        ranks = eda.drug_ranks(p, cell=cell)
        n_low = int((ranks["mean"] <= -threshold).sum())
        ax.scatter(
            ranks["rank"],
            ranks["mean"],
            s=8,
            alpha=0.6,
            color=colour,
            linewidths=0,
            label=f"{ranks['cell'].iloc[0]} ({n_low} drugs <= {-threshold:g})",
        )
    ax.set_xlabel("drug rank")
    ax.set_ylabel("mean viability of the drug")
    ax.set_title("Ranking of drugs by their mean effect on each cell line")
    ax.legend(frameon=False, markerscale=2)
    return fig


def effective_moas(
    enrichment: Profiles | pd.DataFrame,
    *,
    cell: str | None = None,
    threshold: float = -2.0,
    top: int = 15,
) -> Figure:
    """MoAs of the drugs that kill a cell line: counts and enrichment significance (Fig. 8 of the original analysis).

    Parameters
    ----------
    enrichment : Profiles or DataFrame
        Profiles (then ``cell`` is required), or the table of
        :func:`gpu_moa.eda.moa_enrichment`.
    cell : str, optional
        Cell line, when ``enrichment`` is a Profiles.
    threshold : float, default -2.0
        Viability at or below which a drug counts as effective.
    top : int, default 15
        MoAs shown in each panel.

    Returns
    -------
    matplotlib.figure.Figure
        Left: MoA counts among the effective drugs; right: -log10 q-value of the enrichment.
    """
    if isinstance(enrichment, Profiles) and cell is None:
        raise ValueError("pass cell=... with a Profiles (or pass the moa_enrichment table)")
    table = as_table(enrichment, eda.moa_enrichment, cell=cell, threshold=threshold)
    fig, axes = new_figure(1, 2, size=(15, 0.3 * top + 2))
    counts = table[table["n_effective"] > 0].sort_values("n_effective", ascending=False).head(top)
    ax = axes[0, 0]
    ax.barh(np.arange(len(counts)), counts["n_effective"], color="tab:red")
    ax.set_yticks(np.arange(len(counts)), counts.index, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effective drugs with this MoA")
    attrs = table.attrs
    ax.set_title(
        f"MoAs of the {attrs.get('n_effective', '?')} drugs with mean viability "
        f"<= {attrs.get('threshold', threshold):g} in {attrs.get('cell', cell)}"
    )
    sig = table.head(top)
    ax = axes[0, 1]
    score = -np.log10(np.clip(sig["q_value"].to_numpy(dtype=float), 1e-300, 1.0))
    ax.barh(np.arange(len(sig)), score, color="tab:purple")
    ax.set_yticks(
        np.arange(len(sig)),
        [
            f"{m} ({a}/{b})"
            for m, a, b in zip(sig.index, sig["n_effective"], sig["n_drugs"], strict=True)
        ],
        fontsize=8,
    )
    ax.invert_yaxis()
    ax.axvline(-np.log10(0.05), color="k", linestyle="--", linewidth=1, label="q = 0.05")
    ax.set_xlabel("-log10 q (hypergeometric test, BH-adjusted)")
    ax.set_title(f"Enrichment among effective drugs (of {attrs.get('n_drugs', '?')} drugs)")
    ax.legend(frameon=False)
    return fig
