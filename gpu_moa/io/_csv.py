"""Fast, validated CSV parsing: a float32 block for the numeric columns, strings for the rest.

pyarrow parses the file (multi-threaded); the numeric columns become one row-major float32
matrix. When pyarrow rejects the file, a slow pure-Python scan of the same bytes finds the line
and column at fault so the :class:`DataError` can name them. ``.csv.zip`` files are read from
their single member. With ``gpu=True`` and cuDF installed, cuDF parses the file instead.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from gpu_moa import _backend
from gpu_moa._validation import DataError, data_error

_BLOCK_SIZE = 4 << 20
#: rows converted per step into the row-major block (small enough to stay in cache)
_TENSOR_ROWS = 1024
_COLUMN_RE = re.compile(r"CSV column #(\d+)")


@dataclass(frozen=True)
class CsvTable:
    """A parsed CSV: string metadata columns and a float32 block of the numeric columns."""

    path: Path
    meta: pd.DataFrame
    values: Any
    value_names: list[str]

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(self.meta)


def _missing_file(path: Path) -> DataError:
    if path.exists():  # a directory, a pipe or a device: say what it is
        what = "a directory" if path.is_dir() else "not a regular file (a pipe, socket or device)"
        return data_error(str(path), f"{what}, expected a CSV file", "pass the CSV file itself")
    return data_error(
        str(path),
        "file not found",
        "check the path; a lish-moa directory holds train_features.csv (or .csv.zip), "
        "train_targets_scored.csv, train_drug.csv and test_features.csv",
    )


def _payload(path: Path) -> bytes | None:
    """The decompressed bytes of a ``.zip`` file's CSV member, or None for a plain file."""
    if path.suffix.lower() != ".zip":
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise data_error(
                    str(path),
                    f"the zip archive holds {len(members)} files, expected exactly one CSV",
                    "zip each CSV on its own (e.g. `zip train_features.csv.zip train_features.csv`)",
                )
            return zf.read(members[0])
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise data_error(  # corrupt, truncated, encrypted or an unsupported compression method
            str(path),
            f"not a readable zip archive ({type(exc).__name__}: {str(exc)[:120]})",
            "re-download the file, or re-compress it without a password with deflate "
            "(e.g. `zip train_features.csv.zip train_features.csv`)",
        ) from None


def _first_line(path: Path, payload: bytes | None) -> bytes:
    if payload is not None:
        return payload.split(b"\n", 1)[0]
    with open(path, "rb") as fh:
        return fh.readline()


def read_header(path: str | Path, *, delimiter: str = ",") -> list[str]:
    """The column names of a CSV (plain or ``.csv.zip``); raises :class:`DataError` if empty."""
    path = Path(path)
    if not path.is_file():
        raise _missing_file(path)
    try:
        line = _first_line(path, _payload(path)).decode("utf-8-sig").strip("\r\n")
    except UnicodeDecodeError as exc:
        raise data_error(
            str(path),
            f"not a UTF-8 text CSV (byte {exc.start} of the header cannot be decoded)",
            "pass the lish-moa CSV (or .csv.zip), an annotated CSV or a Parquet file; "
            "re-export the file as UTF-8 if it is a CSV in another encoding",
        ) from exc
    if "\r" in line:
        raise data_error(
            str(path),
            "lines end with a lone carriage return (CR, old Mac line endings)",
            "convert the line endings to LF or CRLF (e.g. `tr '\\r' '\\n' < in.csv > out.csv`)",
        )
    if not line.strip():
        raise data_error(
            str(path),
            "the file is empty (no header row)",
            "regenerate or re-download it; an interrupted copy leaves an empty file",
        )
    names = next(csv.reader([line], delimiter=delimiter))
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        raise data_error(
            str(path),
            f"duplicate column name(s) {dups[:5]}",
            "every column needs a unique name; fix the header row",
        )
    return names


def _lines(path: Path, payload: bytes | None) -> Iterator[str]:
    raw = io.BytesIO(payload) if payload is not None else open(path, "rb")  # noqa: SIM115
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text:
        yield from text


