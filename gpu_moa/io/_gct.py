"""CMap text GCT files (v1.2 and v1.3): genes as rows, samples as columns, tab-separated.

v1.3 layout::

    #1.3
    <n_rows> <n_cols> <n_row_meta> <n_col_meta>
    id  <row meta names...>  <cid_1> ... <cid_n>
    <col meta name>  na ... na  <value per column>      (n_col_meta lines)
    <rid>  <row meta values...>  <data...>              (n_rows lines)

v1.2 has only ``<n_rows> <n_cols>`` on line 2, the header ``Name Description <cids>`` and one
``Description`` column of row metadata. Profiles hold the samples as rows (the transpose).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path
from gpu_moa._validation import DataError, data_error
from gpu_moa.io._cmap import build_profiles, export_meta, format_meta, select_ids
from gpu_moa.io._csv import read_csv
from gpu_moa.io._sniff import sniff
from gpu_moa.profiles import Profiles


def _bad_header(path: Path, problem: str) -> DataError:
    return data_error(
        str(path),
        problem,
        "the GCT header (line 2: rows, columns[, row-meta and column-meta counts]) must match "
        "the body; fix the counts or regenerate the file",
    )


def _text(line: bytes) -> str:
    """A header line as text: UTF-8 (BOM dropped), else Latin-1 (real CMap files hold
    "10 \xb5M" in Latin-1)."""
    try:
        return line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _read_dims(path: Path) -> list[int]:
    """(n_rows, n_cols, n_row_meta, n_col_meta) from lines 1-2 (v1.2: 1 row-meta, 0 col-meta)."""
    with open(path, "rb") as fh:
        version = _text(fh.readline()).strip()
        dims_line = _text(fh.readline())
    if not version:
        raise data_error(str(path), "the file is empty", "regenerate or re-download it")
    if version not in ("#1.2", "#1.3"):
        raise data_error(
            str(path),
            f"not a GCT file: the first line is {version[:40]!r}, expected '#1.2' or '#1.3'",
            "pass a GCT v1.2/v1.3 file (or a .gctx HDF5 file to read_gctx)",
        )
    expected = 2 if version == "#1.2" else 4
    try:
        dims = [int(v) for v in dims_line.split()]
    except ValueError:
        raise _bad_header(
            path, f"line 2 {dims_line.strip()[:60]!r} is not a list of counts"
        ) from None
    if len(dims) != expected:
        raise _bad_header(
            path, f"line 2 has {len(dims)} count(s), version {version} needs {expected}"
        )
    return dims if expected == 4 else [*dims, 1, 0]


def read_gct(
    path: str | Path,
    *,
    rid: Sequence[str] | None = None,
    cid: Sequence[str] | None = None,
    device: str = "auto",
) -> Profiles:
    """Read a CMap text GCT file (v1.2 or v1.3) into Profiles with samples as rows.

    Parameters
    ----------
    path : str or Path
        The ``.gct`` file. An HDF5 file is handed to :func:`read_gctx`.
    rid, cid : sequence of str, optional
        Gene (row) and sample (column) ids to keep, in this order (default: all).
    device : {"auto", "cpu", "gpu"}
        Where ``X`` goes.

    Returns
    -------
    Profiles
        ``X`` samples x genes; ``obs`` (index sig_id = the cids) holds the column metadata,
        ``var`` (index = the rids) kind="gene", symbol, entrez_id, ccle_name and the row metadata.

    Raises
    ------
    DataError
        Header counts that do not match the body, ragged rows, non-numeric or missing values,
        duplicate ids, unknown rid/cid.
    """
    path = Path(path)
    if sniff(path) == "gctx":
        raise data_error(
            str(path),
            "an HDF5 (GCTX) file, not a text GCT",
            "read it with gm.io.read_gctx, or gm.io.read, which picks the reader from the content",
        )
    n_rows, n_cols, n_rmeta, n_cmeta = _read_dims(path)
    with open(path, "rb") as fh:
        head = [_text(fh.readline()).rstrip("\r\n").split("\t") for _ in range(3 + n_cmeta)]
    names = head[2]
    if len(names) != 1 + n_rmeta + n_cols:
        raise _bad_header(
            path,
            f"line 3 has {len(names)} fields but the header announces {n_cols} columns and "
            f"{n_rmeta} row-metadata field(s) (expected {1 + n_rmeta + n_cols})",
        )
    col_ids = names[1 + n_rmeta :]
    col_meta: dict[str, np.ndarray] = {}
    for k, line in enumerate(head[3:], start=4):
        if len(line) != len(names):
            raise _bad_header(
                path, f"line {k} (column metadata) has {len(line)} fields, expected {len(names)}"
            )
        col_meta[line[0]] = np.asarray(line[1 + n_rmeta :], dtype=object)
    fields = ["id", *names[1 : 1 + n_rmeta]]
    if set(fields) & set(col_ids):
        raise data_error(str(path), "a column id repeats a row-metadata name", "rename it")
    table = read_csv(path, col_ids, names=fields + col_ids, delimiter="\t", skip_rows=3 + n_cmeta)
    if table.n_rows != n_rows:
        raise _bad_header(
            path, f"the header announces {n_rows} data rows but the body has {table.n_rows}"
        )
    row_ids = table.meta["id"].fillna("").to_numpy(dtype=object).astype(str)
    row_meta = {f: table.meta[f].to_numpy(dtype=object) for f in fields[1:]}
    rows, row_ids, row_meta = select_ids(row_ids, row_meta, rid, "rid", path)
    cols, col_ids, col_meta = select_ids(np.asarray(col_ids), col_meta, cid, "cid", path)
    X = np.take(np.take(table.values, rows, axis=0), cols, axis=1).T
    return build_profiles(X, col_ids, col_meta, row_ids, row_meta, device=device, path=path)


def write_gct(p: Profiles, path: str | Path) -> Path:
    """Write Profiles as a GCT v1.3 text file (genes as rows, samples as columns), atomically.

    ``var`` columns become row metadata, ``obs`` columns column metadata; values are written
    with the shortest text that reads back to the same float32, so :func:`read_gct` returns
    the same Profiles as :func:`read_gctx` on a file from :func:`~gpu_moa.io.write_gctx`.

    Parameters
    ----------
    p : Profiles
        Profiles to write (``X`` on any device; copied to the host).
    path : str or Path
        Output ``.gct`` file, replaced atomically.

    Returns
    -------
    Path
        ``path``.
    """
    row_meta = export_meta(p.var)
    col_meta = export_meta(p.obs)
    n_r, n_c = len(row_meta.columns), len(col_meta.columns)
    head = io.StringIO()
    head.write(f"#1.3\n{p.n_vars}\t{p.n_obs}\t{n_r}\t{n_c}\n")
    head.write("\t".join(["id", *row_meta.columns, *format_meta(p.obs.index.to_series())]) + "\n")
    for name in col_meta.columns:
        head.write("\t".join([name, *(["na"] * n_r), *format_meta(col_meta[name])]) + "\n")
    X = np.ascontiguousarray(_backend.to_numpy(p.X).T, dtype=np.float32)
    body = {"id": format_meta(p.var.index.to_series())}
    body.update({f"m{j}": format_meta(row_meta[c]) for j, c in enumerate(row_meta.columns)})
    body.update({f"x{j}": X[:, j] for j in range(p.n_obs)})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(head.getvalue().encode("utf-8"))
            pacsv.write_csv(
                pa.table(body),
                fh,
                pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"),
            )
    return Path(path)
