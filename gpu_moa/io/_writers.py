"""Atomic CSV writers: the Kaggle lish-moa layout, the annotated single CSV, the submission file."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path
from gpu_moa._validation import check_unique, data_error, require_columns
from gpu_moa.io._annotate import annotated_name
from gpu_moa.io._checks import check_labels
from gpu_moa.profiles import Profiles

LAYOUTS = ("kaggle", "annotated")
ANNOTATED_FILE = "lish_moa_annotated"


def _header(names: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue().encode("utf-8")


def _needs_quotes(table: pa.Table) -> bool:
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if pc.any(pc.match_substring_regex(col, '[,"\r\n]')).as_py():
                return True
    return False


def _write_table(fh: BinaryIO, columns: dict[str, Any]) -> None:
    """Header as a plain CSV row, body by pyarrow; strings quoted only where they must be."""
    fh.write(_header(list(columns)))
    table = pa.table({f"{i}": col for i, col in enumerate(columns.values())})
    quoting = "needed" if _needs_quotes(table) else "none"
    pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style=quoting))


def write_csv_file(path: Path, columns: dict[str, Any], *, compress: bool = False) -> Path:
    """Write named columns as one CSV (``name.csv`` or ``name.csv.zip``) atomically."""
    target = path.with_name(path.name + ".zip") if compress else path
    with atomic_path(target) as tmp:
        if compress:
            with (
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
                zf.open(path.name, "w") as fh,
            ):
                _write_table(fh, columns)
        else:
            with open(tmp, "wb") as fh:
                _write_table(fh, columns)
    return target


@contextmanager
def staging_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield a hidden directory inside ``out_dir``; on success move its files into ``out_dir``.

    Each file is renamed over its target (per-file atomic); on failure nothing is moved, the
    staging directory is removed, and ``out_dir`` is removed again if this call created it.
    """
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gpu_moa-staging-", dir=out))
    try:
        yield tmp
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def _features(p: Profiles, decimals: int | None) -> np.ndarray:
    """Host float32 features, rounded to ``decimals`` so the shortest repr is compact."""
    X = _backend.to_numpy(p.X)
    if decimals is not None:
        X = np.round(X.astype(np.float64), decimals).astype(np.float32)
    return np.asfortranarray(X, dtype=np.float32)


def _labels(Y: Any, names: Sequence[str], p: Profiles, where: str) -> np.ndarray:
    values = _backend.to_numpy(Y)
    check_labels(values, names, p.obs.index, where)
    return np.asfortranarray(values.astype(np.int8))


def _meta(p: Profiles, where: str) -> dict[str, Any]:
    require_columns(list(p.obs.columns), ("cp_type", "cp_time", "cp_dose"), where)
    obs = p.obs
    return {
        "sig_id": obs.index.to_numpy(dtype=object).astype(str),
        "cp_type": obs["cp_type"].to_numpy(dtype=object),
        "cp_time": obs["cp_time"].to_numpy(dtype=np.int64),
        "cp_dose": obs["cp_dose"].to_numpy(dtype=object),
    }


def _drug_ids(p: Profiles) -> pa.Array:
    if "drug_id" not in p.obs:
        return pa.nulls(p.n_obs, pa.string())
    ids = p.obs["drug_id"]
    return pa.array(ids.to_numpy(dtype=object), type=pa.string(), mask=ids.isna().to_numpy())


def _columns(names: Sequence[str], block: np.ndarray) -> dict[str, Any]:
    return {n: block[:, j] for j, n in enumerate(names)}


