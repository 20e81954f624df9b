"""lish-moa I/O round trips (Kaggle directory, .csv.zip, annotated CSV, Parquet) against pandas."""

from __future__ import annotations

import zipfile
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import gpu_moa as gm

KAGGLE_FILES = [
    "sample_submission",
    "test_features",
    "train_drug",
    "train_features",
    "train_targets_nonscored",
    "train_targets_scored",
]


def package_table(name: str) -> pd.DataFrame:
    return pd.read_csv(resources.files("gpu_moa") / "data" / name)


def assert_same(a: gm.Profiles, b: gm.Profiles, *, labels: bool = True) -> None:
    np.testing.assert_array_equal(gm.to_numpy(a.X), gm.to_numpy(b.X))
    pd.testing.assert_frame_equal(a.obs, b.obs)
    if labels:
        np.testing.assert_array_equal(gm.to_numpy(a.Y), gm.to_numpy(b.Y))
        np.testing.assert_array_equal(gm.to_numpy(a.Y_extra), gm.to_numpy(b.Y_extra))
        assert a.label_names == b.label_names
        assert a.extra_label_names == b.extra_label_names


@pytest.mark.parametrize("compress", [False, True])
def test_kaggle_round_trip(tmp_path, tiny_lish_moa, compress):
    train, test = tiny_lish_moa
    written = gm.io.write_lish_moa(train, tmp_path, test=test, compress=compress)
    ext = ".csv.zip" if compress else ".csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f + ext for f in KAGGLE_FILES]
    assert set(written) == set(KAGGLE_FILES)
    back = gm.io.read_lish_moa(tmp_path, device="cpu")
    assert_same(back, train)
    assert back.uns["source"] == str(tmp_path)
    test_back = gm.io.read_lish_moa(tmp_path, split="test", device="cpu")
    assert test_back.Y is None and test_back.Y_extra is None
    assert_same(test_back, test, labels=False)


def test_kaggle_files_match_pandas_oracle(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path, test=test)
    feats = pd.read_csv(tmp_path / "train_features.csv")
    assert list(feats.columns) == ["sig_id", "cp_type", "cp_time", "cp_dose", *train.var_names]
    np.testing.assert_array_equal(feats[train.var_names].to_numpy(np.float32), train.X)
    assert feats["cp_time"].tolist() == train.obs["cp_time"].tolist()
    scored = pd.read_csv(tmp_path / "train_targets_scored.csv")
    assert list(scored.columns) == ["sig_id", *train.label_names]
    np.testing.assert_array_equal(scored[train.label_names].to_numpy(), train.Y)
    drugs = pd.read_csv(tmp_path / "train_drug.csv")
    assert drugs["drug_id"].tolist() == train.obs["drug_id"].tolist()
    sub = pd.read_csv(tmp_path / "sample_submission.csv")
    assert list(sub.columns) == ["sig_id", *train.label_names]
    assert (sub[train.label_names].to_numpy() == 0.5).all()
    assert sub["sig_id"].tolist() == test.obs.index.tolist()
    first = (tmp_path / "train_features.csv").read_text().splitlines()[1]
    assert '"' not in first
    assert all(len(v.split(".")[-1]) <= 4 for v in first.split(",")[4:])
    with zipfile.ZipFile(
        gm.io.write_lish_moa(train, tmp_path / "z", compress=True)["train_drug"]
    ) as zf:
        assert zf.namelist() == ["train_drug.csv"]


def test_split_all_has_nan_test_labels(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path, test=test)
    both = gm.io.read_lish_moa(tmp_path, split="all", device="cpu")
    assert both.n_obs == train.n_obs + test.n_obs
    assert both.obs["split"].tolist() == ["train"] * train.n_obs + ["test"] * test.n_obs
    Y = gm.to_numpy(both.Y)
    np.testing.assert_array_equal(Y[: train.n_obs], train.Y)
    assert np.isnan(Y[train.n_obs :]).all()
    assert both.obs["drug_id"].iloc[train.n_obs :].isna().all()


def test_var_is_annotated_from_package_data(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path)
    var = gm.io.read_lish_moa(tmp_path, device="cpu").var
    genes, cells = package_table("genes.csv"), package_table("cells.csv")
    assert var.loc["g-0", "symbol"] == genes.loc[0, "symbol"]
    assert var.loc["g-5", "entrez_id"] == genes.loc[5, "entrez_id"]
    assert var.loc["c-2", "ccle_name"] == cells.loc[2, "ccle_name"]
    assert var["kind"].tolist() == ["gene"] * 6 + ["cell"] * 3
    assert var.loc[var["kind"] == "cell", "symbol"].isna().all()


def test_missing_train_drug_warns(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path)
    (tmp_path / "train_drug.csv").unlink()
    (tmp_path / "train_targets_nonscored.csv").unlink()
    with pytest.warns(UserWarning, match="train_drug"):
        back = gm.io.read_lish_moa(tmp_path, device="cpu")
    assert back.obs["drug_id"].isna().all()
    assert back.Y_extra is None and back.extra_label_names == []


