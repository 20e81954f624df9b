"""pycytominer-style profile tables (CSV, CSV.gz, Parquet): metadata columns, then features.

A profile table has one row per well or signature. Its metadata columns are the ones whose name
starts with ``meta_prefix`` (pycytominer's ``Metadata_``), the ones L1000 and lish-moa name
without a prefix (``sig_id``, ``pert_id``, ``pert_iname``, ``cell_id``, ``pert_idose``,
``pert_itime``, ``cp_type``, ...) and any column that is not numeric; every other column is a
numeric (non-boolean) feature: CellProfiler's ``Image_`` measurements too, unlike pycytominer's
``infer_cp_features``, so drop them with ``gm.pp.feature_select(blocklist=...)`` where unwanted.
An optional label column holding ``label_sep``-joined MoAs becomes the
multi-hot scored labels ``Y``. :func:`write_profiles` writes the same layout back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path
from gpu_moa._validation import check_finite, check_unique, data_error
from gpu_moa.io._annotate import feature_var
from gpu_moa.profiles import Profiles, make_profiles

#: metadata columns L1000 (CMap) and lish-moa name without a prefix
KNOWN_METADATA = (
    "sig_id", "id", "distil_id", "pert_id", "pert_iname", "pert_type", "pert_dose",
    "pert_dose_unit", "pert_idose", "pert_time", "pert_time_unit", "pert_itime", "cell_id",
    "det_plate", "det_well", "rna_plate", "rna_well", "brew_prefix", "moa", "target",
    "cp_type", "cp_time", "cp_dose", "drug_id", "split",
)  # fmt: skip
#: leading bytes -> what the file holds (the suffix can lie: pycytominer may write plain text
#: to a ``.csv.gz`` name)
_MAGIC = {b"PAR1": "parquet", b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bz2"}


def _content(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _load(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise data_error(str(path), "file not found", "check the path and the file name")
    try:
        kind = _content(path)
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, compression=kind, low_memory=False)
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise data_error(
            str(path),
            f"not a readable CSV/CSV.gz/Parquet profile table ({exc})",
            "export the profiles with pycytominer (output_type='csv' or 'parquet')",
        ) from exc


def _split_labels(values: pd.Series, sep: str) -> tuple[np.ndarray, list[str]]:
    """Multi-hot (n x labels) float32 matrix and the sorted label names of joined label text."""
    text = values.astype("string").fillna("").reset_index(drop=True)
    items = text.str.split(sep, regex=False).explode().str.strip()
    items = items[items.fillna("") != ""]
    codes, names = pd.factorize(items, sort=True)
    Y = np.zeros((len(values), len(names)), dtype=np.float32)
    Y[items.index.to_numpy(), codes] = 1.0
    return Y, [str(n) for n in names]


def _join_labels(Y: np.ndarray, names: Sequence[str], sep: str) -> np.ndarray:
    """Each row's labels joined by ``sep`` (the inverse of :func:`_split_labels`)."""
    joined = np.full(Y.shape[0], "", dtype=object)
    for j, name in enumerate(names):  # one vectorised step per label
        on = Y[:, j]
        joined[on] = np.where(joined[on] == "", name, joined[on] + sep + name)
    return joined