def write_lish_moa(
    train: Profiles,
    out_dir: str | Path,
    *,
    test: Profiles | None = None,
    layout: str = "kaggle",
    compress: bool = False,
    decimals: int | None = 4,
) -> dict[str, Path]:
    """Write Profiles in the lish-moa file layout, atomically.

    Parameters
    ----------
    train : Profiles
        Training rows with cp_type/cp_time/cp_dose (and drug_id) in ``obs``, labels in ``Y``
        (and ``Y_extra``).
    out_dir : str or Path
        Directory to write into (created if needed).
    test : Profiles, optional
        Test rows with the same features; adds ``test_features`` and ``sample_submission``.
        When omitted, rows of ``train`` whose ``obs["split"]`` is "test" (as from
        ``read_lish_moa(..., split="all")``) are written as the test set.
    layout : {"kaggle", "annotated"}
        "kaggle": train_features, train_targets_scored, train_targets_nonscored (when
        ``Y_extra``), train_drug, test_features, sample_submission (scored columns all 0.5).
        "annotated": one ``lish_moa_annotated.csv`` with a ``training`` flag, genes named
        ``g-<SYMBOL>_<ENTREZ>``, cells ``c-<N>-<CCLE_NAME>``, drug_id, then the label columns
        (empty for test rows).
    compress : bool
        Write ``.csv.zip`` files (each holding one CSV, fast deflate level 1) instead of ``.csv``.
    decimals : int or None
        Features are rounded to this many decimals (compact files); None keeps full float32.

    Returns
    -------
    dict of str -> Path
        The written files by role (``"train_features"``, ...).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if test is None and "split" in train.obs and (train.obs["split"] == "test").any():
        is_test = (train.obs["split"] == "test").to_numpy()
        train, test = train[~is_test], train[is_test]
    if test is not None and test.var_names != train.var_names:
        raise ValueError("test must have the same features (var names, in order) as train")
    tables = (_kaggle_tables if layout == "kaggle" else _annotated_tables)(train, test, decimals)
    written: dict[str, Path] = {}
    out = Path(out_dir)
    with staging_dir(out) as tmp:
        for stem, columns in tables.items():
            written[stem] = (
                out / write_csv_file(tmp / f"{stem}.csv", columns, compress=compress).name
            )
    for path in written.values():
        stale = path.with_suffix("") if compress else path.with_name(path.name + ".zip")
        stale.unlink(missing_ok=True)
    return written


def _kaggle_tables(
    train: Profiles, test: Profiles | None, decimals: int | None
) -> dict[str, dict[str, Any]]:
    tables = {
        "train_features": {
            **_meta(train, "train Profiles.obs"),
            **_columns(train.var_names, _features(train, decimals)),
        }
    }
    ids = {"sig_id": tables["train_features"]["sig_id"]}
    for stem, Y, names in (
        ("train_targets_scored", train.Y, train.label_names),
        ("train_targets_nonscored", train.Y_extra, train.extra_label_names),
    ):
        if Y is not None:
            tables[stem] = {**ids, **_columns(names, _labels(Y, names, train, stem))}
    if "drug_id" in train.obs:
        tables["train_drug"] = {**ids, "drug_id": _drug_ids(train)}
    if test is not None:
        meta = _meta(test, "test Profiles.obs")
        tables["test_features"] = {**meta, **_columns(test.var_names, _features(test, decimals))}
        half = np.full(test.n_obs, 0.5)
        tables["sample_submission"] = {
            "sig_id": meta["sig_id"],
            **{n: half for n in train.label_names},
        }
    return tables


def _annotated_tables(
    train: Profiles, test: Profiles | None, decimals: int | None
) -> dict[str, dict[str, Any]]:
    parts = [train] if test is None else [train, test]
    meta = [_meta(p, "Profiles.obs") for p in parts]
    n_train = train.n_obs
    columns: dict[str, Any] = {
        "sig_id": np.concatenate([m["sig_id"] for m in meta]),
        "training": np.repeat(
            np.array([1, 0], dtype=np.int8)[: len(parts)], [p.n_obs for p in parts]
        ),
    }
    for key in ("cp_type", "cp_time", "cp_dose"):
        columns[key] = np.concatenate([m[key] for m in meta])
    columns["drug_id"] = pa.concat_arrays([_drug_ids(p) for p in parts])
    check_unique(columns["sig_id"], "sig_id (across train and test)", "write_lish_moa")
    X = np.concatenate([_features(p, decimals) for p in parts])
    columns.update(_columns([annotated_name(n) for n in train.var_names], np.asfortranarray(X)))
    mask = np.arange(len(columns["sig_id"])) >= n_train
    for Y, names in ((train.Y, train.label_names), (train.Y_extra, train.extra_label_names)):
        if Y is None:
            continue
        labels = _labels(Y, names, train, "train labels")
        padded = np.zeros((len(mask), len(names)), dtype=np.int8)
        padded[:n_train] = labels
        columns.update({n: pa.array(padded[:, j], mask=mask) for j, n in enumerate(names)})
    if len(columns) != len(set(columns)):
        raise data_error("write_lish_moa", "label names collide with other columns", "rename them")
    return {ANNOTATED_FILE: columns}


def write_submission(
    proba: Any,
    sig_ids: Sequence[str],
    label_names: Sequence[str],
    path: str | Path,
    *,
    controls: Any = None,
) -> Path:
    """Write predicted probabilities in the competition's submission format, atomically.

    Parameters
    ----------
    proba : array, shape (n, n_labels)
        Probabilities in [0, 1] (any namespace; copied to the host).
    sig_ids : sequence of str
        Row identifiers, unique.
    label_names : sequence of str
        The scored label columns, in the competition's order.
    path : str or Path
        Output CSV (``sig_id`` then the label columns).
    controls : array of bool, optional
        Rows that are controls (:attr:`Profiles.is_control`); they are written as 0.

    Raises
    ------
    DataError
        On a shape mismatch, duplicate sig_ids, or values outside [0, 1] (NaN included).
    """
    P = _backend.to_numpy(proba)
    P = P.astype(np.float32) if P.dtype not in (np.float32, np.float64) else P.copy()
    ids = np.asarray(sig_ids, dtype=object).astype(str)
    names = [str(n) for n in label_names]
    if P.ndim != 2 or P.shape != (len(ids), len(names)):
        raise data_error(
            "write_submission",
            f"probabilities have shape {P.shape}, expected ({len(ids)}, {len(names)}) "
            "(rows = sig_ids, columns = label_names)",
            "pass one row per sig_id and one column per scored label",
        )
    check_unique(ids, "sig_id", "write_submission")
    bad = ~((P >= 0) & (P <= 1))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise data_error(
            f"write_submission, row {ids[r]!r}, column {names[c]!r}",
            f"{int(bad.sum())} value(s) outside [0, 1] or NaN (first: {P[r, c]!r})",
            "pass probabilities (e.g. np.clip(p, 0, 1)) and impute missing predictions",
        )
    if controls is not None:
        P[np.asarray(_backend.to_numpy(controls), dtype=bool)] = 0
    return write_csv_file(Path(path), {"sig_id": ids, **_columns(names, np.asfortranarray(P))})
