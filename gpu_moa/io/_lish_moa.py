"""Read lish-moa data: the Kaggle directory, the annotated single CSV, or gpu_moa's Parquet."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.io import _checks
from gpu_moa.io._annotate import feature_var, kaggle_name, label_sets
from gpu_moa.io._csv import read_csv, read_header
from gpu_moa.io._parquet import read_parquet_parts
from gpu_moa.io._sniff import sniff
from gpu_moa.profiles import Profiles

SPLITS = ("train", "test", "all")
_ANNOTATED_META = ("sig_id", "training", "cp_type", "cp_time", "cp_dose", "drug_id")
_TRAINING_VALUES = {"1": True, "0": False, "true": True, "false": False}


def read_lish_moa(path: str | Path, *, device: str = "auto", split: str = "train") -> Profiles:
    """Load and validate lish-moa data into :class:`~gpu_moa.Profiles`.

    Parameters
    ----------
    path : str or Path
        One of: the Kaggle directory (``train_features``, ``train_targets_scored``, optional
        ``train_targets_nonscored``, optional ``train_drug``, ``test_features``; each ``.csv`` or
        ``.csv.zip``); the annotated single CSV (a ``training`` flag column, genes
        ``g-<SYMBOL>_<ENTREZ>``, cells ``c-<N>-<CCLE_NAME>``, label columns last); or a Parquet
        file written by :func:`gpu_moa.io.write_parquet`.
    device : {"auto", "cpu", "gpu"}
        Where ``X`` and the labels go. With "gpu" (or "auto" on a GPU machine) and cuDF
        installed, cuDF parses the CSVs.
    split : {"train", "test", "all"}
        Training rows (with labels), test rows (``Y`` is None) or both; with "all", the labels
        of the test rows are NaN and ``obs["split"]`` says which row is which.

    Returns
    -------
    Profiles
        ``obs`` (index sig_id): cp_type, cp_time (int), cp_dose, drug_id (NaN where unknown),
        split. ``var`` (index: Kaggle feature id ``g-N``/``c-N``): kind, symbol, entrez_id,
        ccle_name. ``Y``/``Y_extra``: scored/non-scored labels as float32 0/1.

    Raises
    ------
    DataError
        For any invalid input; the message names the file, the column or row and the fix.

    Warns
    -----
    UserWarning
        When ``train_drug`` is absent (drug_id is then NaN and drug-grouped CV is impossible).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    xp = _backend.resolve_xp(device)
    with _backend.timed_step("read_lish_moa", xp, note=f"{path.name}, split={split}"):
        profiles = assemble(
            _read_parts(path, split, _backend.is_cupy_namespace(xp) and _backend.has_cudf()), device
        )
    return profiles.replace(uns={"source": str(path)})


def _read_parts(path: Path, split: str, gpu: bool) -> list[dict[str, Any]]:
    """Validated train/test parts of any supported form (see :func:`assemble`)."""
    kind = sniff(path)
    if kind == "lish_moa_dir":
        return [_read_kaggle_part(path, s, gpu) for s in ("train", "test") if split in (s, "all")]
    if kind == "parquet":
        return read_parquet_parts(path, split)
    if kind in ("gct", "gctx"):
        raise data_error(
            str(path),
            f"a CMap {kind.upper()} file, not lish-moa data",
            "read it with gm.io.read (or gm.io.read_gct / read_gctx)",
        )
    return _read_annotated(path, split, gpu)


def _find(folder: Path, stem: str, *, required: bool) -> Path | None:
    # anything of that name (a directory or a pipe is reported as such by the CSV reader)
    found = [folder / n for n in (f"{stem}.csv", f"{stem}.csv.zip") if (folder / n).exists()]
    if len(found) == 2:
        warnings.warn(
            f"{folder}: both {stem}.csv and {stem}.csv.zip exist; reading {stem}.csv "
            "(remove one of them if they differ)",
            UserWarning,
            stacklevel=4,
        )
    if found:
        return found[0]
    if required:
        raise data_error(
            str(folder / f"{stem}.csv"),
            "file not found (nor a .csv.zip of it)",
            f"put {stem}.csv (or {stem}.csv.zip) in {folder}, or pass split='train'/'test' to "
            "read only the part you have",
        )
    return None


def _read_kaggle_part(folder: Path, split: str, gpu: bool) -> dict[str, Any]:
    features_path = _find(folder, f"{split}_features", required=True)
    columns = read_header(features_path)
    names = _checks.feature_names(columns, features_path)
    _checks.require_columns(columns, _checks.FEATURE_META, str(features_path))
    table = read_csv(features_path, names, gpu=gpu)
    obs = _checks.build_obs(table.meta, features_path, split)
    _checks.check_features(table.values, names, obs.index, features_path)
    part: dict[str, Any] = {"X": table.values, "obs": obs, "features": names}
    if split == "test":
        return part
    reference = features_path.name
    for key, stem, required in (
        ("scored", "train_targets_scored", True),
        ("extra", "train_targets_nonscored", False),
    ):
        target_path = _find(folder, stem, required=required)
        if target_path is not None:
            labels = [c for c in read_header(target_path) if c != "sig_id"]
            targets = read_csv(target_path, labels, integers=True)
            part[key] = (_checks.read_targets(targets, obs.index, reference), labels)
    drug_path = _find(folder, "train_drug", required=False)
    if drug_path is None:
        warnings.warn(
            f"{folder}: train_drug.csv not found; drug_id is NaN, so drug-grouped "
            "cross-validation and per-drug consensus are unavailable",
            UserWarning,
            stacklevel=3,
        )
    else:
        part["obs"] = _checks.attach_drugs(obs, read_csv(drug_path, []), reference)
    return part


