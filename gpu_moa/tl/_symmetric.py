"""All-vs-all top-k from the upper triangle of block pairs (each product computed once).

The prepared rows are cut into square blocks. Each pair of blocks on or above the diagonal is
multiplied once; its scores feed the top-k of its row block directly and, read by columns, the
top-k of its column block (the transposed block, whose scores equal the pair's mirror image).
Block pairs are independent: :func:`gpu_moa._backend.ordered_map` may compute several at once
(on the CPU, one per core), and their results are merged in the pairs' order.
Processing the row blocks in order hands every row block its column blocks in increasing order
(first the transposed ones from earlier rows, then its own row), so merging two sorted candidate
lists with the earlier list first keeps ties on the lower index, as in one stable sort of the
whole row. Besides one block of scores, the search holds the running top-k of every row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from gpu_moa import _backend


def merge_sorted(
    idx: Any, val: Any, new_idx: Any, new_val: Any, k: int, xp: ModuleType
) -> tuple[Any, Any]:
    """The k best of two sorted candidate lists; ``idx`` (None at first) holds the lower
    indices, so it wins ties."""
    if idx is None:
        return new_idx, new_val
    both_idx = xp.concat([idx, new_idx], axis=1)
    both_val = xp.concat([val, new_val], axis=1)
    order = xp.argsort(-both_val, axis=1, stable=True)[:, : min(k, both_val.shape[1])]
    return xp.take_along_axis(both_idx, order, axis=1), xp.take_along_axis(both_val, order, axis=1)


def symmetric_topk(
    P: Any, n: int, k: int, g: int, block: int, groups: Any = None
) -> Iterator[tuple[int, int, Any, Any]]:
    """The ``k`` best columns of every row of ``P @ P.T`` (the first ``n`` rows and columns).

    Parameters
    ----------
    P : array, shape (m_pad, p)
        Prepared rows; rows from ``n`` on are padding (their columns score -inf).
    n : int
        Real rows.
    k : int
        Candidates kept per row (ties to the lower column).
    g : int
        Group width of :func:`gpu_moa._backend.topk_rows`.
    block : int
        Rows (and columns) per square block; a multiple of ``g`` keeps the group selection.
    groups : array of int64, shape (m_pad,), optional
        Pairs with equal codes score -inf.

    Yields
    ------
    lo, hi : int
        The rows of the finished row block (``hi <= n``).
    indices, scores : arrays, shape (hi - lo, k)
        Their top-k, best first, equal scores in increasing column order.
    """
    xp = _backend.get_namespace(P)
    m_pad = P.shape[0]
    PT = xp.permute_dims(P, (1, 0))
    starts = list(range(0, m_pad, block))
    local = threading.local()  # one product buffer per worker thread

    def pair(ij: tuple[int, int]) -> tuple[Any, Any]:
        """The row-block and (off the diagonal) the column-block top-k of one block pair."""
        bi, bj = ij
        lo, hi = starts[bi], min(starts[bi] + block, m_pad)
        c0, c1 = starts[bj], min(starts[bj] + block, m_pad)
        if not hasattr(local, "buf"):
            local.buf = _backend.product_buffer(xp, min(block, m_pad) ** 2)
        Q = P[lo:hi, :]
        if bi == bj:  # a copy: never one buffer times its own transpose
            Q = xp.asarray(Q, copy=True)
        S = _backend.matmul_into(Q, PT[:, c0:c1], local.buf)
        if c1 > n:  # padding columns (only in the last block, whose rows pair with it only)
            S[:, max(n - c0, 0) :] = -xp.inf
        if groups is not None:
            S = xp.where(groups[lo:hi, None] == groups[None, c0:c1], -xp.inf, S)
        idx, val = _backend.topk_rows(S, min(k, c1 - c0), g)
        rows = (idx + c0, val)
        if bi == bj:
            return rows, None
        idx, val = _backend.topk_rows(S, min(k, hi - lo), g, columns=True)
        return rows, (idx + lo, val)

    pairs = [(bi, bj) for bi in range(len(starts)) for bj in range(bi, len(starts))]
    best: list[tuple[Any, Any]] = [(None, None)] * len(starts)
    for (bi, bj), (rows, cols) in zip(pairs, _backend.ordered_map(pair, pairs, xp), strict=True):
        # pairs arrive in order: every row block gets its column blocks in increasing order
        best[bi] = merge_sorted(*best[bi], *rows, k, xp)
        if cols is not None:
            best[bj] = merge_sorted(*best[bj], *cols, k, xp)
        if bj == len(starts) - 1:  # row block bi is complete
            idx, val = best[bi]
            best[bi] = (None, None)
            lo, hi = starts[bi], min(starts[bi] + block, n)
            if hi > lo:
                yield lo, hi, idx[: hi - lo, :], val[: hi - lo, :]
