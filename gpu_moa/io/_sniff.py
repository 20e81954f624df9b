"""What kind of data file a path holds, from its first bytes (never from its name alone).

The one home of format detection: :func:`gpu_moa.io.read`, the ``validate``/``match`` commands and
the streaming readers all ask :func:`sniff`.
"""

from __future__ import annotations

from pathlib import Path

from gpu_moa._validation import data_error

#: formats :func:`sniff` recognises
FORMATS = ("lish_moa_dir", "parquet", "gctx", "gct", "csv", "profiles")
#: leading bytes of the compressions only profile tables use (lish-moa ships plain or .zip CSVs)
_COMPRESSED = (b"\x1f\x8b", b"BZh")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_METADATA = b"Metadata_"  # the prefix of pycytominer's metadata columns


def sniff(path: str | Path) -> str:
    """The format of ``path``: one of :data:`FORMATS`.

    A directory is a lish-moa (Kaggle) directory; a file is recognised by its magic bytes:
    Parquet (``PAR1``), HDF5 (GCTX), a text GCT (``#1.2`` / ``#1.3``). A gzip/bz2 file, or a
    CSV/Parquet table with ``Metadata_`` columns, is a pycytominer-style profile table
    (``"profiles"``); anything else is read as a lish-moa CSV table (plain or ``.zip``).

    Parameters
    ----------
    path : str or Path
        The file or directory.

    Returns
    -------
    str
        The format name.

    Raises
    ------
    DataError
        When nothing exists at ``path``, or it is neither a regular file nor a directory.
    """
    path = Path(path)
    if path.is_dir():
        return "lish_moa_dir"
    if not path.exists():
        raise data_error(str(path), "no such file or directory", "check the path")
    if not path.is_file():
        raise data_error(
            str(path), "not a regular file (a pipe or a device?)", "pass a file or directory"
        )
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5_MAGIC:
        return "gctx"
    if head[:4] in (b"#1.2", b"#1.3"):
        return "gct"
    if head.startswith(_COMPRESSED):
        return "profiles"
    kind = "parquet" if head[:4] == b"PAR1" else "csv"
    if kind == "parquet" and _METADATA not in (_parquet_footer(path) or _METADATA):
        return kind  # no column name holds "Metadata_": no need to parse the schema
    return "profiles" if any(c.startswith("Metadata_") for c in _columns(path, kind)) else kind


def _parquet_footer(path: Path) -> bytes | None:
    """The raw footer of a Parquet file (its Thrift metadata, where every column name is stored
    as plain UTF-8), or None when the file does not end like one."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < 12:
            return None
        fh.seek(size - 8)
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            return None
        fh.seek(size - 8 - length)
        return fh.read(length)


def _columns(path: Path, kind: str) -> list[str]:
    """Column names of a Parquet file (its schema) or of a CSV (its first line)."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception:  # noqa: BLE001 - a broken file is the reader's to report
            return []
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
    return first.decode("utf-8", errors="replace").strip().split(",")
