"""Figures of model and matching results: a query's neighbours, per-label AUC, CV folds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gpu_moa.pl._common import category_colors, new_figure


def _first_column(table: pd.DataFrame, candidates: Sequence[str], what: str) -> str:
    for name in candidates:
        if name in table.columns:
            return name
    raise KeyError(
        f"the table needs a {what} column (one of {list(candidates)}); it has {list(table.columns)}"
    )


def neighbors(
    hits: pd.DataFrame,
    *,
    query: object = None,
    k: int = 10,
    score: str | None = None,
    name: str | None = None,
    annotate: str | None = None,
) -> Figure:
    """The nearest reference signatures of one query, as a labelled bar chart.

    Parameters
    ----------
    hits : DataFrame
        Tidy neighbour table (e.g. from :func:`gpu_moa.tl.match`): one row per (query, neighbour)
        with a query column, a neighbour name column and a similarity column.
    query : optional
        The query to show (default: the first one in the table).
    k : int, default 10
        Neighbours shown.
    score, name, annotate : str, optional
        Columns for the bar length, the bar label and the text next to each bar (default: the
        first present of similarity/score/distance, reference/neighbor/drug_id, moa/moas).

    Returns
    -------
    matplotlib.figure.Figure
    """
    score = score or _first_column(hits, ("similarity", "score", "distance"), "score")
    name = name or _first_column(
        hits, ("reference", "neighbor", "match", "drug_id", "sig_id"), "neighbour name"
    )
    if annotate is None:
        annotate = next((c for c in ("moa", "moas", "reference_moa") if c in hits.columns), None)
    rows = hits
    if "query" in hits.columns:
        query = hits["query"].iloc[0] if query is None else query
        rows = hits[hits["query"] == query]
    rows = rows.sort_values(score, ascending=score == "distance").head(k)
    fig, axes = new_figure(size=(9, 0.4 * len(rows) + 1.5))
    ax = axes[0, 0]
    y = np.arange(len(rows))
    ax.barh(y, rows[score], color="tab:green")
    ax.set_yticks(y, rows[name].astype(str), fontsize=8)
    ax.invert_yaxis()
    if annotate is not None:
        for yi, (value, text) in enumerate(zip(rows[score], rows[annotate], strict=True)):
            ax.text(value, yi, f" {text}", va="center", fontsize=8)
    ax.set_xlabel(score)
    ax.set_title(f"Nearest neighbours of {query}" if query is not None else "Nearest neighbours")
    return fig


def auc_histogram(aucs: pd.Series | np.ndarray, *, bins: int = 20) -> Figure:
    """Histogram of the per-label ROC AUC, with chance (0.5) and the mean marked.

    Parameters
    ----------
    aucs : Series or array
        One AUC per label (e.g. :func:`gpu_moa.metrics.per_label_auc`); NaN entries (labels
        with a single class) are left out and counted in the title.
    bins : int, default 20

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(aucs, dtype=float)
    finite = values[np.isfinite(values)]
    fig, axes = new_figure(size=(7, 4))
    ax = axes[0, 0]
    ax.hist(finite, bins=np.linspace(0, 1, bins + 1), color="tab:blue", alpha=0.8)
    ax.axvline(0.5, color="k", linestyle="--", linewidth=1, label="chance")
    if finite.size:
        ax.axvline(finite.mean(), color="tab:red", linewidth=1.5, label=f"mean {finite.mean():.3f}")
    ax.set_xlabel("ROC AUC")
    ax.set_ylabel("labels")
    ax.set_title(f"Per-label AUC ({finite.size} labels, {values.size - finite.size} undefined)")
    ax.legend(frameon=False)
    return fig


def cv_curve(scores: pd.DataFrame | pd.Series, *, metric: str = "log loss") -> Figure:
    """A metric per cross-validation fold, one line per model, means dashed.

    Parameters
    ----------
    scores : DataFrame or Series
        Index = fold (or a ``fold`` column), one column per model / setting.
    metric : str, default "log loss"
        Axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = scores.to_frame(name=scores.name or metric) if isinstance(scores, pd.Series) else scores
    if "fold" in table.columns:
        table = table.set_index("fold")
    fig, axes = new_figure(size=(7, 4))
    ax = axes[0, 0]
    x = np.arange(len(table))
    for colour, col in zip(category_colors(table.shape[1]), table.columns, strict=True):
        values = table[col].to_numpy(dtype=float)
        ax.plot(x, values, marker="o", color=colour, label=f"{col} (mean {np.nanmean(values):.4f})")
        ax.axhline(np.nanmean(values), color=colour, linestyle="--", linewidth=1)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.set_xlabel("fold")
    ax.set_ylabel(metric)
    ax.set_title(f"Cross-validation: {metric} per fold")
    ax.legend(frameon=False, fontsize="small")
    return fig
