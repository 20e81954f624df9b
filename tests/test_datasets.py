"""Synthetic lish-moa data: structure facts of the real set, determinism, planted signal, CLI."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa.cli import main as cli_main


def _package_csv(name: str) -> pd.DataFrame:
    with resources.files("gpu_moa").joinpath(f"data/{name}").open("rb") as fh:
        return pd.read_csv(fh)


@pytest.fixture(scope="module")
def full():
    """One full-size generation (train and test) shared by this module."""
    return gm.datasets.make_lish_moa(split="all", random_state=0, device="cpu")


@pytest.fixture(scope="module")
def train(full):
    return full[full.obs["split"].to_numpy() == "train"]


def _frames(p):
    """Host features and labels as pandas frames indexed by sig_id."""
    X = pd.DataFrame(gm.to_numpy(p.X), index=p.obs.index, columns=p.var_names)
    return X, p.labels


# ------------------------------------------------------------------------------ structure
@pytest.mark.slow
def test_full_size_rows_features_and_types(full, train):
    obs = full.obs
    counts = obs.groupby(["split", "cp_type"]).size()
    assert counts[("train", "trt_cp")] + counts[("train", "ctl_vehicle")] == 23_814
    assert abs(counts[("train", "ctl_vehicle")] - 1_866) <= 20
    assert (obs["split"] == "test").sum() == 3_982
    assert full.X.dtype == np.float32
    X = gm.to_numpy(full.X)
    assert X.min() >= -10 and X.max() <= 10 and np.isfinite(X).all()
    assert full.var_names == [f"g-{i}" for i in range(772)] + [f"c-{i}" for i in range(100)]
    assert set(obs["cp_time"]) == {24, 48, 72} and set(obs["cp_dose"]) == {"D1", "D2"}
    assert obs.index.is_unique
    assert obs.index.str.fullmatch(r"id_[0-9a-f]{9}").all()
    assert obs["drug_id"].str.fullmatch(r"[0-9a-f]{9}").all()
    assert (
        full.label_names
        == _package_csv("moa_labels.csv").query("set == 'scored'")["label"].tolist()
    )
    assert len(full.extra_label_names) == 402


@pytest.mark.slow
def test_var_annotated_from_package_data(full):
    genes, cells = _package_csv("genes.csv"), _package_csv("cells.csv")
    var = full.var
    assert (var["kind"].to_numpy()[:772] == "gene").all() and (var["kind"][772:] == "cell").all()
    assert var["symbol"].iloc[:772].tolist() == genes["symbol"].tolist()
    assert var["entrez_id"].iloc[:772].astype(int).tolist() == genes["entrez_id"].tolist()
    assert var["ccle_name"].iloc[772:].tolist() == cells["ccle_name"].tolist()


@pytest.mark.slow
def test_controls_are_one_drug_without_labels(train):
    obs = train.obs
    ctl = obs["cp_type"] == "ctl_vehicle"
    assert obs.loc[ctl, "drug_id"].nunique() == 1
    assert obs.loc[ctl, "drug_id"].iloc[0] == train.uns["truth"]["control_drug_id"]
    assert not obs.loc[~ctl, "drug_id"].isin(obs.loc[ctl, "drug_id"]).any()
    Y, E = gm.to_numpy(train.Y), gm.to_numpy(train.Y_extra)
    assert Y[ctl.to_numpy()].sum() == 0 and E[ctl.to_numpy()].sum() == 0


@pytest.mark.slow
def test_drug_sizes_follow_the_real_set(train):
    sizes = train.obs.groupby("drug_id").size()
    assert abs(sizes.size - 3_289) <= 5
    assert abs((sizes == 6).sum() - 2_774) <= 0.05 * 2_774
    assert 40 <= (sizes == 12).sum() <= 90
    assert (sizes > 18).sum() == 10
    treated = sizes.drop(train.uns["truth"]["control_drug_id"])
    assert treated.max() == 718
    # a typical drug is measured once per dose x time cell
    six = train.obs[train.obs["drug_id"].isin(sizes.index[sizes == 6])]
    cells = six.groupby("drug_id")[["cp_dose", "cp_time"]].apply(lambda d: len(d.drop_duplicates()))
    assert (cells == 6).all()


@pytest.mark.slow
def test_labels_belong_to_drugs(train):
    _, labels = _frames(train)
    per_drug = labels.groupby(train.obs["drug_id"]).nunique()
    assert (per_drug.to_numpy() == 1).all()
    truth = train.uns["truth"]["drug_moas"]
    some = train.obs.drop_duplicates("drug_id").iloc[:50]
    for sig, drug in zip(some.index, some["drug_id"], strict=True):
        assert set(labels.columns[labels.loc[sig].to_numpy() == 1]) <= set(truth[drug])


@pytest.mark.slow
def test_label_counts_per_row_and_per_label(train):
    Y = gm.to_numpy(train.Y)
    k = Y.sum(axis=1)
    share = {0: (k == 0).mean(), 1: (k == 1).mean(), 2: (k == 2).mean(), 3: (k >= 3).mean()}
    for n, real in {0: 0.393, 1: 0.526, 2: 0.065, 3: 0.016}.items():
        assert abs(share[n] - real) < 0.015, (n, share[n])
    assert k.max() <= 7
    real = _package_csv("moa_labels.csv")
    scored = real[real["set"] == "scored"]["train_positives"].to_numpy()
    got = Y.sum(axis=0)
    assert abs(got.sum() - scored.sum()) < 0.02 * scored.sum()
    assert np.abs(got - scored).sum() < 0.05 * scored.sum()
    extra = gm.to_numpy(train.Y_extra).sum(axis=0)
    assert 60 <= (extra == 0).sum() <= 85  # 71 in the real set
    treated = train.obs["cp_type"] == "trt_cp"
    drug_has = pd.Series(k, index=train.obs.index)[treated].groupby(train.obs["drug_id"]).max()
    assert abs((drug_has == 0).mean() - 0.37) < 0.03


@pytest.mark.slow
def test_test_split_holds_other_drugs_with_labels(full):
    obs = full.obs
    trt = obs["cp_type"] == "trt_cp"
    tr = set(obs.loc[trt & (obs["split"] == "train"), "drug_id"])
    te = set(obs.loc[trt & (obs["split"] == "test"), "drug_id"])
    assert te and not tr & te
    Y = gm.to_numpy(full.Y)[(obs["split"] == "test").to_numpy()]
    assert 0.5 < Y.sum() / (3_624 * 16_844 / 21_948) < 1.2


# ------------------------------------------------------------------------------ signal
@pytest.mark.slow
def test_controls_vary_least_and_cells_correlate(full):
    X = gm.to_numpy(full.X)
    ctl = (full.obs["cp_type"] == "ctl_vehicle").to_numpy()
    assert X[ctl].std(axis=0).mean() < 0.7 * X[~ctl].std(axis=0).mean()
    cells = X[:3000, 772:].astype(np.float64)
    r = np.corrcoef(cells.T.copy())
    assert r[np.triu_indices(100, 1)].mean() > 0.5


@pytest.mark.slow
def test_cytotoxic_moas_lower_viability_with_dose_and_time(train):
    truth = train.uns["truth"]
    assert {"proteasome_inhibitor", "tubulin_inhibitor", "hdac_inhibitor"} <= set(
        truth["cytotoxic_moas"]
    )
    names = np.asarray(train.label_names)
    cyto = np.isin(names, truth["cytotoxic_moas"])
    strong = np.isin(names, ["proteasome_inhibitor", "hsp_inhibitor", "tubulin_inhibitor"])
    Y = gm.to_numpy(train.Y)
    viability = gm.to_numpy(train.X)[:, 772:].mean(axis=1)
    obs = train.obs.assign(v=viability, strong=Y[:, strong].any(axis=1))
    others = (obs["cp_type"] == "trt_cp").to_numpy() & ~Y[:, cyto].any(axis=1)
    assert obs.loc[obs["strong"], "v"].mean() < obs.loc[others, "v"].mean() - 1.0
    by = obs[obs["strong"]].groupby(["cp_dose", "cp_time"])["v"].mean()
    assert by[("D2", 72)] < by[("D1", 72)] and by[("D2", 72)] < by[("D2", 24)]


@pytest.mark.slow
def test_same_moa_drugs_correlate_more(train):
    X, labels = _frames(train.genes)
    treated = train.obs["cp_type"] == "trt_cp"
    consensus = X[treated].groupby(train.obs["drug_id"]).mean()
    drug_labels = labels[treated].groupby(train.obs["drug_id"]).max()
    single = drug_labels[drug_labels.sum(axis=1) == 1]
    moa = single.idxmax(axis=1)
    moa = moa[moa.map(moa.value_counts()) >= 5]
    sub = consensus.loc[moa.index].to_numpy(np.float64)
    z = (sub - sub.mean(axis=1, keepdims=True)) / sub.std(axis=1, keepdims=True)
    r = (z @ z[:400].T.copy()).T / z.shape[1]  # distinct buffers (see the BLAS note)
    same = moa.to_numpy()[:400, None] == moa.to_numpy()[None, :]
    off = ~np.eye(*same.shape, dtype=bool)
    assert r[same & off].mean() > r[~same].mean() + 0.05


# ------------------------------------------------------------------------------ seeds, presets
def test_deterministic_by_seed_and_small_preset():
    a = gm.datasets.make_lish_moa(preset="small", random_state=7, device="cpu")
    b = gm.datasets.make_lish_moa(preset="small", random_state=7, device="cpu")
    c = gm.datasets.make_lish_moa(preset="small", random_state=8, device="cpu")
    np.testing.assert_array_equal(gm.to_numpy(a.X), gm.to_numpy(b.X))
    np.testing.assert_array_equal(gm.to_numpy(a.Y), gm.to_numpy(b.Y))
    pd.testing.assert_frame_equal(a.obs, b.obs)
    assert a.shape[0] != c.shape[0] or not np.array_equal(gm.to_numpy(a.X), gm.to_numpy(c.X))
    allrows = gm.datasets.make_lish_moa(preset="small", split="all", random_state=7, device="cpu")
    assert 1_500 <= allrows.n_obs <= 2_500 and a.n_vars == 872
    assert len(a.label_names) == 206 and len(a.extra_label_names) == 402
    first = allrows[allrows.obs["split"].to_numpy() == "train"]
    np.testing.assert_array_equal(gm.to_numpy(first.X), gm.to_numpy(a.X))


def test_n_drugs_scales_and_bad_arguments():
    p = gm.datasets.make_lish_moa(n_drugs=100, random_state=1, device="cpu")
    assert p.obs.loc[p.obs["cp_type"] == "trt_cp", "drug_id"].nunique() == 100
    with pytest.raises(ValueError, match="preset"):
        gm.datasets.make_lish_moa(preset="huge")
    with pytest.raises(ValueError, match="split"):
        gm.datasets.make_lish_moa(preset="small", split="validation")


# ------------------------------------------------------------------------------ files
def test_synth_cli_writes_the_kaggle_layout(tmp_path):
    out = tmp_path / "data"
    assert cli_main(["synth", str(out), "--preset", "small", "--seed", "3", "--quiet"]) == 0
    names = {f.name for f in out.iterdir()}
    assert {
        "train_features.csv",
        "train_targets_scored.csv",
        "train_targets_nonscored.csv",
        "train_drug.csv",
        "test_features.csv",
        "sample_submission.csv",
    } <= names
    ref = gm.datasets.make_lish_moa(preset="small", split="all", random_state=3, device="cpu")
    is_train = ref.obs["split"] == "train"
    feats = pd.read_csv(out / "train_features.csv", index_col="sig_id")
    assert list(feats.columns[:3]) == ["cp_type", "cp_time", "cp_dose"]
    np.testing.assert_allclose(
        feats.iloc[:, 3:].to_numpy(), gm.to_numpy(ref.X)[is_train.to_numpy()], atol=1e-4
    )
    targets = pd.read_csv(out / "train_targets_scored.csv", index_col="sig_id")
    assert targets.shape == (is_train.sum(), 206)
    drugs = pd.read_csv(out / "train_drug.csv", index_col="sig_id", dtype=str)
    assert (drugs["drug_id"] == ref.obs.loc[is_train, "drug_id"]).all()
    test = pd.read_csv(out / "test_features.csv")
    assert len(test) == (~is_train).sum()


def test_synth_cli_annotated_layout(tmp_path):
    out = tmp_path / "ann"
    assert cli_main(["synth", str(out), "--preset", "small", "--layout", "annotated"]) == 0
    csv = [f for f in out.iterdir() if f.suffix == ".csv"]
    assert len(csv) == 1
    header = pd.read_csv(csv[0], nrows=2)
    assert "training" in header.columns and "g-AARS1_16" in header.columns
    assert "c-0-HEYA8_OVARY" in header.columns
    assert list(header.columns[-608:]) == _package_csv("moa_labels.csv")["label"].tolist()


def test_default_data_dir_is_generated_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_MOA_DATA_DIR", str(tmp_path))
    path = gm.datasets.default_data_dir(preset="small")
    assert path.parent == tmp_path and path.name.endswith("-small")
    meta = json.loads((path / "synthetic.json").read_text())
    assert meta["preset"] == "small" and meta["random_state"] == 0
    stamp = (path / "train_features.csv").stat().st_mtime_ns
    assert gm.datasets.default_data_dir(preset="small") == path
    assert (path / "train_features.csv").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    # a set made by another version of the generator is replaced
    (path / "synthetic.json").write_text(json.dumps({**meta, "generator": "older"}))
    assert gm.datasets.default_data_dir(preset="small") == path
    assert json.loads((path / "synthetic.json").read_text()) == meta
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    p = gm.io.read_lish_moa(path, device="cpu", split="train")
    assert p.n_vars == 872 and re.fullmatch(r"id_[0-9a-f]{9}", p.obs.index[0])
