"""Shared by the GCT and GCTX readers/writers: CMap metadata <-> Profiles ``obs``/``var``.

CMap files hold genes as rows (``rid``) and samples as columns (``cid``); Profiles hold samples
as rows. Metadata values are normalised the same way for both formats, so a GCT and a GCTX of
the same data give identical Profiles: empty strings and "nan" are missing, text columns whose
values all look like integers become int64 (float64 when some are missing), all-numeric text
becomes float64, anything else stays text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import check_unique, data_error
from gpu_moa.io._checks import check_features
from gpu_moa.profiles import VAR_COLUMNS, Profiles

_MISSING = ("", "nan", "NaN")
_INT_RE = r"[+-]?\d+"


def infer_column(values: Any) -> pd.Series:
    """Normalise one metadata column (text or numbers) to int64, float64 or text with NaN."""
    s = pd.Series(values)
    if s.dtype.kind in "iu":
        return s.astype(np.int64)
    if s.dtype.kind in "fb":
        return s.astype(np.float64)
    text = s.astype("str")
    text = text.where(~text.isin(_MISSING))
    present = text.dropna()
    if len(present) and present.str.fullmatch(_INT_RE).all():
        ints = pd.to_numeric(text)
        return ints.astype(np.int64) if len(present) == len(text) else ints.astype(np.float64)
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().all():
        return pd.to_numeric(text).astype(np.float64)
    return text


def meta_frame(columns: dict[str, Any], ids: Sequence[str], index_name: str) -> pd.DataFrame:
    """A normalised metadata table indexed by ``ids``."""
    index = pd.Index([str(i) for i in ids], name=index_name, dtype="str")
    data = {name: infer_column(values).to_numpy() for name, values in columns.items()}
    frame = pd.DataFrame(data, index=index)
    text = [c for c in frame.columns if frame[c].dtype.kind not in "iuf"]
    return frame.astype({c: "str" for c in text})


def gene_var(row_meta: pd.DataFrame) -> pd.DataFrame:
    """``var`` from CMap row metadata: kind, symbol, entrez_id, ccle_name, then the rest.

    ``symbol`` falls back to ``pr_gene_symbol`` and ``entrez_id`` to ``pr_gene_id`` or to the
    row ids when they are all integers; ``kind`` is "gene" unless stored.
    """
    meta = row_meta.copy()
    ids = meta.index.to_series()
    fallback = {
        "kind": pd.Series("gene", index=meta.index),
        "symbol": meta.get("pr_gene_symbol", pd.Series(np.nan, index=meta.index)),
        "entrez_id": meta.get(
            "pr_gene_id",
            pd.to_numeric(ids, errors="coerce")
            if ids.str.fullmatch(_INT_RE).all()
            else pd.Series(np.nan, index=meta.index),
        ),
        "ccle_name": pd.Series(np.nan, index=meta.index),
    }
    head = pd.DataFrame(
        {c: meta.pop(c) if c in meta else fallback[c] for c in VAR_COLUMNS}, index=meta.index
    )
    head = head.astype({"kind": "str", "symbol": "str", "ccle_name": "str"})
    head["entrez_id"] = pd.array(pd.to_numeric(head["entrez_id"]), dtype="Int64")
    return pd.concat([head, meta], axis=1)


def build_profiles(
    X: np.ndarray,
    col_ids: Sequence[str],
    col_meta: dict[str, Any],
    row_ids: Sequence[str],
    row_meta: dict[str, Any],
    *,
    device: str,
    path: Path,
) -> Profiles:
    """Profiles (samples as rows) from a samples x genes block and the CMap metadata."""
    check_unique(list(col_ids), "column id (cid)", str(path))
    check_unique(list(row_ids), "row id (rid)", str(path))
    obs = meta_frame(col_meta, col_ids, "sig_id")
    var = gene_var(meta_frame(row_meta, row_ids, "feature"))
    check_features(X, var.index.tolist(), obs.index, path)
    X = _backend.to_device(np.ascontiguousarray(X, np.float32), device)
    return Profiles(X=X, obs=obs, var=var)


def format_meta(column: pd.Series) -> list[str]:
    """Text for a metadata column: repr for floats (keeps "10.0" a float), "" for missing."""
    if column.dtype.kind == "f":
        return [repr(float(v)) for v in column.to_numpy()]
    if column.dtype.kind in "iub":
        return [str(int(v)) for v in column.to_numpy()]
    text = [("" if pd.isna(v) else str(v)) for v in column.to_numpy(dtype=object)]
    if any(("\t" in t or "\n" in t or "\r" in t) for t in text):
        raise ValueError(f"metadata column {column.name!r} holds tabs or line breaks")
    return text


def export_meta(frame: pd.DataFrame) -> pd.DataFrame:
    """Metadata ready to store: nullable ints -> float64 with NaN, categories/bools -> text."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and col.dtype.kind in "iu":
            col = col.astype(np.float64) if col.isna().any() else col.astype(np.int64)
        elif col.dtype.kind not in "iuf":
            col = col.astype(object).where(col.notna(), None)
        out[str(name)] = col
    if "id" in out:
        raise ValueError("a metadata column may not be called 'id' (reserved for the ids)")
    return pd.DataFrame(out, index=frame.index)


def select_ids(
    all_ids: np.ndarray,
    meta: dict[str, np.ndarray],
    wanted: Sequence[str] | None,
    what: str,
    path: Path,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Select ``wanted`` ids (all when None) of one side of a CMap matrix, in the given order.

    Returns
    -------
    positions : ndarray of int
        Where the selected ids stand in ``all_ids`` (the matrix rows/columns to read).
    ids : ndarray
        The selected ids.
    meta : dict
        Every metadata column of ``meta`` at the selected positions.
    """
    if wanted is None:
        pos = np.arange(len(all_ids))
    else:
        wanted = [str(w) for w in wanted]
        check_unique(wanted, f"requested {what}", str(path))
        pos = pd.Index(all_ids).get_indexer(wanted)
        if (pos < 0).any():
            missing = [w for w, q in zip(wanted, pos, strict=True) if q < 0]
            raise data_error(
                str(path),
                f"{len(missing)} requested {what}(s) not in the file (e.g. {missing[0]!r})",
                f"pass {what}s that exist in the file (see the ids under /0/META)",
            )
    return pos, np.asarray(all_ids)[pos], {k: v[pos] for k, v in meta.items()}
