"""Stage "connectivity": Connectivity Map scores between the drugs' consensus gene signatures.

Each drug's treated replicates are collapsed into one MODZ consensus signature over the gene
features; each signature then queries all the others with its 50 highest and 50 lowest genes
(WTCS, :func:`gpu_moa.tl.connectivity`). The stage reports how often a drug's best-connected other
drug shares one of its MoAs, against Pearson's nearest drug and against chance, and the top
connections of one example drug.
"""

from __future__ import annotations

import numpy as np

from gpu_moa import _backend, pp, tl
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section

#: drugs kept (a random sample when there are more): --quick / full run
MAX_DRUGS = {True: 200, False: 1000}
N_GENES = 50
TITLE = "Connectivity Map scores between drugs"


def _signatures(ctx: RunContext) -> Profiles | None:
    p = pp.drop_controls(ctx.train)
    column = p.drug_column
    if p.Y is None or column is None:
        return None
    if "kind" in p.var:
        p = p.select_vars((p.var["kind"] == "gene").to_numpy())
    # the sample of drugs is drawn first (positions in consensus's sorted drug order) and only
    # its rows are collapsed: the same signatures as collapsing every drug, then sampling
    codes = p.obs.groupby(column, sort=True, observed=True).ngroup().to_numpy()
    n_drugs, limit = int(codes.max()) + 1, MAX_DRUGS[ctx.quick]
    if n_drugs > limit:
        rng = np.random.default_rng(ctx.random_state)
        chosen = np.sort(rng.choice(n_drugs, size=limit, replace=False))
        p = p[np.isin(codes, chosen) | (codes < 0)]  # rows without a drug id: consensus refuses
    sigs = pp.consensus(p, by=column, method="modz")
    return sigs if sigs.n_obs > 2 and 2 * N_GENES <= sigs.n_vars else None


def _share_rates(sigs: Profiles, best: dict[str, np.ndarray]) -> dict[str, float]:
    """Share-an-MoA rate of each method's best other drug, and chance (a random other drug)."""
    xp = sigs.xp
    Y = sigs.Y
    overlap = xp.matmul(Y, xp.permute_dims(Y, (1, 0))) > 0  # n x n for n <= MAX_DRUGS
    n = sigs.n_obs
    others = xp.sum(xp.astype(overlap, xp.float32), axis=1) - xp.astype(
        xp.sum(Y, axis=1) > 0, xp.float32
    )
    labelled = _backend.to_numpy(xp.sum(Y, axis=1) > 0)
    rates = {"chance": float(np.mean(_backend.to_numpy(others)[labelled] / (n - 1)))}
    for name, idx in best.items():
        hit = xp.sum(Y * _backend.take_rows(Y, idx), axis=1) > 0
        rates[name] = float(np.mean(_backend.to_numpy(hit)[labelled]))
    return rates


def run(ctx: RunContext) -> None:
    """Add the connectivity metrics, tables and report section to ``ctx``."""
    sigs = _signatures(ctx)
    if sigs is None:
        ctx.sections.append(Section(TITLE, "No labelled drugs with enough genes: not evaluated."))
        return
    xp = sigs.xp
    result = tl.connectivity(sigs, sigs, n_genes=N_GENES, tau_reference=None)
    n = sigs.n_obs
    own = xp.arange(n, device=sigs.X.device)[:, None] == xp.arange(n, device=sigs.X.device)
    wtcs = xp.where(own, -xp.inf, result.wtcs)
    best = {"wtcs": _backend.to_numpy(xp.argmax(wtcs, axis=1))}
    pearson, _ = tl.similarity_topk(sigs, k=1)
    best["pearson"] = _backend.to_numpy(pearson[:, 0])
    rates = _share_rates(sigs, best)
    example = result.to_frame(top=6, score="wtcs")
    first = example["query"].iloc[0]
    example = example[(example["query"] == first) & (example["reference"] != first)].head(5)
    ctx.metrics["connectivity"] = {"drugs": n, "n_genes": N_GENES, **rates}
    ctx.tables["connectivity_example"] = example
    text = (
        f"The {n:,} drugs' MODZ consensus gene signatures queried each other with their "
        f"{N_GENES} highest and {N_GENES} lowest genes (weighted connectivity score, WTCS, as in "
        f"the Connectivity Map). The best-connected other drug shares an MoA in "
        f"{rates['wtcs']:.1%} of the labelled drugs, against {rates['pearson']:.1%} for the "
        f"most correlated drug (Pearson over all genes) and {rates['chance']:.2%} for a random "
        "one."
    )
    ctx.sections.append(Section(TITLE, text, tables=[(f"Top connections of {first}", example)]))
