"""pycytominer-style profile tables: read/write round trips, pycytominer's own files, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm


def _cell_painting(rng, n=12):
    """A small Cell Painting-like table: Metadata_ columns, compartment features, MoA text."""
    frame = pd.DataFrame(
        {
            "Metadata_Plate": ["P1"] * (n // 2) + ["P2"] * (n - n // 2),
            "Metadata_Well": [f"A{i:02d}" for i in range(n)],
            "Metadata_broad_sample": [f"BRD-{i % 4}" for i in range(n)],
            "Metadata_dose": np.resize([0.1, 1.0, 10.0], n),
            "Metadata_moa": np.resize(["EGFR inhibitor|HER2 inhibitor", "HDAC inhibitor", ""], n),
        }
    )
    for name in ("Cells_AreaShape_Area", "Nuclei_Intensity_Mean_DNA", "Cytoplasm_Texture_X"):
        frame[name] = np.round(rng.normal(size=n), 4)
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_reads_a_pycytominer_table(tmp_path, rng, suffix):
    frame = _cell_painting(rng)
    path = tmp_path / f"profiles{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    p = gm.io.read_profiles(path, labels="Metadata_moa", device="cpu")
    assert p.var_names == [
        "Cells_AreaShape_Area",
        "Nuclei_Intensity_Mean_DNA",
        "Cytoplasm_Texture_X",
    ]
    np.testing.assert_allclose(gm.to_numpy(p.X), frame[p.var_names].to_numpy(), atol=1e-6)
    assert list(p.obs.columns) == [c for c in frame if c.startswith("Metadata_")]
    assert p.obs.index.name == "sig_id" and p.obs.index.is_unique
    assert p.label_names == ["EGFR inhibitor", "HDAC inhibitor", "HER2 inhibitor"]
    Y = gm.to_numpy(p.Y)
    np.testing.assert_array_equal(Y[0], [1, 0, 1])
    np.testing.assert_array_equal(Y[1], [0, 1, 0])
    np.testing.assert_array_equal(Y[2], [0, 0, 0])
    assert set(p.var["kind"]) == {"feature"}


def test_pycytominer_output_reads_back(tmp_path, rng):
    """A table written by pycytominer.normalize is read with the features pycytominer infers."""
    pycytominer = pytest.importorskip("pycytominer")
    from pycytominer.cyto_utils import infer_cp_features

    frame = _cell_painting(rng, n=20)
    out = tmp_path / "normalized.csv.gz"
    pycytominer.normalize(
        profiles=frame, features="infer", method="standardize", output_file=str(out)
    )
    p = gm.io.read_profiles(out, device="cpu")
    written = pd.read_csv(out, compression=None)  # pycytominer wrote plain text to .csv.gz
    assert p.var_names == infer_cp_features(written)
    np.testing.assert_allclose(gm.to_numpy(p.X), written[p.var_names].to_numpy(), atol=1e-6)


def test_l1000_columns_are_metadata(tmp_path, rng):
    """L1000's unprefixed names (pert_idose, pert_itime, numeric pert_dose...) stay in obs."""
    frame = pd.DataFrame(
        {
            "sig_id": ["s1", "s2", "s3"],
            "pert_id": ["BRD-1", "BRD-1", "DMSO"],
            "pert_iname": ["a", "a", "DMSO"],
            "pert_type": ["trt_cp", "trt_cp", "ctl_vehicle"],
            "pert_dose": [1.0, 10.0, 0.0],
            "pert_idose": ["1 um", "10 um", "-666"],
            "pert_itime": ["24 h"] * 3,
            "cell_id": ["A375"] * 3,
            "qc_pass": [True, False, True],
            "g-0": [0.5, 0.25, -1.0],
            "g-1": [1.5, 2.0, 0.0],
        }
    )
    frame.to_csv(tmp_path / "l1000.csv", index=False)
    p = gm.io.read_profiles(tmp_path / "l1000.csv", device="cpu")
    assert p.var_names == ["g-0", "g-1"] and list(p.obs.index) == ["s1", "s2", "s3"]
    assert {"pert_iname", "cell_id", "pert_idose", "pert_itime", "pert_dose", "qc_pass"} <= set(
        p.obs
    )
    assert p.drug_column == "pert_id" and p.is_control.tolist() == [False, False, True]
    assert p.var["kind"].tolist() == ["gene", "gene"]


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_write_read_round_trip(tmp_path, labelled_profiles, planted, suffix):
    X, Y, drug = planted(n=15, f=6, n_labels=3)
    X = np.round(X, 4)
    p = labelled_profiles(X, Y, drug)
    path = gm.io.write_profiles(p, tmp_path / f"out{suffix}", labels="Metadata_moa")
    q = gm.io.read_profiles(path, labels="Metadata_moa", device="cpu")
    np.testing.assert_allclose(gm.to_numpy(q.X), X, atol=1e-6)
    assert list(q.obs.index) == list(p.obs.index)
    assert q.obs["drug_id"].tolist() == p.obs["drug_id"].tolist()
    used = [j for j, name in enumerate(p.label_names) if Y[:, j].any()]
    assert q.label_names == [p.label_names[j] for j in used]
    np.testing.assert_array_equal(gm.to_numpy(q.Y), Y[:, used])


def test_errors_name_file_and_fix(tmp_path, rng, labelled_profiles, planted):
    with pytest.raises(gm.DataError, match="file not found"):
        gm.io.read_profiles(tmp_path / "missing.csv")
    frame = _cell_painting(rng)
    frame.loc[3, "Cells_AreaShape_Area"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(gm.DataError, match="Cells_AreaShape_Area.*Fix"):
        gm.io.read_profiles(tmp_path / "nan.csv")
    kept = gm.io.read_profiles(tmp_path / "nan.csv", allow_nan=True, device="cpu")
    assert np.isnan(gm.to_numpy(kept.X)[3, 0])
    with pytest.raises(gm.DataError, match="no label column 'moa'"):
        gm.io.read_profiles(tmp_path / "nan.csv", labels="moa", allow_nan=True)
    frame[["Metadata_Plate", "Metadata_Well"]].to_csv(tmp_path / "meta.csv", index=False)
    with pytest.raises(gm.DataError, match="no numeric feature column"):
        gm.io.read_profiles(tmp_path / "meta.csv")
    pd.DataFrame({"sig_id": ["a", "a"], "f": [1.0, 2.0]}).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(gm.DataError, match="duplicate sig_id"):
        gm.io.read_profiles(tmp_path / "dup.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02\xff\xfe")
    with pytest.raises(gm.DataError, match="not a readable"):
        gm.io.read_profiles(tmp_path / "bin.csv")
    X, Y, drug = planted(n=6, f=3, n_labels=2)
    p = labelled_profiles(X, Y, drug)
    with pytest.raises(gm.DataError, match="no labels to write"):
        gm.io.write_profiles(p.replace(Y=None, label_names=[]), tmp_path / "x.csv", labels="m")
    with pytest.raises(gm.DataError, match="already has a column 'drug_id'"):
        gm.io.write_profiles(p, tmp_path / "x.csv", labels="drug_id")
