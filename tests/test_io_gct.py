"""GCT (text) and GCTX (HDF5) I/O: format identity, subsets vs h5py/pandas oracles, streaming."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture
def cmap_profiles(rng):
    """12 samples x 7 genes with typical CMap metadata (text, int, float, missing values)."""
    n, g = 12, 7
    obs = pd.DataFrame(
        {
            "pert_iname": ["bortezomib", "vorinostat", np.nan] + [f"cpd{i}" for i in range(n - 3)],
            "pert_itime": np.resize([6, 24], n),
            "pert_dose": np.round(rng.random(n) * 10, 3),
            "cell_id": np.resize(["A549", "MCF7", "PC3"], n),
        },
        index=pd.Index([f"CPC006_A549_6H:BRD-{i:03d}" for i in range(n)], name="sig_id"),
    ).astype({"pert_iname": "str", "cell_id": "str"})
    var = pd.DataFrame(
        {
            "kind": "gene",
            "symbol": ["PSMB5", "HDAC1", "TP53", "MYC", "EGFR", "GAPDH", np.nan],
            "entrez_id": pd.array([5693, 3065, 7157, 4609, 1956, 2597, None], dtype="Int64"),
            "ccle_name": np.nan,
            "pr_is_lm": [1, 1, 1, 0, 1, 0, 1],
        },
        index=pd.Index(
            ["5693", "3065", "7157", "4609", "1956", "2597", "200814_at"], name="feature"
        ),
    ).astype({"kind": "str", "symbol": "str", "ccle_name": "str"})
    X = rng.standard_normal((n, g)).astype(np.float32)
    return gm.Profiles(X=X, obs=obs, var=var)


def assert_profiles_equal(a: gm.Profiles, b: gm.Profiles) -> None:
    np.testing.assert_array_equal(gm.to_numpy(a.X), gm.to_numpy(b.X))
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)


def test_gct_and_gctx_give_identical_profiles(tmp_path, cmap_profiles):
    gm.io.write_gct(cmap_profiles, tmp_path / "a.gct")
    gm.io.write_gctx(cmap_profiles, tmp_path / "a.gctx")
    from_text = gm.io.read_gct(tmp_path / "a.gct", device="cpu")
    from_hdf5 = gm.io.read_gctx(tmp_path / "a.gctx", device="cpu")
    assert_profiles_equal(from_text, from_hdf5)
    assert_profiles_equal(from_hdf5, cmap_profiles)


def test_gctx_layout_matches_cmap_convention(tmp_path, cmap_profiles):
    gm.io.write_gctx(cmap_profiles, tmp_path / "a.gctx")
    with h5py.File(tmp_path / "a.gctx", "r") as f:
        matrix = f["/0/DATA/0/matrix"][()]
        cids = f["/0/META/COL/id"].asstr()[()]
        rids = f["/0/META/ROW/id"].asstr()[()]
        assert "pert_iname" in f["/0/META/COL"] and "symbol" in f["/0/META/ROW"]
    assert matrix.shape == (len(cids), len(rids)) == cmap_profiles.shape
    np.testing.assert_array_equal(matrix, cmap_profiles.X)
    assert list(cids) == cmap_profiles.obs.index.tolist()


def test_gct_text_matches_pandas_oracle(tmp_path, cmap_profiles):
    gm.io.write_gct(cmap_profiles, tmp_path / "a.gct")
    lines = (tmp_path / "a.gct").read_text().splitlines()
    assert lines[0] == "#1.3"
    assert lines[1].split("\t") == ["7", "12", "5", "4"]
    body = pd.read_csv(tmp_path / "a.gct", sep="\t", skiprows=2, header=0, dtype=str)
    data = body.iloc[4:, 6:].astype(np.float32).to_numpy()
    np.testing.assert_array_equal(data.T, cmap_profiles.X)


@pytest.mark.parametrize("reader", ["gct", "gctx"])
def test_rid_cid_subsets_equal_oracle(tmp_path, cmap_profiles, reader):
    gm.io.write_gct(cmap_profiles, tmp_path / "a.gct")
    gm.io.write_gctx(cmap_profiles, tmp_path / "a.gctx")
    cid = cmap_profiles.obs.index[[9, 2, 5]].tolist()
    rid = ["200814_at", "5693", "1956"]
    read = gm.io.read_gct if reader == "gct" else gm.io.read_gctx
    sub = read(tmp_path / f"a.{reader}", rid=rid, cid=cid, device="cpu")
    with h5py.File(tmp_path / "a.gctx", "r") as f:
        oracle = f["/0/DATA/0/matrix"][()][np.ix_([9, 2, 5], [6, 0, 4])]
    np.testing.assert_array_equal(sub.X, oracle)
    assert sub.obs.index.tolist() == cid and sub.var.index.tolist() == rid
    assert (
        sub.obs["pert_iname"].tolist() == cmap_profiles.obs["pert_iname"].iloc[[9, 2, 5]].tolist()
    )
    only_genes = read(tmp_path / f"a.{reader}", rid=rid[:2], device="cpu")
    np.testing.assert_array_equal(only_genes.X, cmap_profiles.X[:, [6, 0]])


def test_gctx_subset_never_reads_whole_matrix(tmp_path, cmap_profiles, monkeypatch):
    gm.io.write_gctx(cmap_profiles, tmp_path / "a.gctx")
    selections = []
    original = h5py.Dataset.__getitem__

    def spy(self, args, *rest, **kw):
        if self.name == "/0/DATA/0/matrix":
            selections.append(args)
        return original(self, args, *rest, **kw)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    for kw in ({"cid": ["CPC006_A549_6H:BRD-003"]}, {"rid": ["7157"]}):
        gm.io.read_gctx(tmp_path / "a.gctx", device="cpu", **kw)
    assert len(selections) == 2
    for sel in selections:
        assert sel != () and sel is not Ellipsis
        assert any(isinstance(s, np.ndarray) and len(s) == 1 for s in sel)


def test_read_gct_v12(tmp_path):
    text = "#1.2\n2\t3\nName\tDescription\ts1\ts2\ts3\ng1\tfirst\t1\t2\t3\ng2\tsecond\t4\t5.5\t6\n"
    (tmp_path / "a.gct").write_text(text)
    p = gm.io.read_gct(tmp_path / "a.gct", device="cpu")
    np.testing.assert_array_equal(p.X, np.array([[1, 4], [2, 5.5], [3, 6]], np.float32))
    assert p.obs.index.tolist() == ["s1", "s2", "s3"]
    assert p.var["Description"].tolist() == ["first", "second"]
    assert p.var["kind"].tolist() == ["gene", "gene"]


def test_iter_gctx_chunks_equals_h5py(tmp_path, cmap_profiles):
    gm.io.write_gctx(cmap_profiles, tmp_path / "a.gctx")
    chunks = list(gm.io.iter_gctx_chunks(tmp_path / "a.gctx", chunk_rows=5))
    assert [len(ids) for ids, _ in chunks] == [5, 5, 2]
    assert all(b.dtype == np.float32 for _, b in chunks)
    with h5py.File(tmp_path / "a.gctx", "r") as f:
        np.testing.assert_array_equal(
            np.concatenate([b for _, b in chunks]), f["/0/DATA/0/matrix"][()]
        )
    assert np.concatenate([i for i, _ in chunks]).tolist() == cmap_profiles.obs.index.tolist()


def test_read_picks_the_reader_from_the_content(tmp_path, cmap_profiles):
    gm.io.write_gct(cmap_profiles, tmp_path / "a.gct")
    shutil.copy(tmp_path / "a.gct", tmp_path / "text.gctx")  # a text GCT under a GCTX name
    gm.io.write_gctx(cmap_profiles, tmp_path / "b.gctx")
    shutil.copy(tmp_path / "b.gctx", tmp_path / "hdf5.gct")  # and the other way round
    assert gm.io.sniff(tmp_path / "text.gctx") == "gct"
    assert gm.io.sniff(tmp_path / "hdf5.gct") == "gctx"
    want = gm.io.read_gct(tmp_path / "a.gct", device="cpu")
    for name in ("text.gctx", "hdf5.gct", "b.gctx"):
        assert_profiles_equal(gm.io.read(tmp_path / name, device="cpu"), want)
    with pytest.raises(gm.DataError, match="read_gct, or gm.io.read"):
        gm.io.read_gctx(tmp_path / "text.gctx")
    with pytest.raises(gm.DataError, match="read_gctx, or gm.io.read"):
        gm.io.read_gct(tmp_path / "hdf5.gct")
    with pytest.raises(gm.DataError, match="gm.io.read"):
        gm.io.read_lish_moa(tmp_path / "b.gctx")


def test_sniff_formats(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_parquet(train, tmp_path / "t.bin")  # no telling suffix: content decides
    assert gm.io.sniff(tmp_path / "t.bin") == "parquet"
    assert gm.io.sniff(tmp_path) == "lish_moa_dir"
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert gm.io.sniff(tmp_path / "x.csv") == "csv"
    with pytest.raises(gm.DataError, match="no such file"):
        gm.io.sniff(tmp_path / "missing.gctx")
    back = gm.io.read(tmp_path / "t.bin", device="cpu")
    np.testing.assert_array_equal(back.X, train.X)


def test_sniff_parquet_reads_the_schema_only_when_the_footer_names_metadata(
    tmp_path, tiny_lish_moa, monkeypatch
):
    """A Parquet footer without the bytes "Metadata_" is lish-moa data without parsing the
    schema; names that only contain it, or a broken file, take the schema check as before."""
    from gpu_moa.io import _sniff

    train, _ = tiny_lish_moa
    gm.io.write_parquet(train, tmp_path / "t.parquet")
    frame = pd.DataFrame({"x_Metadata_y": [1.0, 2.0], "Cells_a": [0.5, 1.5]})
    frame.to_parquet(tmp_path / "inner.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1" + b"\0" * 40 + b"Metadata_PAR1")
    parsed = []
    columns = _sniff._columns
    monkeypatch.setattr(_sniff, "_columns", lambda *a: parsed.append(a[0].name) or columns(*a))
    assert gm.io.sniff(tmp_path / "t.parquet") == "parquet"
    assert gm.io.sniff(tmp_path / "inner.parquet") == "parquet"
    assert gm.io.sniff(tmp_path / "broken.parquet") == "parquet"
    assert parsed == ["inner.parquet", "broken.parquet"]


def test_real_l1000_gctx_with_latin1_metadata():
    """Real LINCS level-5 signatures: 'µM' stored in Latin-1, as CMap files do."""
    path = REALDATA / "l1000_level5_modz_n272x978.gctx"
    if not path.is_file():
        pytest.skip("../shared/realdata is not present")
    p = gm.io.read(path, device="cpu")
    assert p.shape == (272, 978)
    assert set(p.obs["pert_idose"]) >= {"10 \u00b5M"}
    assert set(p.obs["pert_iname"]) == {"vemurafenib", "atorvastatin", "venlafaxine"}
    assert p.drug_column == "pert_id" and not p.is_control.any()


def test_read_dispatches_profile_tables(tmp_path):
    """pycytominer-style tables (Metadata_ columns, or gzip) go to read_profiles."""
    frame = pd.DataFrame(
        {
            "Metadata_broad_sample": ["a", "b", "c"],
            "Cells_x": [1.0, 2.0, 3.5],
            "Nuclei_y": [0.0, 1.0, -1],
        }
    )
    frame.to_csv(tmp_path / "plate.csv", index=False)
    frame.to_csv(tmp_path / "plate.csv.gz", index=False, compression="gzip")
    frame.to_parquet(tmp_path / "plate.parquet")
    for name in ("plate.csv", "plate.csv.gz", "plate.parquet"):
        assert gm.io.sniff(tmp_path / name) == "profiles"
        p = gm.io.read(tmp_path / name, device="cpu")
        np.testing.assert_array_equal(p.X, frame[["Cells_x", "Nuclei_y"]].to_numpy(np.float32))
        assert p.var_names == ["Cells_x", "Nuclei_y"]


def test_lish_moa_profiles_through_gctx(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_gctx(train, tmp_path / "t.gctx")
    back = gm.io.read_gctx(tmp_path / "t.gctx", device="cpu")
    np.testing.assert_array_equal(back.X, train.X)
    pd.testing.assert_frame_equal(back.obs, train.obs)
    assert back.var["kind"].tolist() == train.var["kind"].tolist()
    assert back.genes.n_vars == 6 and back.cells.n_vars == 3
