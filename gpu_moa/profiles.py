"""Profiles: a matrix of signatures (rows) x features (genes, cell lines) with its metadata."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend

#: treatment type of a vehicle control, as lish-moa's ``cp_type`` and L1000's ``pert_type`` spell it
CONTROL_TYPE = "ctl_vehicle"
#: every control type starts with this (L1000 also has ``ctl_untrt``, ``ctl_vector``, ...)
CONTROL_PREFIX = "ctl_"
#: obs columns holding the treatment type, in order of preference (lish-moa, then L1000)
TYPE_COLUMNS = ("cp_type", "pert_type")
#: obs columns identifying the drug (perturbagen), in order of preference (lish-moa, then L1000)
DRUG_COLUMNS = ("drug_id", "pert_id")
VAR_COLUMNS = ("kind", "symbol", "entrez_id", "ccle_name")


@dataclasses.dataclass(frozen=True, eq=False)
class Profiles:
    """Signatures as rows, features as columns, metadata in pandas.

    Attributes
    ----------
    X : array, shape (n_obs, n_vars)
        float32 responses in the device namespace (NumPy on the CPU, CuPy on a GPU).
    obs : pandas.DataFrame
        One row per signature, index ``sig_id``: cp_type, cp_time, cp_dose, drug_id, split
        (lish-moa), or the CMap sample metadata (pert_iname, cell_id, ...).
    var : pandas.DataFrame
        One row per feature, index = the column name: kind ("gene"/"cell"), symbol, entrez_id,
        ccle_name.
    Y, Y_extra : array or None, shape (n_obs, n_labels)
        Scored and non-scored binary MoA labels (float32, same namespace as ``X``).
    label_names, extra_label_names : list of str
        Column names of ``Y`` and ``Y_extra``.
    obsm : dict of str -> array
        Row-aligned matrices such as embeddings (``X_pca``, ``X_umap``).
    uns : dict
        Anything else (PCA loadings, planted truth, provenance).

    Profiles are immutable: functions return new objects (``dataclasses.replace`` / :meth:`replace`).
    """

    X: Any
    obs: pd.DataFrame
    var: pd.DataFrame
    Y: Any = None
    Y_extra: Any = None
    label_names: list[str] = dataclasses.field(default_factory=list)
    extra_label_names: list[str] = dataclasses.field(default_factory=list)
    obsm: dict[str, Any] = dataclasses.field(default_factory=dict)
    uns: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n, p = self.X.shape
        if len(self.obs) != n:
            raise ValueError(f"obs has {len(self.obs)} rows but X has {n}")
        if len(self.var) != p:
            raise ValueError(f"var has {len(self.var)} rows but X has {p} columns")
        for name, arr, names in (
            ("Y", self.Y, self.label_names),
            ("Y_extra", self.Y_extra, self.extra_label_names),
        ):
            if arr is not None:
                if arr.shape[0] != n:
                    raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n}")
                if arr.shape[1] != len(names):
                    raise ValueError(f"{name} has {arr.shape[1]} columns but {len(names)} names")
        for key, arr in self.obsm.items():
            if arr.shape[0] != n:
                raise ValueError(f"obsm[{key!r}] has {arr.shape[0]} rows but X has {n}")

    # ---------------------------------------------------------------- basic facts
    @property
    def n_obs(self) -> int:
        """Number of signatures (rows)."""
        return int(self.X.shape[0])

    @property
    def n_vars(self) -> int:
        """Number of features (columns)."""
        return int(self.X.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(n_obs, n_vars)."""
        return (self.n_obs, self.n_vars)

    @property
    def xp(self) -> ModuleType:
        """The array namespace of ``X``."""
        return _backend.get_namespace(self.X)

    @property
    def device(self) -> str:
        """ "gpu" when ``X`` is a CuPy array, else "cpu"."""
        return _backend.device_of(self.X)

    @property
    def sig_ids(self) -> np.ndarray:
        """Row identifiers as a NumPy array."""
        return self.obs.index.to_numpy()

    @property
    def var_names(self) -> list[str]:
        """Feature (column) names."""
        return [str(v) for v in self.var.index]

    # ---------------------------------------------------------------- domain vocabulary
    @property
    def type_column(self) -> str | None:
        """The obs column holding the treatment type (``cp_type``, else ``pert_type``), or None."""
        return next((c for c in TYPE_COLUMNS if c in self.obs), None)

    @property
    def drug_column(self) -> str | None:
        """The obs column identifying the drug (``drug_id``, else ``pert_id``), or None."""
        return next((c for c in DRUG_COLUMNS if c in self.obs), None)

    @property
    def is_control(self) -> np.ndarray:
        """Host boolean mask of the control rows: the one rule every module applies.

        A row is a control when its treatment type (:attr:`type_column`: lish-moa's
        ``cp_type``, else L1000's ``pert_type``) starts with ``"ctl_"`` (``ctl_vehicle``,
        L1000's ``ctl_untrt``, ...). Without a treatment-type column no row is a control: such
        profiles (a GCT of signatures, a table of consensus signatures) are all treated.
        """
        column = self.type_column
        if column is None:
            return np.zeros(self.n_obs, dtype=bool)
        values = self.obs[column].astype("string")
        return values.str.startswith(CONTROL_PREFIX).fillna(False).to_numpy(dtype=bool)

    def drug_codes(self, *others: Profiles) -> np.ndarray:
        """Integer code of each row's drug (:attr:`drug_column`), shared with ``others``' rows.

        Equal drugs get equal non-negative codes across ``self`` and ``others``. A row whose drug
        is unknown (no drug column, a missing or empty id) gets a negative code of its own, so it
        is never taken for the same drug as another row.

        Parameters
        ----------
        *others : Profiles
            Further profiles coded in the same code space (e.g. a reference library).

        Returns
        -------
        numpy.ndarray of int64
            Codes of the rows of ``self`` followed by those of each of ``others``.
        """
        parts = []
        for p in (self, *others):
            column = p.drug_column
            ids = p.obs[column] if column is not None else pd.Series([None] * p.n_obs)
            parts.append(ids.astype("string").str.strip().replace("", pd.NA).reset_index(drop=True))
        codes, _ = pd.factorize(pd.concat(parts, ignore_index=True), use_na_sentinel=True)
        codes = codes.astype(np.int64)
        unknown = codes < 0
        codes[unknown] = -2 - np.arange(int(unknown.sum()))
        return codes

    @property
    def labels(self) -> pd.DataFrame | None:
        """Scored labels as a host pandas DataFrame (index sig_id), or None.

        Labels are int8 0/1; where some are unknown (test rows read with ``split="all"``, stored as
        NaN) the columns use pandas' nullable ``Int8`` dtype with ``<NA>`` for those rows.
        """
        if self.Y is None:
            return None
        values = _backend.to_numpy(self.Y)
        frame = pd.DataFrame(values, index=self.obs.index, columns=self.label_names)
        return frame.astype("Int8" if np.isnan(values).any() else np.int8)

    def __repr__(self) -> str:
        kinds = self.var["kind"].value_counts().to_dict() if "kind" in self.var else {}
        parts = [
            f"Profiles with n_obs x n_vars = {self.n_obs} x {self.n_vars} on "
            f"{_backend.backend_name(self.xp)}"
        ]
        if kinds:
            parts.append("    features: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
        parts.append("    obs: " + ", ".join(map(str, self.obs.columns)))
        if self.Y is not None:
            parts.append(f"    Y: {len(self.label_names)} scored labels")
        if self.Y_extra is not None:
            parts.append(f"    Y_extra: {len(self.extra_label_names)} non-scored labels")
        if self.obsm:
            parts.append("    obsm: " + ", ".join(self.obsm))
        if self.uns:
            parts.append("    uns: " + ", ".join(self.uns))
        return "\n".join(parts)

    # ---------------------------------------------------------------- derivation
    def replace(self, **changes: Any) -> Profiles:
        """Return a copy with some fields replaced (obsm/uns dicts are shallow-copied)."""
        changes.setdefault("obsm", dict(self.obsm))
        changes.setdefault("uns", dict(self.uns))
        return dataclasses.replace(self, **changes)

    def __getitem__(self, rows: Any) -> Profiles:
        """Row subset by slice, boolean mask, integer positions or a list of sig_ids."""
        pos = self._row_positions(rows)

        def sub(a: Any) -> Any:
            return None if a is None else _backend.take_rows(a, pos)

        return dataclasses.replace(
            self,
            X=sub(self.X),
            obs=self.obs.iloc[pos],
            Y=sub(self.Y),
            Y_extra=sub(self.Y_extra),
            obsm={k: sub(v) for k, v in self.obsm.items()},
            uns=dict(self.uns),
        )

    def _row_positions(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice):
            return np.arange(self.n_obs)[rows]
        if isinstance(rows, pd.Series):
            rows = rows.to_numpy()
        arr = _backend.to_numpy(rows) if not isinstance(rows, list | tuple) else np.asarray(rows)
        if arr.dtype == bool:
            if arr.shape != (self.n_obs,):
                raise IndexError(f"boolean mask has shape {arr.shape}, expected ({self.n_obs},)")
            return np.flatnonzero(arr)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64)
        pos = self.obs.index.get_indexer(arr)
        if (pos < 0).any():
            missing = arr[pos < 0][:5].tolist()
            raise KeyError(f"sig_id(s) not found: {missing}")
        return pos

    def select_vars(self, cols: Any) -> Profiles:
        """Column subset by boolean mask, integer positions or feature names."""
        arr = np.asarray(cols)
        if arr.dtype == bool:
            pos = np.flatnonzero(arr)
        elif arr.dtype.kind in "iu":
            pos = arr.astype(np.int64)
        else:
            pos = self.var.index.get_indexer(arr)
            if (pos < 0).any():
                raise KeyError(f"feature(s) not found: {arr[pos < 0][:5].tolist()}")
        return self.replace(X=_backend.take_cols(self.X, pos), var=self.var.iloc[pos])

    @property
    def genes(self) -> Profiles:
        """The gene-expression columns only."""
        return self.select_vars(self.var["kind"].to_numpy() == "gene")

    @property
    def cells(self) -> Profiles:
        """The cell-viability columns only."""
        return self.select_vars(self.var["kind"].to_numpy() == "cell")

    def to(self, device: str | ModuleType) -> Profiles:
        """Move every array to another device or array namespace.

        Parameters
        ----------
        device : str or module
            ``"cpu"``, ``"gpu"``, ``"auto"``, ``"array_api_strict"`` or
            ``"array_api_strict:device1"`` (the GPU stand-in of the tests), or a namespace.

        Returns
        -------
        Profiles
            A copy whose X, Y, Y_extra and obsm arrays live there (copies counted by
            :func:`gpu_moa.track_transfers`).
        """

        def mv(a: Any) -> Any:
            return None if a is None else _backend.to_device(a, device)

        return dataclasses.replace(
            self,
            X=mv(self.X),
            Y=mv(self.Y),
            Y_extra=mv(self.Y_extra),
            obsm={k: mv(v) for k, v in self.obsm.items()},
            uns=dict(self.uns),
        )

    def to_frame(self, *, labels: bool = False, library: str = "auto") -> Any:
        """The features (and optionally labels) as one table indexed by sig_id.

        ``library="auto"`` gives cuDF when ``X`` is on a GPU and cuDF is installed, else pandas.
        """
        frame = pd.concat(
            [
                self.obs,
                pd.DataFrame(
                    _backend.to_numpy(self.X), index=self.obs.index, columns=self.var_names
                ),
            ],
            axis=1,
        )
        if labels and self.Y is not None:
            frame = pd.concat([frame, self.labels], axis=1)
        if labels and self.Y_extra is not None:
            extra = pd.DataFrame(
                _backend.to_numpy(self.Y_extra).astype(np.int8),
                index=self.obs.index,
                columns=self.extra_label_names,
            )
            frame = pd.concat([frame, extra], axis=1)
        if library == "cudf" or (
            library == "auto" and self.device == "gpu" and _backend.has_cudf()
        ):
            return _backend.import_cudf().from_pandas(frame)
        return frame

    def to_anndata(self) -> Any:
        """These profiles as an ``anndata.AnnData`` (needs the optional ``anndata`` package).

        ``X`` (float32, on the host), ``obs``, ``var`` and ``obsm`` map one to one; the scored and
        non-scored labels become the DataFrames ``obsm["labels"]`` and ``obsm["labels_extra"]``
        (int8 columns named by label) and ``uns`` keeps the entries AnnData can store.

        Returns
        -------
        anndata.AnnData
            A host copy; :func:`gpu_moa.io.read_h5ad` and :func:`gpu_moa.io.from_anndata` read
            it back.

        Raises
        ------
        ImportError
            When anndata is not installed (the message gives the install command).
        """
        try:
            anndata = importlib.import_module("anndata")
        except ImportError as exc:
            raise ImportError(
                "Profiles.to_anndata needs anndata: pip install 'gpu_moa[anndata]'"
            ) from exc
        obsm = {k: _backend.to_numpy(v) for k, v in self.obsm.items()}
        for key, Y, names in (
            ("labels", self.Y, self.label_names),
            ("labels_extra", self.Y_extra, self.extra_label_names),
        ):
            if Y is not None:
                obsm[key] = pd.DataFrame(
                    np.nan_to_num(_backend.to_numpy(Y)).astype(np.int8),
                    index=self.obs.index.astype(str),
                    columns=list(names),
                )
        obs = self.obs.copy()
        obs.index = obs.index.astype(str)
        var = self.var.copy()
        var.index = var.index.astype(str)
        return anndata.AnnData(
            X=np.asarray(_backend.to_numpy(self.X), dtype=np.float32),
            obs=obs,
            var=var,
            obsm=obsm,
            uns={k: v for k, v in self.uns.items() if isinstance(v, str | int | float | dict)},
        )


