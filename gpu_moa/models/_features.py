"""Model features from profiles: raw, rank-Gauss, rank-Gauss plus PCA, with cp_time/cp_dose one-hot.

:class:`MoaFeatures` is fitted on a training fold only (rank-Gauss quantiles, PCA axes, the
categories of the one-hot columns) and applied to any other rows; its state is plain arrays plus
a JSON-able spec, so a trained model can be saved and reloaded anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.profiles import Profiles

FEATURE_KINDS = ("raw", "rank_gauss", "rank_gauss+pca")
#: obs columns turned into one-hot indicators when present
ONE_HOT_COLUMNS = ("cp_time", "cp_dose")


class MoaFeatures:
    """Feature builder: fit on training profiles, transform any profiles to a device matrix.

    Parameters
    ----------
    kind : {"raw", "rank_gauss", "rank_gauss+pca"}
        ``raw``: the responses as they are. ``rank_gauss``: every column mapped to normal scores
        through its training quantiles (:func:`gpu_moa.pp.rank_gauss_fit`).
        ``rank_gauss+pca``: rank-Gauss columns plus the first principal components of the genes
        and of the cells (fitted separately on the rank-Gauss training data) appended.
    n_quantiles : int
        Quantiles of the rank-Gauss transform.
    n_pca_genes, n_pca_cells : int
        Principal components appended for ``rank_gauss+pca`` (capped by the block sizes).

    Notes
    -----
    ``cp_time`` and ``cp_dose`` (when in ``obs``) are appended as one-hot columns, one per value
    seen in the training rows.
    """

    def __init__(
        self,
        kind: str = "rank_gauss",
        *,
        n_quantiles: int = 100,
        n_pca_genes: int = 50,
        n_pca_cells: int = 15,
    ) -> None:
        if kind not in FEATURE_KINDS:
            raise ValueError(f"features must be one of {FEATURE_KINDS}, got {kind!r}")
        self.kind = kind
        self.n_quantiles = n_quantiles
        self.n_pca_genes = n_pca_genes
        self.n_pca_cells = n_pca_cells
        self.var_names_: list[str] = []
        self.categories_: dict[str, list[Any]] = {}
        self.arrays_: dict[str, Any] = {}

    # ---------------------------------------------------------------- fit / transform
    def fit(self, p: Profiles) -> MoaFeatures:
        """Learn quantiles, PCA axes and one-hot categories from the (training) profiles."""
        from gpu_moa import pp, tl

        self.var_names_ = p.var_names
        self.categories_ = {
            c: sorted(p.obs[c].unique().tolist()) for c in ONE_HOT_COLUMNS if c in p.obs
        }
        self.arrays_ = {}
        if self.kind == "raw":
            return self
        self.arrays_["quantiles"] = pp.rank_gauss_fit(p.X, n_quantiles=self.n_quantiles)
        if self.kind == "rank_gauss+pca":
            R = pp.rank_gauss_apply(p.X, self.arrays_["quantiles"])
            for name, cols, k in self._pca_blocks(p):
                Xb = _backend.take_cols(R, cols)
                fit = tl.pca_fit(Xb, n_comps=min(k, *Xb.shape))
                self.arrays_[f"pca_{name}_mean"] = fit.mean_
                self.arrays_[f"pca_{name}_components"] = fit.components_
        return self

    def _pca_blocks(self, p: Profiles) -> list[tuple[str, np.ndarray, int]]:
        kinds = p.var["kind"].to_numpy() if "kind" in p.var else np.full(p.n_vars, "gene")
        blocks = [("genes", kinds == "gene", self.n_pca_genes)]
        blocks.append(("cells", kinds == "cell", self.n_pca_cells))
        return [(n, np.flatnonzero(m), k) for n, m, k in blocks if m.any() and k > 0]

    def transform(self, p: Profiles) -> Any:
        """The feature matrix of ``p`` (float32, in ``p``'s namespace).

        Raises
        ------
        DataError
            When ``p`` has other features than the training profiles.
        """
        from gpu_moa import pp

        if p.var_names != self.var_names_:
            raise data_error(
                "features",
                f"the profiles have {p.n_vars} features that differ from the {len(self.var_names_)} "
                "the model was trained on",
                "load data with the same feature columns (g-0..g-771, c-0..c-99) as the training set",
            )
        xp = p.xp
        X = xp.astype(p.X, xp.float32)
        parts = [X]
        if self.kind != "raw":
            q = _backend.to_device(self.arrays_["quantiles"], X)
            parts = [xp.astype(pp.rank_gauss_apply(X, q), xp.float32)]
        for name, cols, _ in self._pca_blocks(p) if self.kind == "rank_gauss+pca" else []:
            mean = xp.astype(_backend.to_device(self.arrays_[f"pca_{name}_mean"], X), xp.float32)
            comps = _backend.to_device(self.arrays_[f"pca_{name}_components"], X)
            block = _backend.take_cols(parts[0], cols) - mean
            parts.append(xp.matmul(block, xp.astype(comps, xp.float32).T))
        parts.append(_backend.to_device(self._one_hot(p), X))
        return xp.concat(parts, axis=1)

    def fit_transform(self, p: Profiles) -> Any:
        """``fit(p)`` then ``transform(p)``."""
        return self.fit(p).transform(p)

    def _one_hot(self, p: Profiles) -> np.ndarray:
        cols = []
        for c, cats in self.categories_.items():
            if c not in p.obs:
                raise data_error(
                    "features", f"obs has no {c!r} column", f"load data with the {c} column"
                )
            values = p.obs[c].to_numpy()
            cols += [(values == v).astype(np.float32) for v in cats]
        return np.stack(cols, axis=1) if cols else np.zeros((p.n_obs, 0), np.float32)

    @property
    def feature_names_(self) -> list[str]:
        """Names of the output columns."""
        names = (
            list(self.var_names_) if self.kind == "raw" else [f"rg:{v}" for v in self.var_names_]
        )
        for key, arr in self.arrays_.items():
            if key.endswith("_components"):
                block = key.split("_")[1]
                names += [f"pca_{block}_{i}" for i in range(arr.shape[0])]
        names += [f"{c}={v}" for c, cats in self.categories_.items() for v in cats]
        return names

    # ---------------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A JSON-able spec and host arrays that :meth:`from_state` turns back into this object."""
        spec = {
            "kind": self.kind,
            "n_quantiles": self.n_quantiles,
            "n_pca_genes": self.n_pca_genes,
            "n_pca_cells": self.n_pca_cells,
            "var_names": list(self.var_names_),
            "categories": {c: [_plain(v) for v in cats] for c, cats in self.categories_.items()},
        }
        return spec, {k: _backend.to_numpy(v) for k, v in self.arrays_.items()}

    @classmethod
    def from_state(cls, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> MoaFeatures:
        """Rebuild fitted features from :meth:`get_state` output (arrays stay on the host)."""
        obj = cls(
            spec["kind"],
            n_quantiles=spec["n_quantiles"],
            n_pca_genes=spec["n_pca_genes"],
            n_pca_cells=spec["n_pca_cells"],
        )
        obj.var_names_ = list(spec["var_names"])
        obj.categories_ = {c: list(v) for c, v in spec["categories"].items()}
        obj.arrays_ = dict(arrays)
        return obj


def _plain(v: Any) -> Any:
    """NumPy scalars to Python scalars (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v
