"""Readers and writers (``gm.io``): lish-moa (Kaggle directory, annotated CSV, Parquet), GCT/GCTX.

Every reader validates its input and raises :class:`gpu_moa.DataError` naming the file, the
column or row and the fix; every writer is atomic (temporary file, then rename).

===========================  ====================================================================
``read``                     any supported file or directory, the reader chosen from its content
``sniff``                    which format a path holds (lish-moa directory, Parquet, GCTX, GCT, CSV)
``read_lish_moa``            Kaggle directory / annotated CSV / Parquet -> Profiles
``write_lish_moa``           Profiles -> Kaggle directory or annotated CSV (optionally .csv.zip)
``write_parquet``            Profiles -> one Parquet file (exact round trip)
``iter_parquet_chunks``      stream (sig_ids, float32 block) from a Parquet file
``read_gct``, ``write_gct``  CMap text GCT v1.2 / v1.3
``read_gctx``, ``write_gctx`` CMap HDF5 GCTX (rid/cid subsets read only those slices)
``iter_gctx_chunks``         stream (sig_ids, float32 block) from a GCTX file
``read_gmt``, ``read_grp``   gene sets (GMT: one set per line; GRP: one gene per line)
``read_profiles``            pycytominer-style CSV(.gz)/Parquet (Metadata_ columns) -> Profiles
``read_h5ad``, ``write_h5ad`` AnnData files (optional ``anndata``); ``from_anndata`` converts
``write_profiles``           Profiles -> pycytominer-style CSV(.gz)/Parquet
``write_submission``         competition submission CSV
``annotate``                 fill symbols, Entrez ids and CCLE names from the package data
===========================  ====================================================================
"""

from __future__ import annotations

from gpu_moa.io._anndata import from_anndata, read_h5ad, write_h5ad
from gpu_moa.io._annotate import annotate
from gpu_moa.io._gct import read_gct, write_gct
from gpu_moa.io._gctx import iter_gctx_chunks, read_gctx, write_gctx
from gpu_moa.io._gmt import read_gmt, read_grp
from gpu_moa.io._lish_moa import read_lish_moa
from gpu_moa.io._parquet import iter_parquet_chunks, write_parquet
from gpu_moa.io._profiles import read_profiles, write_profiles
from gpu_moa.io._read import read
from gpu_moa.io._sniff import sniff
from gpu_moa.io._writers import write_lish_moa, write_submission

__all__ = [
    "read",
    "sniff",
    "annotate",
    "from_anndata",
    "iter_gctx_chunks",
    "iter_parquet_chunks",
    "read_gct",
    "read_gctx",
    "read_gmt",
    "read_h5ad",
    "read_grp",
    "read_lish_moa",
    "read_profiles",
    "write_gct",
    "write_gctx",
    "write_h5ad",
    "write_lish_moa",
    "write_parquet",
    "write_profiles",
    "write_submission",
]
