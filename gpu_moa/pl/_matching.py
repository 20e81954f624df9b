"""Figure of the fingerprint-matching evaluation: neighbour MoA hit rate against chance."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from gpu_moa.pl._common import new_figure


def hit_rate_curve(curve: pd.DataFrame) -> Figure:
    """Fraction of queries with an MoA-sharing profile among their k nearest, vs chance.

    Parameters
    ----------
    curve : DataFrame
        Columns ``k``, ``hit_rate`` and ``chance`` (the matching stage's ``matching_hit_rate``
        table, from :func:`gpu_moa.metrics.knn_hit_rate` at several k).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(size=(6, 4))
    ax = axes[0, 0]
    ax.plot(curve["k"], curve["hit_rate"], marker="o", label="nearest other-drug profiles")
    ax.plot(curve["k"], curve["chance"], linestyle="--", color="grey", label="random profiles")
    ax.set_xlabel("k (neighbours)")
    ax.set_ylabel("queries with an MoA-sharing neighbour")
    ax.set_ylim(0, max(1e-3, float(curve[["hit_rate", "chance"]].to_numpy().max()) * 1.1))
    ax.set_title("Leave-drug-out MoA hit rate")
    ax.legend(frameon=False)
    return fig
