"""Experimental design of the synthetic lish-moa set: drugs, rows, identifiers and labels.

The numbers are the real training set's (DESIGN.md section 2): 21,948 treated rows from 3,288
drugs (2,774 with 6 rows, 64 with 12, 9 treated drugs above 18 rows, the largest 718), 1,866
vehicle controls under one drug id, 3,982 test rows (358 controls), and scored positives per row
0/1/2/3/4/5/7 in the real counts. Everything scales with ``scale`` (1 = full size).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from gpu_moa.profiles import CONTROL_TYPE

TRAIN_TREATED_ROWS = 21_948
TRAIN_CONTROL_ROWS = 1_866
TEST_TREATED_ROWS = 3_624
TEST_CONTROL_ROWS = 358
N_TREATED_DRUGS = 3_288
N_SIX, N_TWELVE = 2_774, 64
#: rows of the treated drugs with more than 18 rows (the first carries two labels)
LARGE_DRUGS = (718, 246, 208, 203, 202, 196, 194, 186, 178)
LARGE_PAIR = ("proteasome_inhibitor", "nfkb_inhibitor")
#: treated training rows by number of scored labels (real counts; 9,367 zero-label rows - controls)
ROWS_BY_K = {0: 7_501, 1: 12_532, 2: 1_538, 3: 303, 4: 55, 5: 13, 7: 6}
#: sizes of the remaining drugs (1-18 rows except 6 and 12) and their relative frequencies
OTHER_SIZES = np.array([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18])
OTHER_WEIGHTS = np.array([6, 7, 9, 10, 10, 8, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1], dtype=float)
TIMES, DOSES = (24, 48, 72), ("D1", "D2")


@dataclass(frozen=True)
class Design:
    """Rows and drugs of the whole synthetic set (train and test together).

    ``row_drug`` indexes ``drugs``; the control drug is ``drugs.iloc[0]``. ``drug_labels`` and
    ``drug_extra`` are (n_drugs x n_labels) 0/1 matrices of scored and non-scored labels.
    """

    obs: pd.DataFrame
    row_drug: np.ndarray
    drugs: pd.DataFrame
    drug_labels: np.ndarray
    drug_extra: np.ndarray
    label_names: list[str]
    extra_label_names: list[str]


def load_label_table() -> pd.DataFrame:
    """The 608 real label names with their set (scored/nonscored) and training positives."""
    with resources.files("gpu_moa").joinpath("data/moa_labels.csv").open("rb") as fh:
        return pd.read_csv(fh)


def _hex_ids(rng: np.random.Generator, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """``n`` distinct random 9-character lowercase hex strings not in ``exclude``."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        for v in rng.integers(0, 16**9, size=n - len(out)):
            s = f"{int(v):09x}"
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


def _stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    base = np.floor(x)
    return (base + (rng.random(x.shape) < x - base)).astype(np.int64)


def _drug_sizes(rng: np.random.Generator, n_drugs: int, total: int, large: bool) -> np.ndarray:
    """Rows per treated drug: mostly 6, some 12, a few odd and (train) a few very large.

    The sizes add up to ``total`` whenever the odd-sized drugs (1-18 rows) can make up the rest.
    """
    frac = n_drugs / N_TREATED_DRUGS
    big = [s for s in (round(v * frac) for v in LARGE_DRUGS) if s > 18][: max(1, round(9 * frac))]
    big = big if large else []
    n12 = round(N_TWELVE * frac)
    n_other = max(1, round((N_TREATED_DRUGS - N_SIX - N_TWELVE - 9) * frac))
    n6 = max(0, n_drugs - n12 - n_other - len(big))
    p = OTHER_WEIGHTS / OTHER_WEIGHTS.sum()
    other = rng.choice(OTHER_SIZES, size=n_other, p=p)
    room = total - (6 * n6 + 12 * n12 + sum(big))
    diff = int(np.clip(room, n_other, 18 * n_other)) - int(other.sum())
    allowed = set(OTHER_SIZES.tolist())
    while diff != 0:  # nudge odd sizes until the total is exact (never onto 6 or 12)
        i = int(rng.integers(n_other))
        new = other[i] + (1 if diff > 0 else -1)
        new += (new - other[i]) * (new in (6, 12))
        if new in allowed and abs(diff - (new - other[i])) <= abs(diff):
            diff -= int(new - other[i])
            other[i] = new
    sizes = np.concatenate([np.array(big, dtype=np.int64), np.full(n12, 12), other, np.full(n6, 6)])
    return sizes.astype(np.int64)


