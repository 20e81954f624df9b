"""Scatter plots of embeddings (PCA, UMAP) coloured by sample metadata."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from gpu_moa import _backend
from gpu_moa.pl._common import new_figure, scatter_by
from gpu_moa.profiles import Profiles

_AXIS_NAMES = {"X_pca": "PC", "X_umap": "UMAP"}
_TITLES = {"X_pca": "PCA", "X_umap": "UMAP"}


def _axis_label(p: Profiles, basis: str, comp: int) -> str:
    name = f"{_AXIS_NAMES.get(basis, basis.removeprefix('X_'))}{comp + 1}"
    if basis == "X_pca" and "pca" in p.uns:
        ratio = float(_backend.to_numpy(p.uns["pca"]["variance_ratio"])[comp])
        name += f" ({100 * ratio:.1f}% of variance)"
    return name


def embedding(
    p: Profiles,
    *,
    basis: str = "X_pca",
    color: str | Sequence[str] = ("cp_dose", "cp_time", "cp_type"),
    components: tuple[int, int] = (0, 1),
    size: float | None = None,
    alpha: float = 0.5,
) -> Figure:
    """Scatter of two embedding coordinates, one panel per ``obs`` column used as colour.

    Parameters
    ----------
    p : Profiles
        With ``obsm[basis]`` (run :func:`gpu_moa.tl.pca` / :func:`gpu_moa.tl.umap` first).
    basis : str, default "X_pca"
        Key of ``obsm``: "X_pca", "X_umap"...
    color : str or sequence of str
        ``obs`` columns; few distinct values are drawn as categories, others on a colour bar.
    components : (int, int), default (0, 1)
        Coordinates plotted (0-based).
    size : float, optional
        Marker size (default: smaller for more points).
    alpha : float, default 0.5

    Returns
    -------
    matplotlib.figure.Figure
    """
    if basis not in p.obsm:
        raise KeyError(
            f"obsm[{basis!r}] is missing (available: {sorted(p.obsm) or 'none'}); "
            "run gm.tl.pca(p) or gm.tl.umap(p) first"
        )
    colors = [color] if isinstance(color, str) else list(color)
    missing = [c for c in colors if c not in p.obs]
    if missing:
        raise KeyError(f"obs has no column(s) {missing}; available: {list(p.obs.columns)}")
    xy = _backend.to_numpy(p.obsm[basis])[:, list(components)].astype(np.float64)
    size = size if size is not None else float(np.clip(30000 / max(len(xy), 1), 1.0, 20.0))
    fig, axes = new_figure(1, len(colors), size=(5.5 * len(colors), 5))
    for ax, col in zip(axes[0], colors, strict=True):
        scatter_by(ax, xy, p.obs[col], size=size, alpha=alpha)
        ax.set_xlabel(_axis_label(p, basis, components[0]))
        ax.set_ylabel(_axis_label(p, basis, components[1]))
        ax.set_title(f"{_TITLES.get(basis, basis)} coloured by {col}")
    return fig


def pca(
    p: Profiles, *, color: str | Sequence[str] = ("cp_dose", "cp_time", "cp_type"), **kwargs: object
) -> Figure:
    """PCA scatter coloured by dose, time and type (the original analysis's figure): ``embedding(basis="X_pca")``.

    Parameters
    ----------
    p : Profiles
        With ``obsm["X_pca"]``.
    color : str or sequence of str
        ``obs`` columns, one panel each.
    **kwargs
        Passed to :func:`embedding` (components, size, alpha).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return embedding(p, basis="X_pca", color=color, **kwargs)


def umap(
    p: Profiles, *, color: str | Sequence[str] = ("cp_dose", "cp_time", "cp_type"), **kwargs: object
) -> Figure:
    """UMAP scatter coloured by ``obs`` columns: ``embedding(basis="X_umap")``.

    Parameters
    ----------
    p : Profiles
        With ``obsm["X_umap"]``.
    color : str or sequence of str
        ``obs`` columns, one panel each.
    **kwargs
        Passed to :func:`embedding` (components, size, alpha).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return embedding(p, basis="X_umap", color=color, **kwargs)
