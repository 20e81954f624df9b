"""Input checks that turn bad data into actionable errors.

Every message says what was received (file, column, row), what was expected and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class DataError(ValueError):
    """Input data that gpu_moa cannot use; the message names the file/column/row and the fix."""


def data_error(where: str, problem: str, fix: str) -> DataError:
    """Build a :class:`DataError` with the standard "where: problem. Fix: ..." wording."""
    return DataError(f"{where}: {problem}. Fix: {fix}")


def _preview(items: Iterable[Any], n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(_short(i) for i in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def require_columns(columns: Sequence[str], required: Iterable[str], where: str) -> None:
    """Raise when any of ``required`` is missing from ``columns``."""
    present = set(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise data_error(
            where,
            f"missing required column(s) {_preview(missing)}",
            "check that this is the right file and that its header row is intact",
        )


def group_columns(obs: Any, by: str | Sequence[str], where: str) -> list[str]:
    """The obs column(s) named by ``by`` (one name or several) as a list; raise when missing."""
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in obs]
    if missing:
        raise data_error(
            where, f"obs has no column(s) {missing}", f"choose by= among {list(obs.columns)}"
        )
    return cols


#: the largest feature magnitude accepted: float32 keeps about 7 digits and overflows at 3.4e38,
#: so a sum of squares (a variance, a norm, a logistic fit) over values beyond 1e15 overflows or
#: swamps every ordinary value
MAX_ABS_FEATURE = 1e15


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a plain Python form of ``value`` (no ``np.str_(...)``), cut to ``limit``."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"


def check_finite(
    values: np.ndarray, columns: Sequence[str], row_ids: Sequence[Any], where: str
) -> None:
    """Raise on NaN, +/-inf or a magnitude above :data:`MAX_ABS_FEATURE` in a host matrix,
    naming the first bad row and column."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values)
        huge = ~bad & (np.abs(values) > MAX_ABS_FEATURE)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(values[r, c]) else "infinite value"
        raise data_error(
            where,
            f"{int(bad.sum())} NaN/inf feature value(s); first: {kind} in column "
            f"{_short(columns[c])} at row {_short(row_ids[r])}",
            "impute or drop those rows before loading (e.g. DataFrame.dropna()), "
            "or regenerate the file",
        )
    if huge.any():
        r, c = np.argwhere(huge)[0]
        raise data_error(
            where,
            f"{int(huge.sum())} feature value(s) beyond +/-{MAX_ABS_FEATURE:g}, which float32 "
            f"statistics cannot hold; first: {float(values[r, c]):g} in column "
            f"{_short(columns[c])} at row {_short(row_ids[r])}",
            "check the file for a corrupted or mis-scaled value (e.g. a missing-value code "
            "such as 1e20) and fix or drop that row, or rescale the column",
        )


def check_magnitude_array(x: Any, name: str) -> None:
    """Raise a :class:`DataError` when a (device) array holds a value beyond
    :data:`MAX_ABS_FEATURE` in magnitude (two reductions, no temporary)."""
    from gpu_moa._backend import get_namespace

    xp = get_namespace(x)
    if x.size == 0:
        return
    hi, lo = float(xp.max(x)), float(xp.min(x))
    if max(hi, -lo) > MAX_ABS_FEATURE:
        raise data_error(
            name,
            f"a value of {hi if hi > -lo else lo:g} is beyond +/-{MAX_ABS_FEATURE:g}, which "
            "float32 statistics cannot hold",
            "fix or drop the rows with extreme values, or rescale the columns",
        )


def require_treated(p: Any, where: str) -> None:
    """Raise when every row of the profiles ``p`` is a control (nothing to model or compare)."""
    if p.n_obs and bool(p.is_control.all()):
        raise data_error(
            where,
            f"all {p.n_obs} training rows are vehicle controls; MoA models "
            "and drug comparisons need treated rows",
            "include the treated (trt_cp) rows in the data",
        )


def check_unique(ids: Sequence[Any], what: str, where: str) -> None:
    """Raise when identifiers repeat."""
    arr = np.asarray(ids, dtype=object)
    uniq, counts = np.unique(arr.astype(str), return_counts=True)
    dup = uniq[counts > 1]
    if dup.size:
        raise data_error(
            where,
            f"duplicate {what} {_preview(dup)}",
            f"each {what} must appear once; remove or rename the duplicated rows",
        )


def check_allowed(values: Iterable[Any], allowed: Iterable[Any], column: str, where: str) -> None:
    """Raise when a categorical column holds values outside ``allowed``."""
    allowed_set = set(allowed)
    seen = list(dict.fromkeys(values))
    bad = [v for v in seen if v not in allowed_set]
    if bad:
        raise data_error(
            where,
            f"column {column!r} has unknown value(s) {_preview(bad)}; expected one of "
            f"{sorted(map(str, allowed_set))}",
            f"correct or drop the rows with other {column} values",
        )


def check_binary(
    values: np.ndarray, columns: Sequence[str], row_ids: Sequence[Any], where: str
) -> None:
    """Raise when a label matrix holds anything but 0 and 1."""
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise data_error(
            where,
            f"label column {_short(columns[c])} has non-binary value {_short(values[r, c])} at "
            f"row {_short(row_ids[r])}",
            "labels must be 0 or 1; fix or re-export the targets file",
        )


def check_no_nan_array(x: Any, name: str) -> None:
    """Raise a :class:`DataError` when a (device) array contains NaN or inf."""
    from gpu_moa._backend import get_namespace

    xp = get_namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        n_bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise data_error(
            name,
            f"{n_bad} NaN/inf value(s) in the input",
            "impute or drop those rows/columns first (e.g. with pandas dropna or fillna)",
        )