def _labels_per_drug(rng: np.random.Generator, sizes: np.ndarray, n_fixed: int) -> np.ndarray:
    """Number of scored labels per drug so that rows per label count follow ``ROWS_BY_K``.

    The first ``n_fixed`` drugs (the very large ones) get one label, the first of them two.
    """
    ks = np.array(list(ROWS_BY_K))
    rows = np.array(list(ROWS_BY_K.values()), dtype=float)
    k = np.zeros(len(sizes), dtype=np.int64)
    if n_fixed:
        k[:n_fixed] = 1
        k[0] = 2
        target = rows / rows.sum() * sizes.sum()
        target[ks == 1] -= sizes[1:n_fixed].sum()
        target[ks == 2] -= sizes[0]
        rows = np.clip(target, 0, None)
    rest = n_fixed + rng.permutation(len(sizes) - n_fixed)
    # systematic allocation: the cumulative row midpoint picks the bucket
    edges = np.cumsum(rows / rows.sum())
    mid = (np.cumsum(sizes[rest]) - sizes[rest] / 2) / sizes[rest].sum()
    k[rest] = ks[np.minimum(np.searchsorted(edges, mid), len(ks) - 1)]
    return k


def _take(buckets: dict[int, list[int]], sizes: list[int], free: np.ndarray) -> int | None:
    """Pop the first slot, trying ``sizes`` in order, whose drug is ``free``; None if none."""
    for w in sizes:
        bucket = buckets[w]
        j = next((j for j, s in enumerate(bucket) if free[s]), None)
        if j is not None:
            return bucket.pop(j)
    return None


def _fill_slots(
    rng: np.random.Generator,
    slot_drug: np.ndarray,
    slot_size: np.ndarray,
    targets: np.ndarray,
    out: np.ndarray,
) -> None:
    """Give labels to label slots so that each label's positive rows approach its target.

    Labels go smallest-first below 6 rows, then largest target first; each takes the largest free slot that still fits its need
    (random among equal sizes) on a drug that lacks it, and finally, when nothing fits, the
    smallest slot that overshoots by less than the remaining need. Writes 1s into ``out``.
    """
    buckets: dict[int, list[int]] = {}
    for s in rng.permutation(len(slot_drug)):
        buckets.setdefault(int(slot_size[s]), []).append(int(s))
    sizes_desc = sorted(buckets, reverse=True)
    tie = rng.random(len(targets))
    # labels needing less than one typical drug go first (they need the rare small drugs),
    # then the rest from the largest target down
    for lab in np.lexsort((tie, -targets, targets >= 6)):
        need = int(targets[lab])
        free = out[slot_drug, lab] == 0
        while need > 0:
            fits = [w for w in sizes_desc if w <= need]
            over = [w for w in sizes_desc[::-1] if need < w < 2 * need]
            taken = _take(buckets, fits, free)
            if taken is None:
                taken = _take(buckets, over, free)
            if taken is None:
                break
            out[slot_drug[taken], lab] = 1
            free &= slot_drug != slot_drug[taken]
            need -= int(slot_size[taken])


