"""``gm.io.read``: any supported data file or directory, read by the reader its content calls for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpu_moa.io._gct import read_gct
from gpu_moa.io._gctx import read_gctx
from gpu_moa.io._lish_moa import read_lish_moa
from gpu_moa.io._profiles import read_profiles
from gpu_moa.io._sniff import sniff
from gpu_moa.profiles import Profiles


def default_split(path: str | Path) -> str:
    """``"all"`` for a lish-moa directory that has test features, else ``"train"``."""
    path = Path(path)
    has_test = any((path / f"test_features{ext}").is_file() for ext in (".csv", ".csv.zip"))
    return "all" if has_test or not path.is_dir() else "train"


def read(
    path: str | Path,
    *,
    split: str | None = None,
    device: str = "auto",
    rid: Sequence[str] | None = None,
    cid: Sequence[str] | None = None,
) -> Profiles:
    """Read profiles from any supported source, choosing the reader from the content.

    ============================  =============================================================
    a directory                   lish-moa Kaggle layout (:func:`read_lish_moa`)
    a Parquet file                written by :func:`write_parquet` (:func:`read_lish_moa`)
    an HDF5 file                  CMap GCTX (:func:`read_gctx`)
    a text file starting ``#1.``  CMap GCT v1.2 / v1.3 (:func:`read_gct`)
    ``Metadata_`` columns, gzip   pycytominer-style profiles (:func:`read_profiles`)
    any other file                the annotated lish-moa CSV (plain or .zip)
    ============================  =============================================================

    Parameters
    ----------
    path : str or Path
        The data.
    split : {"train", "test", "all"}, optional
        Rows of lish-moa data; default ``"all"`` when test features are present, else
        ``"train"``. Ignored for GCT/GCTX.
    device : {"auto", "cpu", "gpu"}
        Where ``X`` goes.
    rid, cid : sequence of str, optional
        GCT/GCTX only: gene and sample ids to keep.

    Returns
    -------
    Profiles
        As the chosen reader returns them.

    Raises
    ------
    DataError
        From :func:`~gpu_moa.io.sniff` or the reader, naming the file and the fix.
    """
    kind = sniff(path)
    if kind == "gctx":
        return read_gctx(path, rid=rid, cid=cid, device=device)
    if kind == "gct":
        return read_gct(path, rid=rid, cid=cid, device=device)
    if kind == "profiles":
        return read_profiles(path, device=device)
    return read_lish_moa(path, split=split or default_split(path), device=device)
