"""Reliability: damaged, mixed or mismatched model directories make `predict` exit 2, not 1 or 0."""

from __future__ import annotations

import shutil

import pytest

import gpu_moa as gm
from gpu_moa import cli

TRAIN = ["train", "--quiet", "--model", "logistic", "--features", "raw", "--folds", "0"]


@pytest.fixture
def setup(tmp_path, tiny_lish_moa):
    """A tiny data directory, two models trained on it (C 0.01 and 1) and a previous submission."""
    train, test = tiny_lish_moa
    data = tmp_path / "data"
    gm.io.write_lish_moa(train, data, test=test)
    for name, C in (("model", "0.01"), ("other", "1")):
        assert cli.main([*TRAIN, str(data), "--out", str(tmp_path / name), "--C", C]) == 0
    sub = tmp_path / "submission.csv"
    sub.write_text("previous\n")
    return tmp_path, data, sub


def predict(tmp_path, data, sub, capsys) -> str:
    argv = ["predict", "--quiet", str(tmp_path / "model"), str(data), "--out", str(sub)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and sub.read_text() == "previous\n"
    return err


def test_the_intact_model_predicts(setup, capsys):
    tmp_path, data, sub = setup
    argv = ["predict", "--quiet", str(tmp_path / "model"), str(data), "--out", str(sub)]
    assert cli.main(argv) == 0 and sub.read_text().startswith("sig_id,")


@pytest.mark.parametrize(
    "damage", ["truncated model.json", "json list", "garbage arrays.npz", "truncated arrays.npz"]
)
def test_damaged_model_files(setup, capsys, damage):
    tmp_path, data, sub = setup
    model = tmp_path / "model"
    manifest, arrays = model / "model.json", model / "arrays.npz"
    if damage == "truncated model.json":
        manifest.write_bytes(manifest.read_bytes()[:40])
    elif damage == "json list":
        manifest.write_text("[1, 2]")
    elif damage == "garbage arrays.npz":
        arrays.write_bytes(b"\x00garbage" * 10)
    else:
        arrays.write_bytes(arrays.read_bytes()[:100])
    err = predict(tmp_path, data, sub, capsys)
    assert str(model) in err


def test_arrays_of_another_model_are_refused(setup, capsys):
    tmp_path, data, sub = setup
    shutil.copy(tmp_path / "other" / "arrays.npz", tmp_path / "model" / "arrays.npz")
    err = predict(tmp_path, data, sub, capsys)
    assert "not the file model.json was saved with" in err


def test_model_labels_must_match_the_sample_submission(setup, tiny_lish_moa, capsys):
    tmp_path, data, sub = setup
    train, test = tiny_lish_moa
    fewer = tmp_path / "fewer"
    gm.io.write_lish_moa(
        train.replace(Y=gm.to_numpy(train.Y)[:, :3], label_names=train.label_names[:3]),
        fewer,
        test=test,
    )
    assert cli.main([*TRAIN, str(fewer), "--out", str(tmp_path / "model"), "--C", "0.01"]) == 0
    err = predict(tmp_path, data, sub, capsys)
    assert "sample_submission.csv" in err and "1 template label(s) the model lacks" in err
    assert repr(train.label_names[3]) in err
