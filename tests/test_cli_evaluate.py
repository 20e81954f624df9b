"""``gpu-moa evaluate``: tables equal the library calls, errors exit 2 with the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa import cli


@pytest.fixture
def plate_csv(tmp_path, rng):
    n, n_cpd = 48, 12
    cpd = np.arange(n) % n_cpd
    X = rng.standard_normal((n, 16))
    X[:, :n_cpd] += 3.0 * np.eye(n_cpd)[cpd]
    frame = pd.DataFrame(np.round(X, 4), columns=[f"Cells_F{j}" for j in range(16)])
    frame.insert(0, "Metadata_cpd", [f"c{c}" for c in cpd])
    frame.insert(1, "Metadata_moa", [f"m{c % 4}|m{(c + 1) % 4}" for c in cpd])
    path = tmp_path / "plate.csv.gz"
    frame.to_csv(path, index=False)
    return path


def test_evaluate_writes_ap_and_map_tables(plate_csv, tmp_path, capsys):
    out, maps_out = tmp_path / "ap.parquet", tmp_path / "map.csv"
    argv = ["evaluate", str(plate_csv), "--pos-sameby", "Metadata_cpd", "--neg-diffby"]
    argv += ["Metadata_cpd", "--null-size", "300", "--out", str(out), "--map-out", str(maps_out)]
    assert cli.main([*argv, "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "48 of 48 profiles have a positive" in printed and "p_value" in printed
    p = gm.io.read_profiles(plate_csv, device="cpu")
    expect = gm.metrics.average_precision(p, pos_sameby="Metadata_cpd", neg_diffby="Metadata_cpd")
    got = pd.read_parquet(out)
    np.testing.assert_allclose(got["average_precision"], expect["average_precision"])
    assert got["sig_id"].tolist() == list(expect.index)
    maps = pd.read_csv(maps_out)
    ref = gm.metrics.mean_average_precision(expect, sameby="Metadata_cpd", null_size=300)
    np.testing.assert_allclose(maps["p_value"], ref["p_value"])
    assert maps["below_corrected_p"].all()  # strong planted replicate signal


def test_evaluate_labels_and_errors(plate_csv, tmp_path, capsys):
    out = str(tmp_path / "ap.csv")
    base = ["evaluate", str(plate_csv), "--device", "cpu", "--quiet", "--out", out]
    argv = [*base, "--labels", "Metadata_moa", "--pos-sameby", "Y", "--pos-diffby", "Metadata_cpd"]
    assert cli.main([*argv, "--map-by", "Metadata_cpd", "--null-size", "50"]) == 0
    assert pd.read_csv(out)["n_pos"].gt(0).all()
    assert cli.main([*argv, "--null-size", "50"]) == 2
    assert "--map-by" in capsys.readouterr().err
    assert cli.main([*base, "--pos-sameby", "Metadata_plate"]) == 2
    assert "no column(s) ['Metadata_plate']" in capsys.readouterr().err
