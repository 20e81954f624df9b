"""Where connectivity references come from: Profiles/arrays in memory, or GCTX/Parquet files
streamed block by block (only their metadata is read up front)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import array_api_compat
import pandas as pd

from gpu_moa import _backend
from gpu_moa._settings import settings
from gpu_moa._validation import DataError, data_error
from gpu_moa.profiles import Profiles

GCTX_SUFFIXES = (".gctx", ".h5", ".hdf5")
PARQUET_SUFFIXES = (".parquet", ".pq")


def as_profiles(x: Any, name: str) -> Profiles:
    """Profiles as they are; a 2-D array becomes Profiles with features "0".."p-1"."""
    if isinstance(x, Profiles):
        return x
    if getattr(x, "ndim", 0) != 2:
        raise DataError(
            f"connectivity {name}: expected Profiles or a 2-D array (signatures x genes), got "
            f"{type(x).__name__} of shape {getattr(x, 'shape', None)}"
        )
    n, p = x.shape
    obs = pd.DataFrame(index=pd.Index([f"{name}{i}" for i in range(n)], name="sig_id"))
    var = pd.DataFrame(index=pd.Index([str(j) for j in range(p)], name="feature"))
    return Profiles(X=x, obs=obs, var=var)


@dataclasses.dataclass(frozen=True)
class Source:
    """A reference: gene metadata, signature metadata, row count and a block reader.

    ``blocks(chunk)`` yields ``(row offset, block)`` (host or device arrays); ``like`` is an
    empty array in the namespace and on the device where the scores are computed.
    """

    var: pd.DataFrame
    obs: pd.DataFrame
    n_rows: int
    blocks: Callable[[int], Iterator[tuple[int, Any]]]
    like: Any
    labels: tuple[Any, list[str]] | None = None

    @property
    def xp(self) -> Any:
        """The array namespace of the computation."""
        return _backend.get_namespace(self.like)


def _memory_source(ref: Profiles) -> Source:
    def blocks(chunk: int) -> Iterator[tuple[int, Any]]:
        for lo in range(0, ref.n_obs, chunk):
            yield lo, ref.X[lo : min(lo + chunk, ref.n_obs), :]

    labels = (ref.Y, list(ref.label_names)) if ref.Y is not None else None
    return Source(ref.var, ref.obs, ref.n_obs, blocks, ref.X[:0, :], labels)


def _file_meta(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Callable]:
    from gpu_moa import io

    suffix = path.suffix.lower()
    if suffix in GCTX_SUFFIXES:
        obs = io.read_gctx(path, rid=[], device="cpu").obs
        var = io.read_gctx(path, cid=[], device="cpu").var
        return var, obs, io.iter_gctx_chunks
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        from gpu_moa.io._parquet import _layout, _read_var

        schema = pq.read_schema(path)
        layout = _layout(schema, path)
        ids = pq.read_table(path, columns=[layout["sig_id"]]).column(0).to_pylist()
        obs = pd.DataFrame(index=pd.Index([str(i) for i in ids], name="sig_id"))
        return _read_var(schema, layout["features"]), obs, io.iter_parquet_chunks
    raise data_error(
        str(path),
        f"cannot stream a {suffix or 'suffix-less'} file as a connectivity reference",
        f"pass a GCTX ({', '.join(GCTX_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)}) "
        "file, or load the reference first (gm.io.read_gctx, gm.io.read_lish_moa)",
    )


def source_of(reference: Any, query: Any = None) -> Source:
    """The :class:`Source` of an in-memory reference or of a GCTX/Parquet path.

    A file's blocks go to the query's namespace (its device), or to the configured device when
    the query is a list of gene sets.
    """
    if reference is None:
        raise TypeError("connectivity: pass the reference signatures (reference=)")
    if not isinstance(reference, str | Path):
        return _memory_source(as_profiles(reference, "reference"))
    path = Path(reference)
    if not path.is_file():
        raise data_error(str(path), "file not found", "check the path")
    var, obs, reader = _file_meta(path)
    q = getattr(query, "X", query)
    xp = _backend.get_namespace(q) if q is not None else _backend.resolve_xp(settings.device)
    dev = array_api_compat.device(q) if q is not None else None
    like = xp.zeros((0, len(var)), dtype=xp.float32, device=dev)

    def blocks(chunk: int) -> Iterator[tuple[int, Any]]:
        offset = 0
        for _ids, block in reader(path, chunk_rows=chunk):
            yield offset, block
            offset += block.shape[0]

    return Source(var, obs, len(obs), blocks, like)
