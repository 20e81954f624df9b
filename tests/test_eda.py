"""gm.eda against pandas/scipy computations of the same quantities on the small preset."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import gpu_moa as gm


@pytest.fixture
def p(small_lish_moa, xp):
    """The small preset in the namespace under test."""
    return small_lish_moa.to(xp)


@pytest.fixture(scope="module")
def frame(small_lish_moa):
    """The small preset as one pandas table (features, obs and labels)."""
    return small_lish_moa.to_frame(labels=True)


def test_label_frequencies(p, small_lish_moa, frame):
    got = gm.eda.label_frequencies(p)
    want = frame[small_lish_moa.label_names].sum().sort_values(ascending=False, kind="stable")
    pd.testing.assert_index_equal(got.index, want.index, check_names=False)
    np.testing.assert_array_equal(got["positives"], want.to_numpy())
    np.testing.assert_allclose(got["fraction"], want.to_numpy() / len(frame))
    assert (got["set"] == "scored").all()
    both = gm.eda.label_frequencies(p, which="all")
    extra = frame[small_lish_moa.extra_label_names].sum()
    assert len(both) == 608
    assert set(both.index[both["empty"]]) == set(extra.index[extra == 0]) | set(
        want.index[want == 0]
    )
    assert both.loc[extra.index, "set"].eq("nonscored").all()


def test_feature_variance_and_top(p, small_lish_moa, frame):
    for kind in ("gene", "cell"):
        cols = small_lish_moa.var.index[small_lish_moa.var["kind"] == kind]
        want = frame[cols].var().sort_values(ascending=False, kind="stable")
        got = gm.eda.top_variance(p, kind=kind, n=3)
        assert list(got.index) == list(want.index[:3])
        np.testing.assert_allclose(got["variance"], want.to_numpy()[:3], rtol=1e-4)
    ranking = gm.eda.cell_variance_ranking(p)
    assert len(ranking) == 100 and list(ranking["rank"]) == list(range(1, 101))
    # annotated names: symbols for genes, CCLE names for cells
    var = small_lish_moa.var
    top_gene = gm.eda.top_variance(p, kind="gene", n=1)
    assert top_gene["name"].iloc[0] == var.loc[top_gene.index[0], "symbol"]
    assert ranking["name"].iloc[0] == var.loc[ranking.index[0], "ccle_name"]


def test_control_vs_treatment(p, small_lish_moa, frame):
    got = gm.eda.control_vs_treatment(p)
    for (group, kind), row in got.iterrows():
        cols = small_lish_moa.var.index[small_lish_moa.var["kind"] == kind]
        block = frame.loc[frame["cp_type"] == group, cols]
        values = block.to_numpy(dtype=np.float64).ravel()
        assert row["rows"] == len(block)
        np.testing.assert_allclose(row["mean"], values.mean(), atol=1e-6)
        np.testing.assert_allclose(row["std"], values.std(ddof=1), rtol=1e-5)
        np.testing.assert_allclose(row["mean_abs"], np.abs(values).mean(), rtol=1e-5)
        np.testing.assert_allclose(row["frac_below_-2"], (values < -2).mean())
        np.testing.assert_allclose(row["frac_above_2"], (values > 2).mean())
        np.testing.assert_allclose(row["row_std"], block.std(axis=1).mean(), rtol=1e-5)
    assert set(got.index.get_level_values(0)) == {"ctl_vehicle", "trt_cp"}


@pytest.mark.parametrize("cell", ["c-63", "SNU886_LIVER", "c-63-snu886_liver"])
def test_drug_ranks_like_the_seed(p, frame, cell):
    got = gm.eda.drug_ranks(p, cell=cell)
    grouped = frame.groupby("drug_id")["c-63"]
    want_mean, want_rank = grouped.mean(), grouped.mean().rank()
    assert list(got["drug_id"]) == list(want_mean.index)
    np.testing.assert_allclose(got["mean"], want_mean.to_numpy(), atol=1e-5)
    np.testing.assert_array_equal(got["rank"], want_rank.to_numpy())
    assert got["cell"].iloc[0] == "c-63-SNU886_LIVER" and got["cell_name"].iloc[0] == "SNU886_LIVER"


def test_unknown_cell_names_close_matches(small_lish_moa):
    with pytest.raises(gm.DataError, match="SNU886_LIVER"):
        gm.eda.drug_ranks(small_lish_moa, cell="SNU886_LIVR")
    p = small_lish_moa.replace(obs=small_lish_moa.obs.drop(columns="drug_id"))
    with pytest.raises(gm.DataError, match="'drug_id'"):
        gm.eda.drug_ranks(p, cell="c-0")


def _drug_moas(frame, labels):
    return frame.groupby("drug_id")[labels].max() > 0


def test_effective_drugs(p, small_lish_moa, frame):
    cell = gm.eda.cell_variance_ranking(p).index[0]
    got = gm.eda.effective_drugs(p, cell=cell, threshold=-1.0)
    means = frame.groupby("drug_id")[cell].mean()
    want = means[means <= -1.0].sort_values(kind="stable")
    assert len(want) > 0
    assert list(got["drug_id"]) == list(want.index)
    moas = _drug_moas(frame, small_lish_moa.label_names)
    for drug, text in zip(got["drug_id"], got["moas"], strict=True):
        assert set(filter(None, text.split("; "))) == set(moas.columns[moas.loc[drug]])


def test_moa_enrichment_against_fisher(p, small_lish_moa, frame):
    cell = gm.eda.cell_variance_ranking(p).index[0]
    got = gm.eda.moa_enrichment(p, cell=cell, threshold=-1.0)
    treated = frame[frame["cp_type"] == "trt_cp"]
    moas = _drug_moas(treated, small_lish_moa.label_names)
    effective = treated.groupby("drug_id")[cell].mean().reindex(moas.index) <= -1.0
    assert got.attrs["n_drugs"] == len(moas) and got.attrs["n_effective"] == effective.sum()
    for moa in moas.columns[moas.any()]:
        has = moas[moa]
        a, b = int((has & effective).sum()), int((has & ~effective).sum())
        c, d = int((~has & effective).sum()), int((~has & ~effective).sum())
        want_p = stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
        assert got.loc[moa, "n_effective"] == a and got.loc[moa, "n_drugs"] == a + b
        np.testing.assert_allclose(got.loc[moa, "p_value"], want_p, rtol=1e-6)
    # Benjamini-Hochberg by hand
    pv = got["p_value"].to_numpy()
    order = np.argsort(pv)
    ranked = pv[order] * len(pv) / np.arange(1, len(pv) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    np.testing.assert_allclose(got["q_value"].to_numpy()[order], q)
    assert (np.diff(pv) >= 0).all()


def test_replicate_reproducibility(p, small_lish_moa, frame):
    got = gm.eda.replicate_reproducibility(p, kind="cell")
    cells = small_lish_moa.var.index[small_lish_moa.var["kind"] == "cell"]
    counts = frame["drug_id"].value_counts()
    for drug in [*counts.index[:2], *counts.index[counts == 6][:3], *counts.index[counts == 1][:1]]:
        block = frame.loc[frame["drug_id"] == drug, cells].to_numpy(dtype=np.float64)
        corr = pd.DataFrame(block.T).corr().to_numpy()
        pairs = [corr[i, j] for i, j in itertools.combinations(range(len(block)), 2)]
        want = np.mean(pairs) if pairs else np.nan
        assert got.loc[drug, "replicates"] == len(block)
        np.testing.assert_allclose(got.loc[drug, "mean_corr"], want, atol=1e-5)
    assert got["mean_corr"].dropna().is_monotonic_decreasing


def test_bad_options(small_lish_moa):
    with pytest.raises(ValueError, match="which must be"):
        gm.eda.label_frequencies(small_lish_moa, which="some")
    with pytest.raises(ValueError, match="kind must be"):
        gm.eda.top_variance(small_lish_moa, kind="protein")
    unlabelled = small_lish_moa.replace(Y=None, label_names=[])
    with pytest.raises(gm.DataError, match="no labels"):
        gm.eda.label_frequencies(unlabelled)
