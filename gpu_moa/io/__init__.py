"""Readers and writers (``gm.io``): lish-moa (Kaggle directory, annotated CSV, Parquet), GCT/GCTX.

Every reader validates its input and raises :class:`gpu_moa.DataError` naming the file, the
column or row and the fix; every writer is atomic (temporary file, then rename).

===========================  ====================================================================
``read_lish_moa``            Kaggle directory / annotated CSV / Parquet -> Profiles
``write_lish_moa``           Profiles -> Kaggle directory or annotated CSV (optionally .csv.zip)
``write_parquet``            Profiles -> one Parquet file (exact round trip)
``iter_parquet_chunks``      stream (sig_ids, float32 block) from a Parquet file
``read_gct``, ``write_gct``  CMap text GCT v1.2 / v1.3
``read_gctx``, ``write_gctx`` CMap HDF5 GCTX (rid/cid subsets read only those slices)
``iter_gctx_chunks``         stream (sig_ids, float32 block) from a GCTX file
``write_submission``         competition submission CSV
``annotate``                 fill symbols, Entrez ids and CCLE names from the package data
===========================  ====================================================================
"""

from __future__ import annotations

from gpu_moa._lazy import lazy_exports

_EXPORTS = {
    "read_lish_moa": "._lish_moa",
    "write_lish_moa": "._writers",
    "write_submission": "._writers",
    "write_parquet": "._parquet",
    "iter_parquet_chunks": "._parquet",
    "read_gct": "._gct",
    "write_gct": "._gct",
    "read_gctx": "._gctx",
    "write_gctx": "._gctx",
    "iter_gctx_chunks": "._gctx",
    "annotate": "._annotate",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
