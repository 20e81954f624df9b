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

The running top-k also prunes: once a row holds k entries, its k-th score bounds the final
one from below, and a later block (at higher columns) can only contribute entries strictly
above it (an equal score at a higher column loses the tie). Each pair reads the current bounds
of its rows and columns when it starts (a pair computed ahead reads an older, lower bound:
less pruning, the same result) and passes them to :func:`gpu_moa._backend.topk_rows`.
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


def _bound(best: tuple[Any, Any], k: int) -> Any:
    """The k-th best score of each row of a running top-k (None until it holds k entries)."""
    val = best[1]
    return None if val is None or val.shape[1] < k else val[:, k - 1]


def _block_pairs(
    Pa: Any,
    Pb: Any,
    na: int,
    nb: int,
    k: int,
    g: int,
    block: int,
    ga: Any,
    gb: Any,
    same: bool,
    bounds: tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]],
) -> Iterator[tuple[tuple[int, int], tuple[Any, Any], Any]]:
    """The row and column top-k of every square block pair of ``Pa @ Pb.T``, in pair order.

    Pairs run over (row block, column block) row-major; with ``same`` (``Pa`` is ``Pb``) only
    those on and above the diagonal, whose diagonal blocks give rows only (column part None).
    Rows from ``na`` and columns from ``nb`` are padding (scored -inf); pairs with equal group
    codes (``ga`` of the rows, ``gb`` of the columns) score -inf. ``bounds`` are the running
    top-k lists of the row blocks and of the column blocks, read for their k-th scores (see
    :func:`_bound`): a block's top-k may then leave out entries that cannot enter them.
    """
    xp = _backend.get_namespace(Pa)
    ma, mb = Pa.shape[0], Pb.shape[0]
    PbT = xp.permute_dims(Pb, (1, 0))
    sa, sb = list(range(0, ma, block)), list(range(0, mb, block))
    local = threading.local()  # one product buffer per worker thread

    def pair(ij: tuple[int, int]) -> tuple[tuple[Any, Any], Any]:
        bi, bj = ij
        lo, hi = sa[bi], min(sa[bi] + block, ma)
        c0, c1 = sb[bj], min(sb[bj] + block, mb)
        if not hasattr(local, "buf"):
            local.buf = _backend.product_buffer(xp, min(block, ma) * min(block, mb))
        diagonal = same and bi == bj
        Q = xp.asarray(Pa[lo:hi, :], copy=True) if diagonal else Pa[lo:hi, :]  # never P @ P.T
        S = _backend.matmul_into(Q, PbT[:, c0:c1], local.buf)
        if c1 > nb:
            S[:, max(nb - c0, 0) :] = -xp.inf
        if hi > na and not diagonal:
            S[max(na - lo, 0) :, :] = -xp.inf
        if ga is not None:
            S = xp.where(ga[lo:hi, None] == gb[None, c0:c1], -xp.inf, S)
        above = _bound(bounds[0][bi], k)
        idx, val = _backend.topk_rows(S, min(k, c1 - c0), g, above=above)
        rows = (idx + c0, val)
        if diagonal:
            return rows, None
        above = _bound(bounds[1][bj], k)
        idx, val = _backend.topk_rows(S, min(k, hi - lo), g, columns=True, above=above)
        return rows, (idx + lo, val)

    pairs = [(bi, bj) for bi in range(len(sa)) for bj in range(bi if same else 0, len(sb))]
    for ij, (rows, cols) in zip(pairs, _backend.ordered_map(pair, pairs, xp), strict=True):
        yield ij, rows, cols


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
    last = (P.shape[0] - 1) // block
    best: list[tuple[Any, Any]] = [(None, None)] * (last + 1)
    pairs = _block_pairs(P, P, n, n, k, g, block, groups, groups, True, (best, best))
    for (bi, bj), rows, cols in pairs:
        # pairs arrive in order: every row block gets its column blocks in increasing order
        best[bi] = merge_sorted(*best[bi], *rows, k, xp)
        if cols is not None:
            best[bj] = merge_sorted(*best[bj], *cols, k, xp)
        if bj == last:  # row block bi is complete
            idx, val = best[bi]
            best[bi] = (None, None)
            lo, hi = bi * block, min(bi * block + block, n)
            if hi > lo:
                yield lo, hi, idx[: hi - lo, :], val[: hi - lo, :]


def cross_topk(
    Pa: Any, Pb: Any, na: int, nb: int, k: int, g: int, block: int, ga: Any = None, gb: Any = None
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The ``k`` best columns of every row and the ``k`` best rows of every column of
    ``Pa @ Pb.T`` (first ``na`` rows, ``nb`` columns), each block product computed once.

    Used for an off-diagonal pair of partitions in a partitioned all-vs-all search; padding,
    groups and ties as in :func:`symmetric_topk`.

    Returns
    -------
    (indices, scores) of shape (na, min(k, nb)) and (indices, scores) of shape
    (nb, min(k, na)): column (row) positions, best first, ties in increasing position order.
    """
    xp = _backend.get_namespace(Pa)
    best_a: list[tuple[Any, Any]] = [(None, None)] * ((Pa.shape[0] - 1) // block + 1)
    best_b: list[tuple[Any, Any]] = [(None, None)] * ((Pb.shape[0] - 1) // block + 1)
    pairs = _block_pairs(Pa, Pb, na, nb, k, g, block, ga, gb, False, (best_a, best_b))
    for (bi, bj), rows, cols in pairs:
        best_a[bi] = merge_sorted(*best_a[bi], *rows, k, xp)
        best_b[bj] = merge_sorted(*best_b[bj], *cols, k, xp)

    def whole(best: list[tuple[Any, Any]], n: int, width: int) -> tuple[Any, Any]:
        idx = xp.concat([b[0] for b in best], axis=0)[:n, :width]
        return idx, xp.concat([b[1] for b in best], axis=0)[:n, :width]

    return whole(best_a, na, min(k, nb)), whole(best_b, nb, min(k, na))