def _assign_labels(
    rng: np.random.Generator,
    sizes: np.ndarray,
    n_large: int,
    table: pd.DataFrame,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Scored and non-scored label matrices (drugs x labels) with real-count frequencies."""
    scored = (table["set"] == "scored").to_numpy()
    counts = table["train_positives"].to_numpy(dtype=float)
    # a scaled-down split draws whole 6-row drugs per label (expected count unchanged)
    unit = 1 if scale > 0.5 else 6
    t_scored = unit * _stochastic_round(rng, counts[scored] * scale / unit)
    t_extra = unit * _stochastic_round(rng, counts[~scored] * scale / unit)
    names = table["label"].to_numpy()[scored].tolist()
    Y = np.zeros((len(sizes), int(scored.sum())), dtype=np.uint8)
    if n_large:
        for name in LARGE_PAIR:
            j = names.index(name)
            Y[0, j] = 1
            t_scored[j] = max(0, t_scored[j] - sizes[0])
    k = _labels_per_drug(rng, sizes, n_large)
    k[0] -= 2 * bool(n_large)
    slot_drug = np.repeat(np.arange(len(sizes)), k)
    _fill_slots(rng, slot_drug, sizes[slot_drug], t_scored, Y)
    # non-scored labels: one slot on drugs picked with preference for scored-unlabelled ones
    Ye = np.zeros((len(sizes), int((~scored).sum())), dtype=np.uint8)
    pool = np.arange(n_large, len(sizes))
    w = np.where(Y[pool].sum(axis=1) == 0, 4.0, 1.0)
    picked = rng.choice(pool, size=len(pool), replace=False, p=w / w.sum())
    n_pick = int(np.searchsorted(np.cumsum(sizes[picked]), t_extra.sum())) + 1
    chosen = np.sort(picked[:n_pick])
    _fill_slots(rng, chosen, sizes[chosen], t_extra, Ye)
    return Y, Ye


def _rows(
    rng: np.random.Generator, sizes: np.ndarray, first_drug: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drug index, cp_time and cp_dose per row: each drug cycles through the 6 dose x time cells."""
    row_drug = np.repeat(np.arange(first_drug, first_drug + len(sizes)), sizes)
    start = np.repeat(rng.integers(0, 6, size=len(sizes)), sizes)
    offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    cell = (start + offset) % 6
    return row_drug, np.asarray(TIMES)[cell % 3], np.asarray(DOSES)[cell // 3]


def make_design(rng: np.random.Generator, n_drugs: int) -> Design:
    """Draw the drugs, rows, identifiers and labels of the train and test splits.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_drugs : int
        Treated drugs in the training split (3,288 in the real set); every count scales with it.

    Returns
    -------
    Design
    """
    table = load_label_table()
    frac = n_drugs / N_TREATED_DRUGS
    n_rows_tr = max(n_drugs, round(TRAIN_TREATED_ROWS * frac))
    n_rows_te = max(1, round(TEST_TREATED_ROWS * frac))
    sizes_tr = _drug_sizes(rng, n_drugs, n_rows_tr, large=True)
    n_large = int((sizes_tr > 18).sum())
    sizes_te = _drug_sizes(rng, max(1, round(n_rows_te / 6)), n_rows_te, large=False)
    y_tr, e_tr = _assign_labels(rng, sizes_tr, n_large, table, n_rows_tr / TRAIN_TREATED_ROWS)
    y_te, e_te = _assign_labels(rng, sizes_te, 0, table, n_rows_te / TRAIN_TREATED_ROWS)
    n_ctl = (max(2, round(TRAIN_CONTROL_ROWS * frac)), max(1, round(TEST_CONTROL_ROWS * frac)))
    scored = (table["set"] == "scored").to_numpy()
    n_tr = len(sizes_tr)
    parts = [
        _rows(rng, np.array([n_ctl[0]]), 0),
        _rows(rng, sizes_tr, 1),
        _rows(rng, np.array([n_ctl[1]]), 0),
        _rows(rng, sizes_te, 1 + n_tr),
    ]
    split = np.repeat(["train", "train", "test", "test"], [len(p[0]) for p in parts])
    row_drug = np.concatenate([p[0] for p in parts])
    drug_ids = _hex_ids(rng, 1 + n_tr + len(sizes_te))
    sig_ids = ["id_" + h for h in _hex_ids(rng, len(row_drug))]
    obs = pd.DataFrame(
        {
            "cp_type": np.where(row_drug == 0, CONTROL_TYPE, "trt_cp"),
            "cp_time": np.concatenate([p[1] for p in parts]).astype(np.int64),
            "cp_dose": np.concatenate([p[2] for p in parts]),
            "drug_id": np.asarray(drug_ids)[row_drug],
            "split": split,
        },
        index=pd.Index(sig_ids, name="sig_id"),
    )
    order = np.lexsort((obs.index.to_numpy(), split == "test"))  # train first, sorted by sig_id
    drugs = pd.DataFrame(
        {
            "drug_id": drug_ids,
            "split": ["train"] + ["train"] * n_tr + ["test"] * len(sizes_te),
            "n_rows": np.bincount(row_drug, minlength=len(drug_ids)),
        }
    )
    zero = np.zeros((1, int(scored.sum())), np.uint8), np.zeros((1, int((~scored).sum())), np.uint8)
    return Design(
        obs=obs.iloc[order],
        row_drug=row_drug[order],
        drugs=drugs,
        drug_labels=np.vstack([zero[0], y_tr, y_te]),
        drug_extra=np.vstack([zero[1], e_tr, e_te]),
        label_names=table["label"][scored].tolist(),
        extra_label_names=table["label"][~scored].tolist(),
    )
