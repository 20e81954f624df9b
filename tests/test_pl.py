"""gm.pl: every figure renders headless, and what it draws matches a pandas computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import gpu_moa as gm


@pytest.fixture(scope="module")
def p(small_lish_moa):
    return small_lish_moa


@pytest.fixture(scope="module")
def frame(small_lish_moa):
    return small_lish_moa.to_frame(labels=True)


def _png_ok(fig):
    assert isinstance(fig, Figure)
    png = gm.pl.to_png(fig, dpi=40)
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def _cell_variance(p, frame):
    cells = p.var.index[p.var["kind"] == "cell"]
    return frame[cells].var().sort_values(ascending=False, kind="stable")


def test_moa_frequencies(p, frame):
    fig = gm.pl.moa_frequencies(p)
    heights = [patch.get_height() for patch in fig.axes[0].patches]
    want = frame[p.label_names].sum().sort_values(ascending=False, kind="stable")
    np.testing.assert_array_equal(heights, want.to_numpy())
    assert f"{int((want == 0).sum())} of 206 labels without any sample" in fig.axes[0].get_title()
    top = gm.pl.moa_frequencies(gm.eda.label_frequencies(p), top=10)
    assert [t.get_text() for t in top.axes[0].get_xticklabels()] == list(want.index[:10])
    _png_ok(fig)


@pytest.mark.parametrize("kind", ["gene", "cell"])
def test_top_variance_named(p, frame, kind):
    fig = gm.pl.top_variance(p, kind=kind, n=3)
    cols = p.var.index[p.var["kind"] == kind]
    top = frame[cols].var().sort_values(ascending=False).index[:3]
    column = "symbol" if kind == "gene" else "ccle_name"
    titles = [ax.get_title() for ax in fig.axes]
    for title, feature in zip(titles, top, strict=True):
        assert title.startswith(f"{p.var.loc[feature, column]} ({feature})")
    _png_ok(fig)


def test_cell_variance(p, frame):
    fig = gm.pl.cell_variance(p)
    want = _cell_variance(p, frame)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == list(p.var.loc[want.index, "ccle_name"])
    np.testing.assert_allclose([b.get_height() for b in fig.axes[0].patches], want, rtol=1e-4)
    _png_ok(fig)


def test_drug_ranks(p, frame):
    want = _cell_variance(p, frame)
    cells = [want.index[0], p.var.loc[want.index[-1], "ccle_name"]]  # id and CCLE name
    fig = gm.pl.drug_ranks(p, cells=cells)
    ax = fig.axes[0]
    assert sorted(line.get_ydata()[0] for line in ax.get_lines()) == [-2.0, 2.0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 2
    for coll, feature in zip(points, [want.index[0], want.index[-1]], strict=True):
        means = frame.groupby("drug_id")[feature].mean()
        xy = coll.get_offsets()
        np.testing.assert_allclose(xy[:, 1], means.to_numpy(), atol=1e-5)
        np.testing.assert_array_equal(xy[:, 0], means.rank().to_numpy())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith(f"{want.index[0]}-{p.var.loc[want.index[0], 'ccle_name']}")
    _png_ok(fig)


def test_effective_moas(p, frame):
    cell = _cell_variance(p, frame).index[0]
    table = gm.eda.moa_enrichment(p, cell=cell, threshold=-1.0)
    fig = gm.pl.effective_moas(table, top=5)
    left, right = fig.axes[:2]
    counts = table["n_effective"][table["n_effective"] > 0].sort_values(ascending=False)
    np.testing.assert_array_equal([b.get_width() for b in left.patches], counts.head(5))
    assert f"in {table.attrs['cell']}" in left.get_title()
    assert len(right.patches) == 5
    _png_ok(fig)
    with pytest.raises(ValueError, match="pass cell="):
        gm.pl.effective_moas(p)
    _png_ok(gm.pl.effective_moas(p, cell=cell, threshold=-1.0, top=3))


def test_control_and_replicates(p):
    fig = gm.pl.control_vs_treatment(p)
    assert [ax.get_title() for ax in fig.axes] == [
        "Gene signature strength by cp_type",
        "Cell signature strength by cp_type",
    ]
    _png_ok(fig)
    table = gm.eda.replicate_reproducibility(p)
    shuffled = p.replace(
        obs=p.obs.assign(drug_id=p.obs["drug_id"].sample(frac=1, random_state=0).to_numpy())
    )
    fig = gm.pl.replicate_reproducibility(table, null=gm.eda.replicate_reproducibility(shuffled))
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0] == f"drugs (median {table['mean_corr'].median():.3f})"
    _png_ok(fig)


def test_embeddings(p):
    q = gm.tl.pca(p, n_comps=5)
    rng = np.random.default_rng(0)
    q = q.replace(
        obsm={**q.obsm, "X_umap": rng.standard_normal((p.n_obs, 2)).astype(np.float32)},
        obs=q.obs.assign(score=rng.uniform(size=p.n_obs)),
    )
    fig = gm.pl.pca(q)
    assert [ax.get_title() for ax in fig.axes] == [
        f"PCA coloured by {c}" for c in ("cp_dose", "cp_time", "cp_type")
    ]
    ratio = float(gm.to_numpy(q.uns["pca"]["variance_ratio"])[0])
    assert fig.axes[0].get_xlabel() == f"PC1 ({100 * ratio:.1f}% of variance)"
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["24", "48", "72"]
    _png_ok(fig)
    fig = gm.pl.embedding(q, basis="X_umap", color="score")
    assert len(fig.axes) == 2  # the scatter and its colour bar
    _png_ok(fig)
    with pytest.raises(KeyError, match="run gm.tl.pca"):
        gm.pl.embedding(p, basis="X_pca")
    with pytest.raises(KeyError, match="no column"):
        gm.pl.umap(q, color="moa")


def test_result_figures():
    aucs = pd.Series([0.5, 0.7, np.nan, 0.9], index=list("abcd"))
    fig = gm.pl.auc_histogram(aucs)
    assert fig.axes[0].get_title() == "Per-label AUC (3 labels, 1 undefined)"
    assert sum(b.get_height() for b in fig.axes[0].patches) == 3
    _png_ok(fig)
    scores = pd.DataFrame({"fold": range(5), "logistic": [0.018, 0.019, 0.0185, 0.02, 0.017]})
    fig = gm.pl.cv_curve(scores)
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "logistic (mean 0.0185)"
    _png_ok(fig)
    hits = pd.DataFrame(
        {
            "query": ["q1"] * 3 + ["q2"] * 2,
            "reference": ["a", "b", "c", "d", "e"],
            "similarity": [0.5, 0.9, 0.7, 0.3, 0.2],
            "moa": ["x", "y", "x", "z", "z"],
        }
    )
    fig = gm.pl.neighbors(hits, k=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c"]
    assert ax.get_title() == "Nearest neighbours of q1"
    _png_ok(fig)
    with pytest.raises(KeyError, match="score column"):
        gm.pl.neighbors(hits.drop(columns="similarity"))
