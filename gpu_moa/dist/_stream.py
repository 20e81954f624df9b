"""Similarity top-k against a reference streamed from disk (GCTX row slabs, Parquet row groups).

The file is read once, sequentially, one block of ``chunk_rows`` signatures at a time; each
block becomes a partition searched by the single-device top-k and merged into the running best
``k``. At most a few blocks are alive at once (a bounded window of tasks on a Dask cluster, one
block being read ahead otherwise), so peak memory depends on ``chunk_rows`` and the queries,
never on the number of reference signatures: 1.2M x 978 L1000 signatures stream through a
machine that could not hold their similarity matrix.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gpu_moa import _backend
from gpu_moa.dist._cluster import current_client, import_dask
from gpu_moa.dist._similarity import TopK, local_topk, merge_topk
from gpu_moa._settings import settings
from gpu_moa._validation import data_error
from gpu_moa.io._sniff import sniff


def _n_rows(path: Path) -> int:
    if sniff(path) == "gctx":
        import h5py

        from gpu_moa.io._gctx import MATRIX

        with h5py.File(path, "r") as f:
            return int(f[MATRIX].shape[0])
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def iter_blocks(path: str | Path, *, chunk_rows: int) -> tuple[int, Iterator[tuple[int, Any]]]:
    """``(n_rows, iterator of (row offset, float32 host block))`` over a GCTX or Parquet file.

    Raises
    ------
    DataError
        For a missing file or one that is neither GCTX nor Parquet (the fix names both).
    """
    from gpu_moa import io

    path = Path(path)
    kind = sniff(path)
    if kind == "gctx":
        chunks = io.iter_gctx_chunks(path, chunk_rows=chunk_rows)
    elif kind == "parquet":
        chunks = io.iter_parquet_chunks(path, chunk_rows=chunk_rows)
    else:
        raise data_error(
            str(path),
            f"cannot stream {'a directory' if kind == 'lish_moa_dir' else f'a {kind} file'}",
            "pass a GCTX (HDF5) or Parquet file, e.g. written by gm.io.write_gctx or "
            "gm.io.write_parquet",
        )

    def blocks() -> Iterator[tuple[int, Any]]:
        offset = 0
        for _ids, block in chunks:
            yield offset, block
            offset += block.shape[0]

    return _n_rows(path), blocks()


def _read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """Iterate ``items`` with the next one read in a background thread (I/O overlaps compute)."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    done, stop = object(), threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put(item)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            put(exc)
        put(done)

    threading.Thread(target=produce, daemon=True).start()
    try:
        while (item := slot.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _merge(best: TopK | None, part: TopK, k: int) -> TopK:
    return part if best is None else merge_topk(best, part, k=k)


def _stream_on_client(client: Any, query: Any, blocks: Iterator, bar: Any, kw: dict) -> TopK:
    """Blocks scattered to the workers, at most two tasks per worker in flight."""
    wait = import_dask("distributed").wait
    window = 2 * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    q_future = client.scatter(query, broadcast=True)
    best, pending = None, set()

    def collect(futures: Any) -> None:
        nonlocal best
        for f in futures:
            best = _merge(best, f.result(), kw["k"])
            bar.update(1)

    for offset, block in blocks:
        pending.add(client.submit(local_topk, q_future, client.scatter(block), offset, **kw))
        if len(pending) >= window:
            finished, pending = wait(pending, return_when="FIRST_COMPLETED")
            collect(finished)
    collect(wait(pending).done)
    return best


def similarity_topk_stream(
    query: Any,
    path: str | Path,
    *,
    k: int = 10,
    metric: str = "pearson",
    precision: str = "float32",
    chunk_rows: int = 50_000,
) -> tuple[Any, Any]:
    """Top-k most similar signatures of a GCTX or Parquet file for each query, streamed.

    Equals ``gm.tl.similarity_topk(query, reference)`` with the whole file as the reference,
    while holding only a few blocks of ``chunk_rows`` rows at a time. Runs on the active Dask
    client (blocks scattered to the workers) or, without one, in this process with the next
    block read in the background.

    Parameters
    ----------
    query : Profiles or array, shape (n, p)
        Query signatures, in memory (NumPy, or CuPy to search on the GPU); the file's features
        must be the same, in the same order.
    path : str or Path
        ``.gctx``/``.h5`` (signatures = HDF5 rows, as CMap writes them) or ``.parquet``.
    k, metric, precision
        As in :func:`gpu_moa.tl.similarity_topk`.
    chunk_rows : int, default 50,000
        Signatures per block (about 200 MB of float32 for 978 genes).

    Returns
    -------
    indices : int64 array, shape (n, min(k, n_file_rows))
        Row positions in the file, best first; equal scores in increasing row order.
    scores : float32 array, same shape
    """
    if k < 1 or chunk_rows < 1:
        raise ValueError(f"k and chunk_rows must be >= 1, got k={k}, chunk_rows={chunk_rows}")
    query = getattr(query, "X", query)
    n_rows, blocks = iter_blocks(path, chunk_rows=chunk_rows)
    kw = {"k": k, "metric": metric, "precision": precision}
    bar = tqdm(
        total=math.ceil(n_rows / chunk_rows),
        desc="similarity top-k (stream)",
        unit="block",
        disable=not settings.progress,
    )
    client = current_client()
    with bar:
        if client is not None:
            best = _stream_on_client(client, query, blocks, bar, kw)
        else:
            best = None
            for offset, block in _read_ahead(blocks):
                best = _merge(best, local_topk(query, block, offset, **kw), k)
                bar.update(1)
    if best is None:  # empty file
        xp = _backend.get_namespace(query)
        n = query.shape[0]
        dev = _backend.array_device(query)
        return (
            xp.zeros((n, 0), dtype=xp.int64, device=dev),
            xp.zeros((n, 0), dtype=xp.float32, device=dev),
        )
    return best.indices, best.scores
