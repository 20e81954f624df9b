"""Shared pieces of the figures: headless Figure creation, colours, inputs as tables.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend), so they render headless and in notebooks alike; they are saved with the Agg renderer.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpu_moa.profiles import Profiles

#: largest number of distinct values an obs column may have to be coloured as categories
MAX_CATEGORIES = 20


def to_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes with the Agg renderer (no display needed).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default 100

    Returns
    -------
    bytes
    """
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class NotebookFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter, whatever matplotlib backend is active."""

    def _repr_png_(self) -> bytes:
        return to_png(self)


def new_figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float]) -> tuple[Figure, Any]:
    """A constrained-layout Figure and its 2-D array of axes (``axes[row, col]``)."""
    fig = NotebookFigure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def category_colors(n: int) -> list[Any]:
    """``n`` distinct colours (tab10, tab20, then a continuous map)."""
    if n <= 10:
        return list(colormaps["tab10"].colors[:n])
    if n <= 20:
        return list(colormaps["tab20"].colors[:n])
    return [colormaps["viridis"](v) for v in np.linspace(0, 1, n)]


def as_table(obj: Profiles | pd.DataFrame, compute: Callable[..., pd.DataFrame], **kw: Any) -> Any:
    """``obj`` itself when it is already a result table, else ``compute(obj, **kw)``."""
    return obj if isinstance(obj, pd.DataFrame | pd.Series) else compute(obj, **kw)


def scatter_by(ax: Axes, xy: np.ndarray, values: pd.Series, *, size: float, alpha: float) -> None:
    """Scatter points coloured by a categorical (legend) or numeric (colour bar) column."""
    values = values.reset_index(drop=True)
    if values.nunique(dropna=False) <= MAX_CATEGORIES or not pd.api.types.is_numeric_dtype(values):
        codes = values.astype(str)
        sizes = codes.value_counts()
        cats = sorted(sizes.index, key=_natural_key)
        colours = dict(zip(cats, category_colors(len(cats)), strict=True))
        for cat in sizes.index:  # largest group first, so small groups (controls) stay visible
            sel = (codes == cat).to_numpy()
            ax.scatter(
                *xy[sel].T,
                s=size,
                alpha=alpha,
                color=colours[cat],
                label=cat,
                rasterized=True,
                linewidths=0,
            )
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: _natural_key(labels[i]))
        ax.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            title=values.name,
            markerscale=max(1.0, 12 / size),
            fontsize="small",
            loc="best",
            frameon=False,
        )
    else:
        art = ax.scatter(
            *xy.T,
            c=values.to_numpy(dtype=float),
            s=size,
            alpha=alpha,
            cmap="viridis",
            rasterized=True,
            linewidths=0,
        )
        ax.figure.colorbar(art, ax=ax, label=values.name)


def _natural_key(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)