def make_profiles(
    X: Any,
    obs: pd.DataFrame,
    var: pd.DataFrame | Sequence[str],
    *,
    Y: Any = None,
    label_names: Sequence[str] = (),
    Y_extra: Any = None,
    extra_label_names: Sequence[str] = (),
    device: str | ModuleType | None = None,
    uns: dict[str, Any] | None = None,
) -> Profiles:
    """Build :class:`Profiles` from host data, casting X and labels to float32 on ``device``.

    ``var`` may be a list of feature names; the kind is then inferred from the ``g-``/``c-`` prefix.
    ``device`` is a request (``"auto"``, ``"cpu"``, ``"gpu"``, ``"array_api_strict:device1"``; default
    the ``gm.settings.device``) or an array namespace.
    """
    if not isinstance(var, pd.DataFrame):
        names = [str(v) for v in var]
        var = pd.DataFrame(
            {"kind": ["cell" if n.startswith("c-") else "gene" for n in names]},
            index=pd.Index(names, name="feature"),
        )

    def as_f32(a: Any) -> Any:
        if a is None:
            return None
        host = np.ascontiguousarray(_backend.to_numpy(a), dtype=np.float32)
        return _backend.to_device(host, device)

    return Profiles(
        X=as_f32(X),
        obs=obs,
        var=var,
        Y=as_f32(Y),
        Y_extra=as_f32(Y_extra),
        label_names=list(label_names),
        extra_label_names=list(extra_label_names),
        uns=dict(uns or {}),
    )


