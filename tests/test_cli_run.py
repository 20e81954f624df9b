"""The ``gpu-moa`` CLI: help everywhere, clean errors, and the main job on the small preset."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa._backend import _devices
from gpu_moa.cli import build_parser, main


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_has_help(capsys):
    names = _subcommands()
    assert {"run", "synth", "validate"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "--device" in capsys.readouterr().out


def test_gpu_request_without_gpu_exits_2_with_the_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_devices, "_gpu_status", lambda: (False, "CuPy is not installed"))
    assert main(["run", "--device", "gpu", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "CuPy is not installed" in err and "pip install" in err and "Traceback" not in err


def test_missing_data_path_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nowhere"), "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    out = tmp_path_factory.mktemp("out")
    with gm.settings.override(progress=False):
        assert main(["synth", str(data), "--preset", "small", "--quiet"]) == 0
        assert (
            main(["run", str(data), "--quick", "--quiet", "--out", str(out), "--device", "cpu"])
            == 0
        )
    return data, out


def test_main_job_writes_all_outputs(quick_run):
    data, out = quick_run
    for name in ("metrics.json", "summary.md", "report.html", "tables/label_counts.parquet"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.part")), "no temporary file may be left behind"


def test_main_job_summary_matches_the_input_files(quick_run):
    data, out = quick_run
    metrics = json.loads((out / "metrics.json").read_text())
    features = pd.read_csv(data / "train_features.csv", usecols=["sig_id", "cp_type"])
    targets = pd.read_csv(data / "train_targets_scored.csv", index_col="sig_id")
    drugs = pd.read_csv(data / "train_drug.csv")
    train = metrics["data"]["train"]
    assert train["rows"] == len(features)
    assert train["controls"] == int((features["cp_type"] == "ctl_vehicle").sum())
    assert train["drugs"] == drugs["drug_id"].nunique()
    assert train["genes"] + train["cells"] == train["features"]
    assert metrics["labels"]["positives"] == int(targets.to_numpy().sum())
    assert metrics["labels"]["labels"] == targets.shape[1]
    zero = sorted(targets.columns[targets.sum() == 0])
    assert sorted(metrics["labels"]["labels_without_positives"]) == zero
    test_rows = len(pd.read_csv(data / "test_features.csv", usecols=["sig_id"]))
    assert metrics["data"]["test"]["rows"] == test_rows
    assert {s["step"] for s in metrics["backends"]} >= {"read_lish_moa"}


def test_main_job_on_a_dask_cluster_gives_the_same_matching_metrics(quick_run, tmp_path):
    data, out = quick_run
    with gm.settings.override(progress=False):
        code = main(
            [
                "run",
                str(data),
                "--quick",
                "--quiet",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
                "--cluster",
                "cpu",
                "--partitions",
                "3",
            ]
        )
    assert code == 0
    single = json.loads((out / "metrics.json").read_text())["matching"]
    partitioned = json.loads((tmp_path / "metrics.json").read_text())["matching"]
    assert partitioned == pytest.approx(single, rel=1e-5)


def test_binary_file_is_a_clear_data_error(tmp_path, capsys):
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert main(["validate", str(blob), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "image.png" in err and "UTF-8" in err and "Traceback" not in err


def test_unwritable_output_exits_2_naming_the_path(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    target = blocker / "synth"
    assert main(["synth", str(target), "--preset", "small", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "a_file" in err and "Fix:" in err and "Traceback" not in err
