"""CMap GCTX files (HDF5): read with rid/cid subsets, stream in row blocks, write.

Layout (as written by CMap's cmapPy): ``/0/DATA/0/matrix`` is stored *transposed* relative
to the GCT view, with HDF5 shape ``(n_cols, n_rows)``: one HDF5 row per sample (cid), one HDF5
column per gene (rid). That is already the Profiles orientation (samples as rows, genes as
features), so a block of samples is one contiguous slab. Ids are ``/0/META/COL/id`` (samples)
and ``/0/META/ROW/id`` (genes); every other dataset under ``/0/META/COL`` and ``/0/META/ROW``
is one metadata field (text or numbers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path
from gpu_moa._validation import data_error
from gpu_moa.io._cmap import build_profiles, export_meta, select_ids
from gpu_moa.io._sniff import sniff
from gpu_moa.profiles import Profiles

MATRIX = "/0/DATA/0/matrix"
ROW_META = "/0/META/ROW"
COL_META = "/0/META/COL"


def _open(path: Path) -> Any:
    import h5py

    if not path.is_file():
        raise data_error(str(path), "file not found", "check the path")
    if not h5py.is_hdf5(path):
        raise data_error(
            str(path),
            "not an HDF5 file (and not a text GCT either)",
            "pass a GCTX (HDF5) file, a GCT text file to read_gct, or regenerate the file",
        )
    f = h5py.File(path, "r")
    missing = [k for k in (MATRIX, f"{ROW_META}/id", f"{COL_META}/id") if k not in f]
    if missing:
        f.close()
        raise data_error(
            str(path),
            f"HDF5 file without the GCTX dataset(s) {missing}",
            "a GCTX file needs /0/DATA/0/matrix, /0/META/ROW/id and /0/META/COL/id "
            "(write one with gpu_moa.io.write_gctx or cmapPy)",
        )
    return f


def _decode(value: Any) -> Any:
    """A metadata string as text: UTF-8, else Latin-1 (real CMap files hold "10 \xb5M" in Latin-1)."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _values(dset: Any) -> np.ndarray:
    if dset.dtype.kind in "SOU":
        raw = np.asarray(dset[()], dtype=object).reshape(-1)
        return np.array([_decode(v) for v in raw], dtype=object)
    return dset[()]


