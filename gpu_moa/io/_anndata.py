"""AnnData (``.h5ad``) in and out, through the optional ``anndata`` package.

Profiles map onto AnnData one to one (see :meth:`gpu_moa.Profiles.to_anndata`): ``X``, ``obs``,
``var`` and ``obsm``; the labels travel as the DataFrames ``obsm["labels"]`` and
``obsm["labels_extra"]``. An AnnData made elsewhere (scanpy, pycytominer's ``anndata`` output)
reads too: a sparse ``X`` is made dense, labels are taken from ``obsm[labels_key]`` when present.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa._atomic import atomic_path
from gpu_moa._validation import check_finite, data_error
from gpu_moa.profiles import Profiles, make_profiles

INSTALL_HINT = "install the optional extra: pip install 'gpu_moa[anndata]'"


def _anndata() -> ModuleType:
    try:
        return importlib.import_module("anndata")
    except ImportError as exc:
        raise ImportError(f"AnnData support needs anndata: {INSTALL_HINT}") from exc


def _labels(obsm: Any, key: str, n: int) -> tuple[Any, list[str]]:
    if key not in obsm:
        return None, []
    block = obsm[key]
    names = [str(c) for c in getattr(block, "columns", range(np.shape(block)[1]))]
    values = np.asarray(block, dtype=np.float32).reshape(n, len(names))
    return values, names


def from_anndata(
    adata: Any, *, labels_key: str = "labels", where: str = "AnnData", device: str = "auto"
) -> Profiles:
    """Profiles from an ``anndata.AnnData``.

    Parameters
    ----------
    adata : anndata.AnnData
        Observations as rows; ``X`` dense or sparse.
    labels_key : str, default "labels"
        ``obsm`` entry holding the scored labels (a DataFrame or matrix of 0/1); the non-scored
        ones are read from ``labels_key + "_extra"``.
    where : str, default "AnnData"
        Name of the source in error messages.
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where ``X`` goes.

    Returns
    -------
    Profiles
        ``obs`` indexed by ``sig_id`` (the obs names), ``var``, labels and the other ``obsm``
        entries.

    Raises
    ------
    DataError
        When ``X`` has NaN/inf values.
    """
    X = adata.X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = np.asarray(X, dtype=np.float32)
    obs = pd.DataFrame(adata.obs).copy()
    obs.index = pd.Index(obs.index.astype(str), name="sig_id")
    check_finite(X, list(map(str, adata.var_names)), obs.index, where)
    var = pd.DataFrame(adata.var).copy()
    var.index = pd.Index(var.index.astype(str), name="feature")
    if "kind" not in var:
        var["kind"] = "feature"
    Y, names = _labels(adata.obsm, labels_key, len(obs))
    Y_extra, extra = _labels(adata.obsm, f"{labels_key}_extra", len(obs))
    p = make_profiles(
        X, obs, var, Y=Y, label_names=names, Y_extra=Y_extra, extra_label_names=extra,
        device=device,
    )  # fmt: skip
    others = {k: np.asarray(v) for k, v in adata.obsm.items() if not k.startswith(labels_key)}
    return p.replace(obsm={k: p.xp.asarray(v) for k, v in others.items()}, uns=dict(adata.uns))


def read_h5ad(path: str | Path, *, labels_key: str = "labels", device: str = "auto") -> Profiles:
    """Read an ``.h5ad`` file (AnnData) into Profiles.

    Parameters
    ----------
    path : str or Path
        The file.
    labels_key : str, default "labels"
        ``obsm`` entry of the scored labels (see :func:`from_anndata`).
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where ``X`` goes.

    Returns
    -------
    Profiles
        As :func:`from_anndata` makes them.

    Raises
    ------
    DataError
        When the file is missing or holds NaN/inf values.
    ImportError
        When anndata is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise data_error(str(path), "file not found", "check the path")
    adata = _anndata().read_h5ad(path)
    return from_anndata(adata, labels_key=labels_key, where=str(path), device=device)


def write_h5ad(p: Profiles, path: str | Path) -> Path:
    """Write Profiles to an ``.h5ad`` file through :meth:`Profiles.to_anndata`.

    Parameters
    ----------
    p : Profiles
        The profiles.
    path : str or Path
        Output file.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        p.to_anndata().write_h5ad(tmp)
    return Path(path)
