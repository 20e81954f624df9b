"""Thin cuDF adapter: parse a CSV on the GPU (metadata to pandas, numeric block to CuPy).

Kept tiny on purpose: any cuDF failure returns None and the caller parses with pyarrow, which also
produces the precise error messages for bad files. tests/test_adapters.py exercises this code with a
pandas stand-in for ``cudf.read_csv`` (cuDF itself cannot be installed where the tests run).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gpu_moa import _backend


def read_csv_cudf(
    path: Path,
    names: Sequence[str],
    value_names: Sequence[str],
    *,
    delimiter: str,
    skip_rows: int,
) -> tuple[pd.DataFrame, Any] | None:
    """Return (string metadata as pandas, float32 CuPy block) or None when cuDF cannot do it."""
    cudf = _backend.import_cudf()
    values = set(value_names)
    dtype = {n: ("float32" if n in values else "str") for n in names}
    try:
        df = cudf.read_csv(
            str(path),
            names=list(names),
            header=None,
            skiprows=skip_rows,
            sep=delimiter,
            dtype=dtype,
        )
        if len(df) == 0:
            return None
        meta = df[[n for n in names if n not in values]].to_pandas()
        block = df[list(value_names)].to_cupy(dtype="float32", na_value=float("nan"))
    except Exception as exc:  # noqa: BLE001 - any cuDF failure falls back to the host parser
        _backend.log_backend("read_csv", "pyarrow", note=f"cuDF could not parse {path.name}: {exc}")
        return None
    _backend.log_backend("read_csv", "cudf", device="gpu", note=path.name)
    return meta, block
