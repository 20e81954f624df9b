"""All-vs-all top-k from the upper triangle of block pairs (each product computed once).

The prepared rows are cut into square blocks. Each pair of blocks on or above the diagonal is
multiplied once; its scores feed the top-k of its row block directly and, read by columns, the
top-k of its column block (the transposed block, whose scores equal the pair's mirror image).
Processing the row blocks in order hands every row block its column blocks in increasing order
(first the transposed ones from earlier rows, then its own row), so merging two sorted candidate
lists with the earlier list first keeps ties on the lower index, as in one stable sort of the
whole row. Besides one block of scores, the search holds the running top-k of every row.
"""

from __future__ import annotations

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
    best: list[tuple[Any, Any]] = [(None, None)] * len(starts)
    buf = _backend.product_buffer(xp, min(block, m_pad) ** 2)
    for bi, lo in enumerate(starts):
        hi = min(lo + block, m_pad)
        Q = xp.asarray(P[lo:hi, :], copy=True)  # never one buffer times its own transpose
        for bj in range(bi, len(starts)):
            c0, c1 = starts[bj], min(starts[bj] + block, m_pad)
            S = _backend.matmul_into(Q, PT[:, c0:c1], buf)
            if c1 > n:  # padding columns (only in the last block, whose rows pair with it only)
                S[:, max(n - c0, 0) :] = -xp.inf
            if groups is not None:
                S = xp.where(groups[lo:hi, None] == groups[None, c0:c1], -xp.inf, S)
            idx, val = _backend.topk_rows(S, min(k, c1 - c0), g)
            best[bi] = merge_sorted(*best[bi], idx + c0, val, k, xp)
            if bj > bi:
                idx, val = _backend.topk_rows(S, min(k, hi - lo), g, columns=True)
                best[bj] = merge_sorted(*best[bj], idx + lo, val, k, xp)
        idx, val = best[bi]
        best[bi] = (None, None)
        hi = min(hi, n)
        if hi > lo:
            yield lo, hi, idx[: hi - lo, :], val[: hi - lo, :]
