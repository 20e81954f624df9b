"""Stage "matching": fingerprint matching evaluated with whole drugs held out.

Every treated training profile (rank-Gauss transformed) is matched against all the others except
those of its own drug. The stage reports how often the nearest profiles share an MoA against
chance, the retrieval mAP (on a sample of queries, to bound the cost), the competition log loss of
the kNN MoA predictions (:func:`gpu_moa.tl.predict_moa` defaults) against the label-prior baseline,
and one example query's neighbours. One all-vs-all search serves all of it but the mAP, which
ranks every candidate of its sampled queries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend, pl, pp
from gpu_moa.metrics import multilabel_log_loss
from gpu_moa.metrics._map import map_p_value
from gpu_moa.metrics._retrieval import (
    chance_of_hit,
    hits_of,
    positive_counts,
    retrieval_inputs,
    retrieval_map,
)
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section
from gpu_moa.tl._match import neighbour_table, neighbours, vote

#: treated drugs kept with --quick (all of them otherwise)
QUICK_DRUGS = 300
#: queries sampled for the mAP (full run / --quick)
MAP_QUERIES = {False: 2000, True: 300}
#: random rankings per configuration in the mAP's null
MAP_NULL = 1000
#: neighbours searched (the kNN vote uses all of them, the hit-rate curve k = 1..K)
K = 20
CURVE_KS = (1, 2, 3, 5, 10, 20)


def _population(ctx: RunContext) -> Profiles:
    p = ctx.train
    p = pp.drop_controls(p)
    if ctx.quick and "drug_id" in p.obs:
        drugs = p.obs["drug_id"].dropna().unique()
        rng = np.random.default_rng(ctx.random_state)
        keep = rng.choice(drugs, size=min(QUICK_DRUGS, drugs.size), replace=False)
        p = p[p.obs["drug_id"].isin(keep).to_numpy()]
    return pp.rank_gauss(p)


def _curve(hits: np.ndarray, n_pos: np.ndarray, n_cand: np.ndarray) -> pd.DataFrame:
    rows = []
    for k in (k for k in CURVE_KS if k <= hits.shape[1]):
        rate = float(np.mean(np.any(hits[:, :k], axis=1)))
        chance = float(np.mean(chance_of_hit(n_pos, n_cand, k)))
        rows.append({"k": k, "hit_rate": rate, "chance": chance, "enrichment": rate / chance})
    return pd.DataFrame(rows)


def _example(p: Profiles, q_rows: np.ndarray, hits: np.ndarray, idx: Any, scores: Any) -> Any:
    """Neighbour table (10 best, from the stage's search) of the labelled query whose best hit
    scores highest."""
    top = np.where(hits[:, 0], scores[q_rows, 0], -np.inf)
    best = int(q_rows[int(np.argmax(top))])
    table = neighbour_table(p[[best]], p, idx[best : best + 1, :10], scores[best : best + 1, :10])
    moa = "|".join(np.asarray(p.label_names)[_backend.to_numpy(p.Y[best, :]) > 0])
    return table.assign(query_moa=moa)


def run(ctx: RunContext) -> None:
    """Add the matching metrics, tables and report section to ``ctx``."""
    if ctx.train.Y is None:
        ctx.sections.append(Section("Fingerprint matching", "No labels: matching not evaluated."))
        return
    p = _population(ctx)
    idx, scores = neighbours(p, p, k=K, search=ctx.search)
    idx, scores = _backend.to_numpy(idx), _backend.to_numpy(scores)
    Y, codes, q_rows = retrieval_inputs(p, "moa")
    hits, _ = hits_of(idx[q_rows], Y, q_rows)
    n_pos, n_cand = positive_counts(Y, codes, q_rows)
    if not (n_pos > 0).any():  # tiny data: no query has another drug sharing its MoA
        ctx.sections.append(
            Section(
                "Fingerprint matching",
                f"Skipped: none of the {q_rows.size} labelled queries has a row of another drug "
                "with a shared MoA to find.",
            )
        )
        return
    curve = _curve(hits, n_pos, n_cand)
    rng = np.random.default_rng(ctx.random_state)
    sample = rng.choice(q_rows, size=min(MAP_QUERIES[ctx.quick], q_rows.size), replace=False)
    m_ap = retrieval_map(p, queries=sample)
    at = np.searchsorted(q_rows, sample)  # q_rows is sorted and holds the sample
    map_p, map_chance = map_p_value(
        m_ap, n_pos[at], n_cand[at], null_size=MAP_NULL, seed=ctx.random_state
    )
    P = vote(
        _backend.to_device(idx, p.X),
        _backend.to_device(scores, p.X),
        p,
        p,
        shrinkage=0.2,
        power=4.0,
    )
    xp = p.xp
    prior = xp.zeros_like(P) + xp.mean(xp.astype(p.Y, P.dtype), axis=0)
    loss, prior_loss = multilabel_log_loss(p.Y, P), multilabel_log_loss(p.Y, prior)
    example = _example(p, q_rows, hits, idx, scores)
    first = curve.iloc[0]
    ctx.metrics["matching"] = {
        "profiles": p.n_obs,
        "queries": int(q_rows.size),
        "hit_rate_at_1": float(first["hit_rate"]),
        "chance_at_1": float(first["chance"]),
        "enrichment_at_1": float(first["enrichment"]),
        "precision_at_10": float(np.mean(hits[:, :10])),
        "map": m_ap,
        "map_queries": int(sample.size),
        "map_chance": map_chance,
        "map_p_value": map_p,
        "knn_log_loss": loss,
        "prior_log_loss": prior_loss,
    }
    ctx.tables["matching_hit_rate"] = curve
    ctx.tables["matching_example"] = example
    text = (
        f"Each of the {p.n_obs:,} treated profiles (rank-Gauss transformed) was matched by "
        f"Pearson correlation against all others except its own drug's. For the "
        f"{q_rows.size:,} profiles with a scored MoA, the nearest other-drug profile shares an "
        f"MoA in {first['hit_rate']:.1%} of cases, against {first['chance']:.2%} for a random "
        f"profile ({first['enrichment']:.1f}x). Retrieval mAP over {sample.size:,} sampled "
        f"queries: {m_ap:.3f} (random rankings: {map_chance:.3f}; p = {map_p:.2g} against "
        f"{MAP_NULL:,} random rankings of the same sizes). The leave-drug-out kNN MoA "
        f"predictions (k={K}, similarity-weighted votes shrunk to the label prior) score a "
        f"log loss of {loss:.5f} against {prior_loss:.5f} for the prior alone (treated rows; controls, predicted 0, "
        "would add nothing)."
    )
    ctx.sections.append(
        Section(
            "Fingerprint matching",
            text,
            figures=[
                ("Leave-drug-out MoA hit rate of the k nearest profiles", pl.hit_rate_curve(curve)),
                (
                    f"Nearest other-drug profiles of {example['query_sig_id'].iloc[0]} "
                    f"({example['query_moa'].iloc[0]})",
                    pl.neighbors(example, score="score", name="ref_drug_id", annotate="ref_moa"),
                ),
            ],
            tables=[("Hit rate vs chance", curve), ("Example query's neighbours", example)],
        )
    )
