"""Reliability: settings and names that used to be accepted silently, and the wording of errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa import _settings, cli
from gpu_moa._atomic import atomic_path, write_text_atomic
from gpu_moa._validation import check_binary, check_unique
from gpu_moa.io._checks import feature_names


def test_unknown_gpu_moa_device_is_an_error_and_cuda_means_gpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GPU_MOA_DEVICE", "tpu")
    assert cli.main(["validate", "--quiet", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "GPU_MOA_DEVICE='tpu' is not a device" in err and "Traceback" not in err
    with pytest.warns(UserWarning, match="using auto"):
        assert _settings._default_device() == "auto"
    monkeypatch.setenv("GPU_MOA_DEVICE", "CUDA")
    assert _settings._default_device() == "gpu" and _settings.env_device_problem() is None


def test_near_feature_names_warn():
    with pytest.warns(UserWarning, match=r"2 column\(s\) look like features.*'G-5', ' g-6'"):
        assert feature_names(["sig_id", "g-0", "G-5", " g-6", "c-1"], "f.csv") == ["g-0", "c-1"]


def test_infinite_c_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as ext:
        cli.build_parser().parse_args(["train", "--out", "m", "--C", "inf"])
    assert ext.value.code == 2 and "positive finite number" in capsys.readouterr().err


def test_long_ids_are_cut_and_numpy_scalars_shown_plain():
    huge = "x" * 5_000_000
    with pytest.raises(gm.DataError) as err:
        check_unique([huge, huge, "a"], "sig_id", "f.csv")
    assert len(str(err.value)) < 400 and "np.str_" not in str(err.value)
    with pytest.raises(gm.DataError) as err:
        check_binary(
            np.array([[0, 2]], dtype=np.float32),
            pd.Index(["a", "b"]),
            pd.Index(["r1"]).to_numpy(),
            "t.csv",
        )
    assert "np.float32" not in str(err.value) and "value 2.0 at row 'r1'" in str(err.value)


def test_file_system_errors_name_the_users_path(tmp_path):
    target = tmp_path / "report.html"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError) as err:
        write_text_atomic(target, "hello")
    assert err.value.filename == str(target) and ".part" not in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as err, atomic_path(blocker / "out.csv"):
        pass
    assert err.value.filename == str(blocker / "out.csv")


@pytest.mark.parametrize("command", ["match", "connect"])
def test_k_zero_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as ext:
        cli.build_parser().parse_args([command, "q", "--reference", "r", "--k", "0"])
    assert ext.value.code == 2 and "must be a positive integer, got '0'" in capsys.readouterr().err


def test_match_reports_the_k_it_used(tiny_lish_moa, tmp_path, capsys):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data", test=test)
    out = tmp_path / "hits.csv"
    argv = ["match", "--quiet", str(tmp_path / "data"), "--reference", str(tmp_path / "data")]
    assert cli.main([*argv, "--k", "100000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "up to 20 neighbours (--k 100000 capped at the reference's rows)" in printed