def test_annotated_round_trip(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    path = gm.io.write_lish_moa(train, tmp_path, test=test, layout="annotated")[
        "lish_moa_annotated"
    ]
    frame = pd.read_csv(path)
    genes, cells = package_table("genes.csv"), package_table("cells.csv")
    g0 = f"g-{genes.loc[0, 'symbol']}_{genes.loc[0, 'entrez_id']}"
    c1 = f"c-1-{cells.loc[1, 'ccle_name']}"
    assert g0 in frame.columns and c1 in frame.columns
    assert list(frame.columns[-6:]) == train.label_names + train.extra_label_names
    assert frame["training"].tolist() == [1] * train.n_obs + [0] * test.n_obs
    assert frame[train.label_names].iloc[train.n_obs :].isna().all().all()
    back = gm.io.read_lish_moa(path, device="cpu")
    assert back.var_names == train.var_names
    assert back.var.loc["g-0", "symbol"] == genes.loc[0, "symbol"]
    assert_same(back, train)
    test_back = gm.io.read_lish_moa(path, split="test", device="cpu")
    assert_same(test_back, test, labels=False)


@pytest.mark.parametrize("split", ["train", "all"])
def test_parquet_round_trip_is_exact(tmp_path, tiny_lish_moa, split):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "d", test=test)
    p = gm.io.read_lish_moa(tmp_path / "d", split=split, device="cpu")
    gm.io.write_parquet(p, tmp_path / "p.parquet")
    back = gm.io.read_lish_moa(tmp_path / "p.parquet", split=split, device="cpu")
    assert_same(back, p)
    pd.testing.assert_frame_equal(back.var, p.var)
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names[:6] == ["sig_id", "cp_type", "cp_time", "cp_dose", "drug_id", "split"]
    np.testing.assert_array_equal(table.column("c-2").to_numpy(), gm.to_numpy(p.X)[:, -1])


def test_parquet_split_selection_and_chunks(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "d", test=test)
    both = gm.io.read_lish_moa(tmp_path / "d", split="all", device="cpu")
    gm.io.write_parquet(both, tmp_path / "p.parquet", row_group_size=5)
    only_test = gm.io.read_lish_moa(tmp_path / "p.parquet", split="test", device="cpu")
    assert only_test.Y is None
    assert only_test.obs.index.tolist() == test.obs.index.tolist()
    chunks = list(gm.io.iter_parquet_chunks(tmp_path / "p.parquet", chunk_rows=4))
    assert [len(ids) for ids, _ in chunks] == [4] * 6 + [3]
    np.testing.assert_array_equal(np.concatenate([b for _, b in chunks]), both.X)
    assert np.concatenate([i for i, _ in chunks]).tolist() == both.obs.index.tolist()


def test_foreign_parquet_with_kaggle_columns(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path)
    feats = pd.read_csv(tmp_path / "train_features.csv")
    feats.to_parquet(tmp_path / "f.parquet", index=False)
    back = gm.io.read_lish_moa(tmp_path / "f.parquet", device="cpu")
    np.testing.assert_array_equal(back.X, train.X)
    assert back.obs["cp_type"].tolist() == train.obs["cp_type"].tolist()
    assert back.var.loc["c-0", "ccle_name"] == package_table("cells.csv").loc[0, "ccle_name"]


def test_small_preset_round_trip_full_precision(tmp_path, small_lish_moa):
    p = small_lish_moa
    gm.io.write_lish_moa(p, tmp_path, decimals=None)
    back = gm.io.read_lish_moa(tmp_path, device="cpu")
    assert_same(back, p)
    pd.testing.assert_frame_equal(back.var, p.var, check_index_type=False)


def test_annotate_fills_identifiers(tiny_lish_moa):
    train, _ = tiny_lish_moa
    bare = train.replace(var=train.var[["kind"]])
    var = gm.io.annotate(bare).var
    genes = package_table("genes.csv").set_index("feature")
    assert var.loc["g-3", "symbol"] == genes.loc["g-3", "symbol"]
    assert var.loc["g-3", "entrez_id"] == genes.loc["g-3", "entrez_id"]
    assert list(var.columns) == ["kind", "symbol", "entrez_id", "ccle_name"]
    custom = train.select_vars(["g-0", "g-1"])
    custom = custom.replace(var=custom.var.rename(index={"g-1": "mygene"}).assign(symbol="S"))
    out = gm.io.annotate(custom).var
    assert out.loc["mygene", "symbol"] == "S"
    assert out.loc["g-0", "symbol"] == genes.loc["g-0", "symbol"]


def test_writing_split_all_profiles_restores_test_set(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "a", test=test)
    both = gm.io.read_lish_moa(tmp_path / "a", split="all", device="cpu")
    gm.io.write_lish_moa(both, tmp_path / "b")
    for name in ("test_features.csv", "train_features.csv", "train_targets_scored.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["kaggle", "annotated"])
def test_read_on_gpu_equals_host(tmp_path, tiny_lish_moa, layout):
    pytest.importorskip("cupy")
    if not gm.has_gpu():
        pytest.skip("no usable CUDA device")
    train, test = tiny_lish_moa
    written = gm.io.write_lish_moa(train, tmp_path, test=test, layout=layout)
    path = tmp_path if layout == "kaggle" else written["lish_moa_annotated"]
    on_gpu = gm.io.read_lish_moa(path, device="gpu", split="all")
    assert on_gpu.device == "gpu"
    assert_same(on_gpu, gm.io.read_lish_moa(path, device="cpu", split="all"))
