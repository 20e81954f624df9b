"""Vectorised validation of lish-moa tables: metadata values, features, labels, row alignment.

Each check raises :class:`~gpu_moa._validation.DataError` naming the file, the column or row and
the fix. The fast path tests a whole column or block at once; the location of the first offender
is looked up only when a check fails.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import (
    MAX_ABS_FEATURE,
    _preview,
    _short,
    check_allowed,
    check_binary,
    check_finite,
    check_unique,
    data_error,
    require_columns,
)
from gpu_moa.profiles import CONTROL_TYPE

CP_TYPES = ("trt_cp", CONTROL_TYPE)
CP_TIMES = (24, 48, 72)
CP_DOSES = ("D1", "D2")
FEATURE_META = ("sig_id", "cp_type", "cp_time", "cp_dose")


def feature_names(columns: Sequence[str], where: str | Path) -> list[str]:
    """The ``g-``/``c-`` feature columns of a header, in file order; raise when there are none."""
    names = [c for c in columns if c.startswith(("g-", "c-"))]
    near = [c for c in columns if c not in names and c.strip().lower().startswith(("g-", "c-"))]
    if near:
        warnings.warn(
            f"{where}: {len(near)} column(s) look like features but are not named exactly "
            f"g-.../c-... (case or spaces): {_preview(near)}; they are ignored. Rename them "
            "(e.g. strip spaces, lower-case the prefix) to use them",
            UserWarning,
            stacklevel=3,
        )
    if not names:
        raise data_error(
            str(where),
            f"no feature columns: none of the {len(columns)} column names starts with 'g-' "
            "(gene expression) or 'c-' (cell viability)",
            "pass a lish-moa features file (sig_id, cp_type, cp_time, cp_dose, g-0.., c-0..) "
            "or rename the feature columns",
        )
    return names


def check_obs_values(column: pd.Series, allowed: Sequence[Any], name: str, path: Path) -> None:
    """Raise when a metadata column holds values outside ``allowed`` (compared as text)."""
    text = column.astype("str")
    bad = ~text.isin([str(a) for a in allowed]).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        values = text[bad].fillna("<empty>").unique()
        check_allowed(
            values, [str(a) for a in allowed], name, f"{path} (first at line {first + 2})"
        )


def sig_index(meta: pd.DataFrame, path: Path) -> pd.Index:
    """The ``sig_id`` column as a unique, non-empty index."""
    ids = meta["sig_id"]
    empty = ids.isna().to_numpy()
    if empty.any():
        raise data_error(
            f"{path}, line {int(np.flatnonzero(empty)[0]) + 2}",
            "empty sig_id",
            "every row needs an identifier in the sig_id column",
        )
    index = pd.Index(ids.to_numpy(), name="sig_id", dtype="str")
    if not index.is_unique:
        check_unique(index.to_numpy(), "sig_id", str(path))
    return index


def build_obs(meta: pd.DataFrame, path: Path, split: str) -> pd.DataFrame:
    """Validate cp_type/cp_time/cp_dose and return obs (index sig_id) with drug_id NaN."""
    require_columns(list(meta.columns), FEATURE_META, str(path))
    index = sig_index(meta, path)
    for name, allowed in (("cp_type", CP_TYPES), ("cp_time", CP_TIMES), ("cp_dose", CP_DOSES)):
        check_obs_values(meta[name], allowed, name, path)
    obs = pd.DataFrame(
        {
            "cp_type": meta["cp_type"].to_numpy(),
            "cp_time": meta["cp_time"].to_numpy().astype(np.int64),
            "cp_dose": meta["cp_dose"].to_numpy(),
            "drug_id": np.full(len(index), np.nan, dtype=object),
            "split": split,
        },
        index=index,
    )
    return obs.astype({"cp_type": "str", "cp_dose": "str", "drug_id": "str", "split": "str"})


def check_features(values: Any, names: Sequence[str], sig_ids: pd.Index, path: Path) -> None:
    """Raise on NaN/inf or a magnitude float32 statistics cannot hold (beyond
    :data:`~gpu_moa._validation.MAX_ABS_FEATURE`) anywhere in the (host or device) feature block."""
    xp = _backend.get_namespace(values)
    if math.prod(values.shape) == 0:
        return
    # fast path: two reductions, no temporary; NaN fails both comparisons, as does +/-inf
    if float(xp.max(values)) <= MAX_ABS_FEATURE and float(xp.min(values)) >= -MAX_ABS_FEATURE:
        return
    check_finite(_backend.to_numpy(values), list(names), sig_ids, str(path))


def check_labels(values: np.ndarray, names: Sequence[str], sig_ids: pd.Index, path: Path) -> None:
    """Raise unless every label is 0 or 1 (NaN counts as non-binary)."""
    # every non-zero entry (NaN included) must equal 1
    if np.count_nonzero(values) != np.count_nonzero(values == 1):
        check_binary(values, list(names), sig_ids, str(path))


def align_rows(ids: pd.Index, expected: pd.Index, path: Path, reference: str) -> np.ndarray | None:
    """Positions that reorder ``ids`` to ``expected`` (None when already equal).

    Raises when the two sets of sig_ids differ, naming the missing and the extra ones.
    """
    if ids.equals(expected):
        return None
    missing = expected.difference(ids)
    extra = ids.difference(expected)
    if len(missing) or len(extra):
        parts = []
        if len(missing):
            parts.append(
                f"{len(missing)} sig_id(s) of {reference} missing (e.g. {_short(missing[0])})"
            )
        if len(extra):
            parts.append(f"{len(extra)} sig_id(s) not in {reference} (e.g. {_short(extra[0])})")
        raise data_error(
            str(path),
            "sig_ids do not match the features: " + "; ".join(parts),
            f"the file needs exactly one row per row of {reference}, with the same sig_ids; "
            "regenerate it from the same data",
        )
    return ids.get_indexer(expected)


def read_targets(table: Any, expected: pd.Index, reference: str) -> np.ndarray:
    """Validate a targets table (sig_id + 0/1 columns) and return labels aligned to ``expected``."""
    path = table.path
    require_columns(list(table.meta.columns), ("sig_id",), str(path))
    ids = sig_index(table.meta, path)
    values = _backend.to_numpy(table.values)
    check_labels(values, table.value_names, ids, path)
    order = align_rows(ids, expected, path, reference)
    return values if order is None else values[order]


def attach_drugs(obs: pd.DataFrame, table: Any, reference: str) -> pd.DataFrame:
    """Return obs with drug_id filled from a train_drug table (sig_id, drug_id)."""
    path = table.path
    require_columns(list(table.meta.columns), ("sig_id", "drug_id"), str(path))
    ids = sig_index(table.meta, path)
    drugs = table.meta["drug_id"].to_numpy()
    order = align_rows(ids, obs.index, path, reference)
    obs = obs.copy()
    obs["drug_id"] = pd.array(drugs if order is None else drugs[order], dtype="str")
    return obs