def read_profiles(
    path: str | Path,
    *,
    meta_prefix: str = "Metadata_",
    labels: str | None = None,
    label_sep: str = "|",
    allow_nan: bool = False,
    device: str = "auto",
) -> Profiles:
    """Read a pycytominer-style profile table (CSV, CSV.gz or Parquet) into Profiles.

    Parameters
    ----------
    path : str or Path
        The table; Parquet is recognised by its content, anything else is read as CSV
        (compression from the suffix: ``.gz``, ``.zip``, ...).
    meta_prefix : str, default "Metadata_"
        Columns starting with it are metadata (``obs``), as are the L1000/lish-moa names in
        :data:`KNOWN_METADATA` and every non-numeric column.
    labels : str, optional
        A metadata column of MoA annotations, several joined by ``label_sep``; it becomes the
        multi-hot scored labels ``Y`` (label names sorted) and stays in ``obs``.
    label_sep : str, default "|"
        Separator of several labels in one cell.
    allow_nan : bool, default False
        Keep missing feature values (NaN), e.g. to drop them with
        :func:`gpu_moa.pp.feature_select`; by default they are an error.
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where ``X`` goes.

    Returns
    -------
    Profiles
        ``X`` float32 features in file order, ``obs`` the metadata (index ``sig_id``: the
        ``sig_id`` column when there is one, else the row number), ``Y`` when ``labels`` is given.

    Raises
    ------
    DataError
        For a missing or unreadable file, no feature column, a missing ``labels`` column,
        repeated sig_ids, or NaN/inf features (unless ``allow_nan``).
    """
    path = Path(path)
    frame = _load(path)
    features = profile_columns(frame, meta_prefix, exclude=(labels,))
    meta = frame.drop(columns=features)
    if not features:
        raise data_error(
            str(path),
            f"no numeric feature column among {len(frame.columns)} columns",
            f"features must be numbers; metadata columns start with {meta_prefix!r}",
        )
    if labels is not None and labels not in meta:
        raise data_error(
            str(path),
            f"no label column {labels!r}",
            f"choose labels= among the metadata columns {list(meta.columns)[:10]}",
        )
    if "sig_id" in meta:
        meta = meta.set_index("sig_id")
        meta.index = meta.index.astype("str")
        check_unique(meta.index.to_numpy(), "sig_id", str(path))
    else:
        meta.index = pd.Index([str(i) for i in range(len(meta))], name="sig_id")
    X = frame[features].to_numpy(dtype=np.float32)
    if not allow_nan:
        check_finite(X, features, meta.index, str(path))
    Y, names = _split_labels(meta[labels], label_sep) if labels is not None else (None, [])
    var = feature_var(features)
    if not all(f.startswith(("g-", "c-")) for f in features):
        var["kind"] = "feature"
    return make_profiles(X, meta, var, Y=Y, label_names=names, device=device)


def write_profiles(
    p: Profiles,
    path: str | Path,
    *,
    labels: str | None = None,
    label_sep: str = "|",
) -> Path:
    """Write Profiles as a pycytominer-style table, atomically: CSV(.gz) or Parquet by suffix.

    Parameters
    ----------
    p : Profiles
        The profiles; ``sig_id`` (the index), the ``obs`` columns and the features are written.
    path : str or Path
        ``.parquet``/``.pq`` writes Parquet; any other name CSV, compressed as its suffix says
        (``.csv.gz``).
    labels : str, optional
        Also write the scored labels ``Y`` as this column, each row's labels joined by
        ``label_sep`` (empty when it has none); read them back with ``read_profiles(...,
        labels=...)``.
    label_sep : str, default "|"
        Separator of several labels in one cell.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        When ``labels`` is given but the profiles have no labels, or it names an obs column.
    """
    path = Path(path)
    table = p.obs.copy()
    table.index = table.index.rename("sig_id")
    if labels is not None:
        if p.Y is None:
            raise data_error(str(path), "no labels to write", "drop labels= or load labels first")
        if labels in table:
            raise data_error(str(path), f"obs already has a column {labels!r}", "choose another")
        table[labels] = _join_labels(_backend.to_numpy(p.Y) > 0, p.label_names, label_sep)
    features = pd.DataFrame(_backend.to_numpy(p.X), index=table.index, columns=p.var_names)
    table = pd.concat([table, features], axis=1).reset_index()
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, compression=_compression(path))
    return path


def _compression(path: Path) -> str | None:
    return {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}.get(
        path.suffix.lower()
    )


def profile_columns(
    frame: pd.DataFrame, meta_prefix: str = "Metadata_", *, exclude: Sequence[str | None] = ()
) -> list[str]:
    """The feature columns of a profile table under :func:`read_profiles`' rule.

    Parameters
    ----------
    frame : pandas.DataFrame
        The whole table.
    meta_prefix : str, default "Metadata_"
        Prefix of the metadata column names.
    exclude : sequence of str, optional
        Further metadata columns (e.g. a numeric label column).

    Returns
    -------
    list of str
        Numeric, non-boolean columns that are neither prefixed, nor known L1000/lish-moa
        metadata, nor excluded.
    """
    return [
        str(c)
        for c in frame
        if not (str(c).startswith(meta_prefix) or c in KNOWN_METADATA or c in exclude)
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
