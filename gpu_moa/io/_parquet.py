"""Parquet storage of Profiles: one flat table (sig_id, obs, features, labels) plus gpu_moa metadata.

The file is a plain table any Parquet reader understands: the ``sig_id`` column, the ``obs``
columns, one float32 column per feature and one column per label (uint8, or float32 when some
labels are NaN, e.g. test rows). The schema metadata key ``gpu_moa`` lists which column is what;
``var`` and the pandas dtypes of ``obs`` are stored alongside so that :func:`read_lish_moa`
returns exactly the Profiles written (``X``, ``obs``, ``var``, labels; ``obsm``/``uns`` are not
stored). Parquet files from elsewhere load too when they use the lish-moa column names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path
from gpu_moa._validation import DataError, data_error
from gpu_moa.io import _checks
from gpu_moa.io._annotate import feature_var
from gpu_moa.io._arrow_matrix import ColumnMatrices
from gpu_moa.io._csv import to_matrix
from gpu_moa.profiles import Profiles

_KEY = b"gpu_moa"
_OBS_KEY = b"gpu_moa_obs_pandas"
_VAR_KEY = b"gpu_moa_var"


def _label_array(values: np.ndarray) -> pa.Array:
    binary = bool(((values == 0) | (values == 1)).all())
    return pa.array(values.astype(np.uint8) if binary else values.astype(np.float32))


def write_parquet(p: Profiles, path: str | Path, *, row_group_size: int = 65536) -> Path:
    """Write Profiles to one Parquet file, atomically.

    Parameters
    ----------
    p : Profiles
        Any Profiles; ``X``, ``obs``, ``var``, ``Y``/``Y_extra`` and the label names are stored.
    path : str or Path
        Output file (``.parquet``).
    row_group_size : int
        Rows per row group (the unit :func:`iter_parquet_chunks` streams).

    Returns
    -------
    Path
        ``path``.
    """
    obs = p.obs.copy()
    obs.index.name = obs.index.name or "sig_id"
    obs_table = pa.Table.from_pandas(obs, preserve_index=True)
    obs_names = [obs.index.name, *(n for n in obs_table.column_names if n != obs.index.name)]
    obs_table = obs_table.select(obs_names)
    X = np.asfortranarray(_backend.to_numpy(p.X), dtype=np.float32)
    arrays = list(obs_table.columns) + [pa.array(X[:, j]) for j in range(p.n_vars)]
    names = obs_names + p.var_names
    for Y, labels in ((p.Y, p.label_names), (p.Y_extra, p.extra_label_names)):
        if Y is not None:
            block = np.asfortranarray(_backend.to_numpy(Y))
            arrays += [_label_array(block[:, j]) for j in range(len(labels))]
            names += list(labels)
    if len(set(names)) != len(names):
        dups = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"column names are used twice (obs, features, labels): {dups[:5]}")
    var_sink = pa.BufferOutputStream()
    var_table = pa.Table.from_pandas(p.var, preserve_index=True)
    with pa.ipc.new_stream(var_sink, var_table.schema) as writer:
        writer.write_table(var_table)
    layout = {
        "version": 1,
        "sig_id": obs.index.name,
        "obs": obs_names,
        "features": p.var_names,
        "labels": list(p.label_names) if p.Y is not None else None,
        "extra_labels": list(p.extra_label_names) if p.Y_extra is not None else None,
    }
    metadata = {
        _KEY: json.dumps(layout).encode(),
        _OBS_KEY: obs_table.schema.metadata[b"pandas"],
        _VAR_KEY: var_sink.getvalue().to_pybytes(),
    }
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(metadata)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size)
    return Path(path)


def _layout(schema: pa.Schema, path: Path) -> dict[str, Any]:
    """The stored layout, or one inferred from lish-moa column names for foreign files."""
    meta = schema.metadata or {}
    names = list(schema.names)
    if _KEY in meta:
        try:
            layout = json.loads(meta[_KEY])
            wanted = [layout["sig_id"], *layout["obs"], *layout["features"]]
            wanted += [*(layout.get("labels") or ()), *(layout.get("extra_labels") or ())]
        except (ValueError, KeyError, TypeError):
            raise data_error(
                str(path), "its gpu_moa layout metadata is damaged", "regenerate the file"
            ) from None
        _checks.require_columns(names, wanted, str(path))
        return layout
    features = _checks.feature_names(names, path)
    _checks.require_columns(names, ("sig_id",), str(path))
    obs = [
        n for n in names if n in ("sig_id", *_checks.FEATURE_META, "drug_id", "split", "training")
    ]
    numeric = {
        f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    }
    labels = [n for n in names if n not in set(obs) | set(features) and n in numeric]
    return {"sig_id": "sig_id", "obs": obs, "features": features, "labels": labels or None}


def _numeric_features(schema: pa.Schema, features: list[str], path: Path) -> None:
    """Raise when a feature column does not hold numbers (a foreign file with text in it)."""
    for name in features:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            raise data_error(
                f"{path}, column {name!r}",
                f"a feature column of type {kind}, not numbers",
                "feature columns must hold numbers only; convert or drop that column",
            )


def _read_obs(table: pa.Table, layout: dict[str, Any], schema: pa.Schema) -> pd.DataFrame:
    sub = table.select(layout["obs"])
    stored = (schema.metadata or {}).get(_OBS_KEY)
    if stored is not None:
        return sub.replace_schema_metadata({b"pandas": stored}).to_pandas()
    obs = sub.to_pandas().set_index(layout["sig_id"])
    if "split" not in obs and "training" in obs:
        obs["split"] = np.where(
            obs.pop("training").astype(str).isin(["1", "True"]), "train", "test"
        )
    return obs


def _read_var(schema: pa.Schema, features: list[str]) -> pd.DataFrame:
    stored = (schema.metadata or {}).get(_VAR_KEY)
    if stored is None:
        return feature_var(features)
    return pa.ipc.open_stream(stored).read_all().to_pandas()


@contextmanager
def _unreadable(path: Path) -> Iterator[None]:
    """Turn pyarrow, thrift, JSON and IPC errors of a damaged file into one DataError."""
    try:
        yield
    except DataError:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise
        raise data_error(
            str(path),
            f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:120]})",
            "the file is truncated or corrupt; re-download or regenerate it",
        ) from None


def _check_obs(obs: pd.DataFrame, path: Path) -> np.ndarray:
    """Validate sig_ids and cp_type/cp_time/cp_dose; return the training-row mask."""
    _checks.sig_index(pd.DataFrame({"sig_id": obs.index}), path)
    allowed = {
        "cp_type": _checks.CP_TYPES,
        "cp_time": _checks.CP_TIMES,
        "cp_dose": _checks.CP_DOSES,
    }
    for column, values in allowed.items():
        if column in obs:
            _checks.check_obs_values(obs[column], values, column, path)
    return (obs["split"] != "test").to_numpy() if "split" in obs else np.ones(len(obs), bool)


def read_parquet_parts(path: Path, split: str) -> list[dict[str, Any]]:
    """Read and validate a Parquet file into one "part" for :func:`_lish_moa.assemble`.

    Rows keep their stored order; ``split`` selects rows by ``obs["split"]`` (all rows count
    as training rows when there is no such column). Test rows' labels may be NaN. Threads build
    the feature and label matrices from the Arrow columns (:class:`ColumnMatrices`) while
    ``obs`` is read and checked.
    """
    with _unreadable(path):
        pf = pq.ParquetFile(path, memory_map=True, pre_buffer=False)
    with pf:
        with _unreadable(path):
            schema = pf.schema_arrow
            layout = _layout(schema, path)
            obs_table = pf.read(columns=layout["obs"], use_threads=False)
        features = layout["features"]
        _numeric_features(schema, features, path)
        blocks = {"X": features}
        for key, stored in (("scored", "labels"), ("extra", "extra_labels")):
            if split != "test" and layout.get(stored) is not None:
                blocks[key] = layout[stored]
        with ColumnMatrices(pf, blocks) as matrices:
            with _unreadable(path):
                obs = _read_obs(obs_table, layout, schema)
                var = _read_var(schema, features)
            is_train = _check_obs(obs, path)
            rows = {"train": is_train, "test": ~is_train, "all": np.ones(len(obs), bool)}[split]
            if not rows.any():
                raise data_error(str(path), f"no {split} rows", "ask for another split")
            with _unreadable(path):
                facts = matrices.finish()
    whole = bool(rows.all())
    obs = obs if whole else obs[rows]
    train_rows = is_train if whole else is_train[rows]
    part: dict[str, Any] = {"obs": obs, "features": features, "var": var}
    for key, values in matrices.values.items():
        values = values if whole else values[rows]
        bounded, binary = facts[key]
        if key == "X":
            if not bounded:
                _checks.check_features(values, features, obs.index, path)
            part["X"] = values
        else:
            if not binary:  # (binary: every stored byte was 0 or 1)
                keep = slice(None) if train_rows.all() else train_rows
                _checks.check_labels(values[keep], blocks[key], obs.index[keep], path)
            part[key] = (values, blocks[key])
    return [part]


def iter_parquet_chunks(
    path: str | Path, *, chunk_rows: int = 65536
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream a Parquet file's features without loading it whole.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_parquet` (or with lish-moa column names).
    chunk_rows : int
        Rows per yielded block (row groups are read as needed).

    Yields
    ------
    sig_ids : numpy.ndarray of str, shape (m,)
    block : numpy.ndarray of float32, shape (m, n_features)
        Host arrays; move them with :func:`gpu_moa.to_device`.
    """
    path = Path(path)
    pf = pq.ParquetFile(path)
    layout = _layout(pf.schema_arrow, path)
    features = layout["features"]
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=[layout["sig_id"], *features]):
        table = pa.Table.from_batches([batch])
        ids = table.column(0).to_numpy(zero_copy_only=False).astype(str)
        yield ids, to_matrix(table.select(features))