def _meta(group: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    ids = _values(group["id"]).astype(str)
    fields = {k: _values(group[k]) for k in group if k != "id"}
    return ids, fields


def _read_block(dset: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """dset[rows][:, cols] reading only the needed slabs (h5py wants sorted, unique indices)."""
    n_rows, n_cols = dset.shape
    all_r, all_c = len(rows) == n_rows, len(cols) == n_cols
    r_sorted = slice(None) if all_r else np.sort(rows)
    c_sorted = slice(None) if all_c else np.sort(cols)
    if all_r and all_c:
        block = dset[()]
    elif len(rows) * n_cols <= n_rows * len(cols):
        block = dset[r_sorted, :][:, c_sorted]
    else:
        block = dset[:, c_sorted][r_sorted, :]
    r_pos = rows if all_r else np.searchsorted(r_sorted, rows)
    c_pos = cols if all_c else np.searchsorted(c_sorted, cols)
    if np.array_equal(r_pos, np.arange(len(rows))) and np.array_equal(c_pos, np.arange(len(cols))):
        return block
    return block[np.ix_(r_pos, c_pos)]


def read_gctx(
    path: str | Path,
    *,
    rid: Sequence[str] | None = None,
    cid: Sequence[str] | None = None,
    device: str = "auto",
) -> Profiles:
    """Read a CMap GCTX (HDF5) file into Profiles with samples as rows.

    Parameters
    ----------
    path : str or Path
        The ``.gctx`` file (:func:`gpu_moa.io.read` also accepts a text GCT under that name).
    rid, cid : sequence of str, optional
        Gene ids and sample ids to keep, in this order (default: all). Only the HDF5 slabs of
        the selected samples (or genes, whichever is less data) are read, never the whole
        matrix.
    device : {"auto", "cpu", "gpu"}
        Where ``X`` goes.

    Returns
    -------
    Profiles
        As :func:`read_gct`: ``obs`` = column metadata (index sig_id), ``var`` = row metadata.
    """
    path = Path(path)
    if sniff(path) == "gct":
        raise data_error(
            str(path),
            "a text GCT file, not HDF5 (GCTX)",
            "read it with gm.io.read_gct, or gm.io.read, which picks the reader from the content",
        )
    with _open(path) as f:
        row_ids, row_meta = _meta(f[ROW_META])
        col_ids, col_meta = _meta(f[COL_META])
        dset = f[MATRIX]
        if dset.shape != (len(col_ids), len(row_ids)):
            raise data_error(
                str(path),
                f"{MATRIX} has shape {dset.shape} but there are {len(col_ids)} column ids "
                f"and {len(row_ids)} row ids (expected ({len(col_ids)}, {len(row_ids)}))",
                "the matrix is stored samples x genes (cids x rids); regenerate the file",
            )
        genes, row_ids, row_meta = select_ids(row_ids, row_meta, rid, "rid", path)
        samples, col_ids, col_meta = select_ids(col_ids, col_meta, cid, "cid", path)
        X = _read_block(dset, samples, genes).astype(np.float32, copy=False)
    return build_profiles(X, col_ids, col_meta, row_ids, row_meta, device=device, path=path)


def iter_gctx_chunks(
    path: str | Path, *, chunk_rows: int = 10000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream a GCTX file's samples in blocks, reading one slab at a time.

    Parameters
    ----------
    path : str or Path
        The ``.gctx`` file.
    chunk_rows : int
        Samples per block.

    Yields
    ------
    sig_ids : numpy.ndarray of str, shape (m,)
    block : numpy.ndarray of float32, shape (m, n_genes)
        Host arrays (move them with :func:`gpu_moa.to_device`); genes in file order.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    path = Path(path)
    with _open(path) as f:
        col_ids = _values(f[f"{COL_META}/id"]).astype(str)
        dset = f[MATRIX]
        for start in range(0, dset.shape[0], chunk_rows):
            stop = min(start + chunk_rows, dset.shape[0])
            yield col_ids[start:stop], dset[start:stop].astype(np.float32, copy=False)


def _write_meta(group: Any, ids: Sequence[Any], frame: Any) -> None:
    group.create_dataset("id", data=np.array([str(i).encode() for i in ids]))
    meta = export_meta(frame)
    for name in meta.columns:
        col = meta[name]
        if col.dtype.kind in "iuf":
            group.create_dataset(name, data=col.to_numpy())
        else:
            text = ["" if v is None else str(v) for v in col.to_numpy(dtype=object)]
            group.create_dataset(name, data=np.array([t.encode() for t in text]))


def write_gctx(p: Profiles, path: str | Path) -> Path:
    """Write Profiles as a CMap GCTX (HDF5) file, atomically.

    The matrix goes to ``/0/DATA/0/matrix`` as float32 with HDF5 shape (samples, genes) (the
    cmapPy convention), chunked by sample blocks; ``obs`` columns go to ``/0/META/COL``,
    ``var`` columns to ``/0/META/ROW`` (text as UTF-8 bytes, numbers as numbers), in
    groups that keep the column order (HDF5 lists fields alphabetically unless told otherwise;
    files from other tools therefore read with their metadata columns in alphabetical order).

    Parameters
    ----------
    p : Profiles
        Profiles to write (``X`` on any device; copied to the host).
    path : str or Path
        Output ``.gctx`` file, replaced atomically.

    Returns
    -------
    Path
        ``path``.
    """
    import h5py

    X = np.ascontiguousarray(_backend.to_numpy(p.X), dtype=np.float32)
    chunks = (max(1, min(p.n_obs, 256)), max(1, min(p.n_vars, 1024))) if X.size else None
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["version"] = "GCTX1.0"
        f.create_dataset(MATRIX, data=X, chunks=chunks)
        _write_meta(f.create_group(COL_META, track_order=True), p.obs.index, p.obs)
        _write_meta(f.create_group(ROW_META, track_order=True), p.var.index, p.var)
    return Path(path)
