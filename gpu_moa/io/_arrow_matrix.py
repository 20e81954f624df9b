"""Row-major float32 matrices built from the columns of a Parquet file, a group at a time.

Each group of columns is decoded by Arrow, copied once into a column-major block and once,
transposed, into its place in the row-major matrix: no whole-file table, no pandas. Several
threads take groups from one queue (Arrow's decoding and NumPy's copies release the interpreter),
so the read is spread over the cores while the caller reads and checks the rest of the file.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpu_moa import _backend
from gpu_moa._validation import MAX_ABS_FEATURE

GROUP = 64  # columns a thread decodes and places at a time
THREADS = min(4, _backend.usable_cores())  # threads filling matrices, the caller's included


def _column_block(table: pa.Table) -> np.ndarray:
    """The columns of ``table`` as a column-major float32 block (one row per column), nulls as
    NaN."""
    block = np.empty((table.num_columns, table.num_rows), np.float32)
    for row, column in zip(block, table.columns, strict=True):
        start = 0
        for chunk in column.chunks:
            if chunk.type != pa.float32() or chunk.null_count:
                chunk = chunk.cast(pa.float32(), safe=False)
            row[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    return block


def _place(table: pa.Table, out: np.ndarray, start: int) -> tuple[bool, bool]:
    """Copy the columns of ``table`` into ``out[:, start:...]`` (zeros on entry); return whether
    every value lies within +-MAX_ABS_FEATURE (NaN does not) and whether every column held only
    0/1 bytes.

    Null-free uint8 columns (how :func:`~gpu_moa.io.write_parquet` stores binary labels, mostly
    zeros) skip the block: only their non-zero bytes are written, straight into ``out``.
    """
    if all(c.type == pa.uint8() and c.null_count == 0 for c in table.columns):
        top = 0
        for j, column in enumerate(table.columns, start):
            values = column.to_numpy()
            hit = np.flatnonzero(values != 0)  # (7x faster than on the bytes)
            out[hit, j] = values[hit]
            top = max(top, int(values[hit].max(initial=0)))
        return True, top <= 1
    block = _column_block(table)
    out[:, start : start + len(block)] = block.T
    hi = block.max(initial=0)
    return bool(hi <= MAX_ABS_FEATURE and block.min(initial=0) >= -MAX_ABS_FEATURE), False


def _fill(pf: pq.ParquetFile, tasks: queue.SimpleQueue) -> list[tuple[str, bool, bool]]:
    """Decode and place (key, columns, matrix, first column) tasks until none is left; returns
    (key, bounded, binary) of each task done."""
    done = []
    while True:
        try:
            key, names, out, start = tasks.get_nowait()
        except queue.Empty:
            return done
        done.append((key, *_place(pf.read(columns=names, use_threads=False), out, start)))


class ColumnMatrices:
    """Row-major float32 matrices (``values[key]``, n_rows x len(names)) of column blocks of a
    Parquet file, which threads start filling on entry; :meth:`finish` joins in and waits.

    The threads share ``pf``, which must be opened without pre-buffering (the reader's cache
    of a pre-buffered read is not shared safely); each read then only takes slices of the file,
    as Arrow's own threads do within one read. Call ``pf.read`` once before (it builds the
    reader's column-name index). Leaving the ``with`` block early stops the threads after the
    group each is on.
    """

    def __init__(self, pf: pq.ParquetFile, blocks: dict[str, list[str]]) -> None:
        n_rows = pf.metadata.num_rows
        # (zeros cost what empty does at this size: fresh pages, zeroed by the OS when touched)
        self.values = {k: np.zeros((n_rows, len(v)), np.float32) for k, v in blocks.items()}
        self._pf = pf
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        for key, names in blocks.items():
            for i in range(0, len(names), GROUP):
                self._tasks.put((key, names[i : i + GROUP], self.values[key], i))

    def __enter__(self) -> ColumnMatrices:
        self._pool = ThreadPoolExecutor(max(1, THREADS - 1))
        self._workers = [
            self._pool.submit(_fill, self._pf, self._tasks) for _ in range(THREADS - 1)
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        with suppress(queue.Empty):
            while True:  # (after an error: no thread starts another group)
                self._tasks.get_nowait()
        self._pool.shutdown()

    def finish(self) -> dict[str, tuple[bool, bool]]:
        """Fill the groups left with the threads; per key, whether every value lies within
        +-MAX_ABS_FEATURE and whether every column held only 0/1 bytes."""
        done = _fill(self._pf, self._tasks)
        done += [task for worker in self._workers for task in worker.result()]
        return {
            key: (
                all(bounded for k, bounded, _ in done if k == key),
                all(binary for k, _, binary in done if k == key),
            )
            for key in self.values
        }
