"""Stage "embedding": PCA of genes and cell lines coloured by dose / time / type, and a UMAP.

The PCA (exact, on the device) uses every row; the UMAP runs on a random subsample when the data
are large (its layout is computed on the host by umap-learn unless cuML is installed), so the
stage stays within a minute on two CPU cores at full size. The training profiles get
``obsm["X_pca"]`` for the later stages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from gpu_moa import _backend, pl, tl
from gpu_moa.eda._names import display_names
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section

#: rows given to UMAP (full run / --quick)
UMAP_ROWS = {False: 5000, True: 1500}
#: layout epochs (umap-learn's default above 10,000 rows; 500 below is slower, hardly better)
UMAP_EPOCHS = 200
#: principal components kept (full run / --quick)
N_COMPS = {False: 50, True: 20}
#: MoAs coloured individually in the UMAP (the others are grouped)
TOP_MOAS = 6


def _loadings(p: Profiles, n: int = 10) -> pd.DataFrame:
    """The features with the largest absolute loadings on PC1 and PC2, with readable names."""
    comps = _backend.to_numpy(p.uns["pca"]["components"])
    names = display_names(p.var)
    rows = []
    for k in range(min(2, comps.shape[0])):
        for j in np.argsort(-np.abs(comps[k]))[:n]:
            rows.append(
                {
                    "component": f"PC{k + 1}",
                    "feature": p.var_names[j],
                    "name": names[j],
                    "loading": float(comps[k, j]),
                }
            )
    return pd.DataFrame(rows)


def _top_moa(p: Profiles) -> pd.Series:
    """Per row: its MoA when among the most frequent ones, "other MoA", "no MoA" or "control"."""
    xp = p.xp
    Y = p.Y > 0.5
    counts = _backend.to_numpy(xp.sum(xp.astype(Y, xp.int64), axis=0))
    order = np.argsort(-counts, kind="stable")[:TOP_MOAS]
    # only the top labels' columns (and one flag per row) come to the host
    top = _backend.to_numpy(_backend.take_cols(Y, order)) if len(order) else None
    out = np.where(_backend.to_numpy(xp.any(Y, axis=1)), "other MoA", "no MoA").astype(object)
    for rank in range(len(order) - 1, -1, -1):  # the most frequent label wins for rows with several
        out[top[:, rank]] = p.label_names[order[rank]]
    out[p.is_control] = "control"
    return pd.Series(out, index=p.obs.index, name="moa")


def _pca_section(ctx: RunContext, p: Profiles) -> Profiles:
    n_comps = min(N_COMPS[ctx.quick], p.n_obs, p.n_vars)
    colors = [c for c in ("cp_dose", "cp_time", "cp_type") if c in p.obs]
    figures = []
    for kind in ("gene", "cell"):
        sub = p.select_vars(p.var["kind"].to_numpy() == kind)
        if sub.n_vars >= 2:
            fig = pl.pca(tl.pca(sub, n_comps=2, whiten=True), color=colors)
            figures.append((f"PCA of the {kind} features (whitened, as in the seed)", fig))
    q = tl.pca(p, n_comps=n_comps)
    ratio = _backend.to_numpy(q.uns["pca"]["variance_ratio"]).astype(float)
    variance = pd.DataFrame(
        {"variance_ratio": ratio, "cumulative": np.cumsum(ratio)},
        index=pd.Index([f"PC{i + 1}" for i in range(len(ratio))], name="component"),
    )
    ctx.tables["pca_variance"] = variance
    ctx.tables["pca_loadings"] = _loadings(q)
    metrics = {
        "n_comps": n_comps,
        "solver": q.uns["pca"]["solver"],
        "variance_ratio_pc1": float(ratio[0]),
        "cumulative_variance": float(variance["cumulative"].iloc[-1]),
    }
    if "cp_type" in p.obs and p.obs["cp_type"].nunique() == 2:
        scores = _backend.to_numpy(q.obsm["X_pca"])[:, : min(10, n_comps)]
        metrics["silhouette_cp_type"] = float(
            silhouette_score(
                scores,
                p.obs["cp_type"].to_numpy(),
                sample_size=min(3000, p.n_obs),
                random_state=ctx.random_state,
            )
        )
    ctx.metrics["embedding"] = {"pca": metrics}
    text = (
        f"Exact PCA ({metrics['solver']}) of all {p.n_vars} features: PC1 explains "
        f"{100 * ratio[0]:.1f}% of the variance, the first {n_comps} components "
        f"{100 * metrics['cumulative_variance']:.1f}%. Dose and time mix; controls gather in one "
        "region (low signature strength)."
    )
    ctx.sections.append(
        Section(
            "PCA",
            text,
            figures=figures,
            tables=[("Largest loadings of PC1 and PC2", ctx.tables["pca_loadings"])],
        )
    )
    return q


def _umap_section(ctx: RunContext, q: Profiles) -> None:
    n = min(UMAP_ROWS[ctx.quick], q.n_obs)
    rows = np.sort(np.random.default_rng(ctx.random_state).choice(q.n_obs, n, replace=False))
    sub = q[rows]
    if sub.Y is not None:
        sub = sub.replace(obs=sub.obs.assign(moa=_top_moa(sub).to_numpy()))
    sub = tl.umap(sub, use_rep="X_pca", n_epochs=UMAP_EPOCHS, random_state=ctx.random_state)
    colors = [c for c in ("moa", "cp_type", "cp_time", "cp_dose") if c in sub.obs]
    backend = sub.uns["umap"]["backend"]
    ctx.metrics["embedding"]["umap"] = {"rows": n, "backend": backend}
    ctx.sections.append(
        Section(
            "UMAP",
            f"UMAP ({backend}) of {n:,} randomly chosen signatures"
            f"{'' if n == q.n_obs else f' of {q.n_obs:,}'}, from the principal components.",
            figures=[("UMAP coloured by MoA and metadata", pl.umap(sub, color=colors[:3]))],
        )
    )


def run(ctx: RunContext) -> None:
    """Add the PCA and UMAP of ``ctx.train`` to the run (and ``obsm["X_pca"]`` to ``ctx.train``)."""
    q = _pca_section(ctx, ctx.train)
    if q.n_obs >= 10:
        _umap_section(ctx, q)
    ctx.train = q