def _diagnose(
    path: Path,
    payload: bytes | None,
    names: list[str],
    value_names: Sequence[str],
    message: str,
    *,
    delimiter: str,
    skip_rows: int,
) -> DataError:
    """Find the ragged row or the non-numeric value pyarrow tripped on (slow; error path only)."""
    match = _COLUMN_RE.search(message)
    value_set = set(value_names)
    check = [int(match.group(1))] if match else []
    check = [j for j in check if j < len(names) and names[j] in value_set]
    reader = csv.reader(_lines(path, payload), delimiter=delimiter)
    for row in reader:
        line = reader.line_num
        if line <= skip_rows or not row:
            continue
        if len(row) != len(names):
            kind = "truncated" if len(row) < len(names) else "ragged"
            return data_error(
                f"{path}, line {line}",
                f"{kind} row: {len(row)} field(s) but the header has {len(names)}",
                "the file is cut short or a row has a missing/extra delimiter; "
                "re-download or regenerate it",
            )
        for j in check:
            value = row[j].strip()
            if value == "":
                continue
            try:
                float(value)
            except ValueError:
                return data_error(
                    f"{path}, column {names[j]!r}, line {line}",
                    f"non-numeric value {value!r} in a numeric column",
                    "feature and label columns must hold numbers only; fix or drop that row",
                )
    return data_error(str(path), f"could not be parsed ({message})", "check the file format")


def to_matrix(table: pa.Table) -> np.ndarray:
    """Row-major float32 matrix of a numeric table (nulls become NaN).

    Converted about a thousand rows at a time: one big row-major transpose is cache-hostile.
    """
    n_cols = table.num_columns
    out = np.empty((table.num_rows, n_cols), dtype=np.float32)
    if n_cols == 0:
        return out
    if len(set(table.schema.types)) > 1:
        table = table.cast(pa.schema([(n, pa.float32()) for n in table.column_names]))
    start = 0
    for batch in table.to_batches(max_chunksize=_TENSOR_ROWS):
        stop = start + batch.num_rows
        out[start:stop] = np.asarray(batch.to_tensor(null_to_nan=True, row_major=True))
        start = stop
    return out


def read_csv(
    path: str | Path,
    value_names: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    delimiter: str = ",",
    skip_rows: int = 0,
    gpu: bool = False,
    integers: bool = False,
    encoding: str = "utf8",
) -> CsvTable:
    """Parse a CSV into string metadata and a float32 block of ``value_names``.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` file or a ``.zip`` holding one CSV.
    value_names : sequence of str
        Columns parsed as float32 into ``values`` (in this order); all others are strings.
    names : sequence of str, optional
        Column names when the file's header is not a plain CSV row (then ``skip_rows`` lines
        are skipped); default: the first line.
    delimiter : str
        Field separator (``","``; ``"\\t"`` for GCT).
    skip_rows : int
        Lines before the data when ``names`` is given.
    gpu : bool
        Parse with cuDF into a CuPy block (falls back to pyarrow, logged, on any cuDF failure).
    integers : bool
        The numeric columns should hold small non-negative integers (0/1 labels): parse them as
        uint8, which is faster, and parse again as float when some value is not one.
    encoding : str
        Text encoding; a file that is not valid UTF-8 is parsed again as Latin-1 (real CMap
        files hold "10 \xb5M" in Latin-1).

    Raises
    ------
    DataError
        Missing or empty file, no data rows, ragged/truncated rows (with the line number),
        non-numeric values in a numeric column (with column and line).
    """
    path = Path(path)
    if names is None:
        names = read_header(path, delimiter=delimiter)
        skip_rows = 1
    names = list(names)
    if gpu:
        from gpu_moa.io._cudf import read_csv_cudf

        parsed = read_csv_cudf(path, names, value_names, delimiter=delimiter, skip_rows=skip_rows)
        if parsed is not None:
            return CsvTable(path, parsed[0], parsed[1], list(value_names))
    payload = _payload(path)
    source: Any = pa.BufferReader(payload) if payload is not None else str(path)
    value_set = set(value_names)
    number = pa.uint8() if integers else pa.float32()
    types = {n: (number if n in value_set else pa.string()) for n in names}
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=skip_rows, block_size=_BLOCK_SIZE, encoding=encoding
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        retry = {"integers": False} if integers else {}
        if "UTF8" in str(exc) and encoding == "utf8":
            retry = {"integers": integers, "encoding": "latin-1"}
        if retry:
            kw = {"names": names, "delimiter": delimiter, "skip_rows": skip_rows, **retry}
            return read_csv(path, value_names, **{"encoding": encoding, **kw})
        raise _diagnose(
            path, payload, names, value_names, str(exc), delimiter=delimiter, skip_rows=skip_rows
        ) from None
    if table.num_rows == 0:
        raise data_error(
            str(path),
            "the file has a header but no data rows",
            "regenerate or re-download it; an interrupted copy can leave only the header",
        )
    meta_names = [n for n in names if n not in value_set]
    meta = table.select(meta_names).to_pandas()
    values = to_matrix(table.select(list(value_names)))
    _backend.log_backend("read_csv", "pyarrow", device="cpu", note=path.name)
    return CsvTable(path, meta, values, list(value_names))
