"""Figures (matplotlib, headless): each function returns a :class:`matplotlib.figure.Figure`.

Computations live in :mod:`gpu_moa.eda` / :mod:`gpu_moa.tl`; these functions only draw (most
accept either Profiles or the matching result table). Genes and cell lines are labelled with
their symbols and CCLE names wherever the data are annotated.

=====================================  ==========================================================
``moa_frequencies(p)``                 positives per MoA label
``top_variance(p, kind=, n=3)``        densities of the most variable genes / cell lines
``cell_variance(p)``                   cell lines sorted by viability variance
``control_vs_treatment(p)``            signature strength of controls vs treatments
``replicate_reproducibility(t)``       replicate correlation per drug (vs a shuffled null)
``drug_ranks(p, cells=[...])``         drug mean viability vs rank, -2/+2 lines
``effective_moas(t)``                  MoAs of the effective drugs and their enrichment
``embedding(p, basis=, color=)``       PCA / UMAP scatter coloured by obs columns
``pca(p)``, ``umap(p)``                the same for X_pca / X_umap
``neighbors(hits)``                    a query's nearest reference signatures
``hit_rate_curve(curve)``              leave-drug-out MoA hit rate vs k, against chance
``auc_histogram(aucs)``                per-label ROC AUC
``cv_curve(scores)``                   a metric per cross-validation fold
``to_png(fig)``                        PNG bytes of a figure (Agg renderer)
=====================================  ==========================================================
"""

from __future__ import annotations

from gpu_moa.pl._common import to_png
from gpu_moa.pl._data import (
    cell_variance,
    control_vs_treatment,
    moa_frequencies,
    replicate_reproducibility,
    top_variance,
)
from gpu_moa.pl._drugs import drug_ranks, effective_moas
from gpu_moa.pl._embed import embedding, pca, umap
from gpu_moa.pl._matching import hit_rate_curve
from gpu_moa.pl._results import auc_histogram, cv_curve, neighbors

__all__ = [
    "auc_histogram",
    "cell_variance",
    "control_vs_treatment",
    "cv_curve",
    "drug_ranks",
    "effective_moas",
    "embedding",
    "hit_rate_curve",
    "moa_frequencies",
    "neighbors",
    "pca",
    "replicate_reproducibility",
    "to_png",
    "top_variance",
    "umap",
]