def _read_annotated(path: Path, split: str, gpu: bool) -> list[dict[str, Any]]:
    columns = read_header(path)
    if "training" not in columns and path.name.startswith(("train_", "test_")):
        raise data_error(
            str(path),
            "one file of the Kaggle layout was given, not the data set",
            f"pass the directory that holds it ({path.parent})",
        )
    _checks.require_columns(columns, [c for c in _ANNOTATED_META if c != "drug_id"], str(path))
    features = _checks.feature_names(columns, path)
    labels = [c for c in columns if c not in _ANNOTATED_META and c not in set(features)]
    table = read_csv(path, features + labels, gpu=gpu)
    flag = table.meta["training"].str.lower().map(_TRAINING_VALUES)
    if flag.isna().any():
        _checks.check_allowed(
            table.meta["training"][flag.isna()].unique(), ["0", "1"], "training", path
        )
    flag = flag.to_numpy(dtype=bool)
    kaggle = [kaggle_name(n) for n in features]
    _checks.check_unique(kaggle, "feature (after mapping annotated names to Kaggle ids)", str(path))
    block = _backend.to_numpy(table.values) if labels else None
    sets = label_sets()
    extra_names = [n for n in labels if sets.get(n) == "nonscored"]
    scored_names = [n for n in labels if sets.get(n) != "nonscored"]
    obs_all = _checks.build_obs(table.meta, path, "train")
    obs_all["split"] = pd.array(np.where(flag, "train", "test"), dtype="str")
    if "drug_id" in table.meta:
        obs_all["drug_id"] = pd.array(table.meta["drug_id"].to_numpy(), dtype="str")
    parts = []
    for name, rows in (("train", flag), ("test", ~flag)):
        if split not in (name, "all") or not rows.any():
            continue
        pos = np.flatnonzero(rows)
        obs = obs_all.iloc[pos]
        X = _backend.take_rows(table.values[:, : len(features)], pos)
        _checks.check_features(X, kaggle, obs.index, path)
        part: dict[str, Any] = {"X": X, "obs": obs, "features": kaggle}
        if name == "train" and block is not None:
            for key, chosen in (("scored", scored_names), ("extra", extra_names)):
                if chosen:
                    cols = [len(features) + labels.index(n) for n in chosen]
                    Y = block[np.ix_(pos, cols)]
                    _checks.check_labels(Y, chosen, obs.index, path)
                    part[key] = (Y, chosen)
        parts.append(part)
    if not parts:
        raise data_error(
            str(path),
            f"no {split} rows (training flag {'1' if split == 'train' else '0'})",
            "check the training column, or ask for another split",
        )
    return parts


def assemble(parts: list[dict[str, Any]], device: str) -> Profiles:
    """Join train/test parts (same features) into one Profiles on ``device`` (a request);
    test labels are NaN."""
    xp = _backend.resolve_xp(device)
    features = parts[0]["features"]
    for part in parts[1:]:
        if part["features"] != features:
            raise data_error(
                "test features",
                "the test file's feature columns differ from the training file's",
                "both files need the same g-/c- columns in the same order",
            )
    obs = pd.concat([p["obs"] for p in parts])
    if not obs.index.is_unique:
        _checks.check_unique(
            obs.index.to_numpy(), "sig_id (across train and test)", "lish-moa data"
        )
    X = [_backend.to_device(p["X"], device) for p in parts]
    X = X[0] if len(X) == 1 else xp.concat(X, axis=0)
    arrays: dict[str, Any] = {}
    for key in ("scored", "extra"):
        train = next((p for p in parts if key in p), None)
        if train is None:
            continue
        names = train[key][1]
        blocks = [
            p[key][0] if key in p else np.full((len(p["obs"]), len(names)), np.nan, np.float32)
            for p in parts
        ]
        Y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        arrays[key] = (_backend.to_device(Y.astype(np.float32, copy=False), X), names)
    scored = arrays.get("scored", (None, []))
    extra = arrays.get("extra", (None, []))
    return Profiles(
        X=X,
        obs=obs,
        var=parts[0]["var"] if "var" in parts[0] else feature_var(features),
        Y=scored[0],
        label_names=list(scored[1]),
        Y_extra=extra[0],
        extra_label_names=list(extra[1]),
    )