def label_strings(Y: Any, rows: Any, names: Sequence[str], sep: str = "|") -> np.ndarray:
    """The positive labels of some rows of a 0/1 device matrix, joined with ``sep`` per row.

    Only the selected rows' positive (row, label) pairs come to the host (labels are sparse),
    never the label matrix; repeated rows are looked up once.

    Parameters
    ----------
    Y : array, shape (n, K)
        0/1 labels in any namespace (values above 0.5 count as positive).
    rows : array-like of int
        Row positions to describe, repeats allowed.
    names : sequence of str
        The K label names.
    sep : str, default "|"
        Separator between a row's labels.

    Returns
    -------
    numpy.ndarray of object, shape (len(rows),)
        One string per requested row, "" for a row without a positive label.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.full(0, "", dtype=object)
    uniq, inverse = np.unique(rows, return_inverse=True)
    xp = _backend.get_namespace(Y)
    hit, label = xp.nonzero(_backend.take_rows(Y, uniq) > 0.5)
    hit, label = _backend.to_numpy(hit), _backend.to_numpy(label)
    joined = np.full(len(uniq), "", dtype=object)
    if hit.size:  # nonzero lists pairs row by row, labels in column order
        text = pd.Series(np.asarray(names, dtype=object)[label]).groupby(hit).agg(sep.join)
        joined[text.index.to_numpy()] = text.to_numpy()
    return joined[inverse.reshape(-1)]
