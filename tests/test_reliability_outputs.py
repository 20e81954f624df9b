"""Reliability: output directories are replaced whole; failures and signals leave them intact."""

from __future__ import annotations

import json
import os
import signal

import pytest

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa._atomic import OUTPUT_MARKER, atomic_dir

TRAIN = ["train", "--quiet", "--model", "logistic", "--C", "0.01", "--features", "raw"]


def snapshot(folder):
    """Every file under ``folder`` with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def debris(parent):
    return [p.name for p in parent.iterdir() if p.name.endswith((".staging", ".old", ".part"))]


@pytest.fixture
def tiny_dir(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data", test=test)
    return tmp_path / "data"


def test_atomic_dir_swaps_whole_and_rolls_back(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("one")
        (stage / "stale.txt").write_text("old")
        assert not out.exists()
    before = snapshot(out)
    assert set(before) == {"a.txt", "stale.txt", OUTPUT_MARKER}
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), atomic_dir(out) as stage:
            (stage / "a.txt").write_text("two")
            raise exc
        assert snapshot(out) == before and debris(tmp_path) == []
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("three")
    assert snapshot(out) == {"a.txt": b"three", OUTPUT_MARKER: before[OUTPUT_MARKER]}
    assert debris(tmp_path) == []


def test_atomic_dir_refuses_foreign_dirs_files_and_unwritable_places(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(gm.DataError, match="'notes.txt'.*choose a new or empty directory"):
        with atomic_dir(mine, replaceable=("model.json",)):
            pass
    assert (mine / "notes.txt").read_text() == "keep me"
    with atomic_dir(mine, replaceable=("notes.txt",)):  # an earlier run's outputs
        pass
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError) as err:
        with atomic_dir(afile):
            pass
    assert err.value.filename == str(afile)
    with pytest.raises(OSError) as err:
        with atomic_dir(afile / "sub"):
            pass
    assert err.value.filename == str(afile / "sub")


def _train(tiny_dir, out, *extra):
    return cli.main([*TRAIN, str(tiny_dir), "--out", str(out), "--folds", "0", *extra])


def test_train_replaces_the_model_directory_whole(tiny_dir, tmp_path, capsys):
    out = tmp_path / "model"
    assert _train(tiny_dir, out) == 0
    (out / "cv_metrics.json").write_text("{}")  # a stale file from an earlier run
    assert _train(tiny_dir, out, "--seed", "3") == 0
    assert not (out / "cv_metrics.json").exists() and (out / OUTPUT_MARKER).exists()
    assert f"saved to {out}/" in capsys.readouterr().out and debris(tmp_path) == []
    assert json.loads((out / "model.json").read_text())["format"]


@pytest.mark.parametrize("how", ["error", "SIGINT", "SIGTERM"])
def test_interrupted_or_failed_train_leaves_previous_model(tiny_dir, tmp_path, capsys, how):
    out = tmp_path / "model"
    assert _train(tiny_dir, out) == 0
    before = snapshot(out)
    real_save = gm.models.TrainedModel.save

    def failing_save(self, path):
        real_save(self, path)  # a complete new model in the staging directory, then the fault
        if how == "error":
            raise OSError(28, "No space left on device", str(path))
        os.kill(os.getpid(), signal.SIGINT if how == "SIGINT" else signal.SIGTERM)

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gm.models.TrainedModel, "save", failing_save)
        rc = _train(tiny_dir, out, "--seed", "5")
    err = capsys.readouterr().err
    assert rc == {"error": 2, "SIGINT": 130, "SIGTERM": 143}[how]
    assert "Traceback" not in err and snapshot(out) == before and debris(tmp_path) == []
    if how != "error":
        assert f"interrupted ({how})" in err and "previous ones were left unchanged" in err


def test_train_checks_out_before_computing(tiny_dir, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _train(tiny_dir, afile / "model") == 2
    err = capsys.readouterr().err
    assert str(afile / "model") in err and ".staging" not in err and "Traceback" not in err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("precious")
    assert _train(tiny_dir, foreign) == 2
    assert "data.csv" in capsys.readouterr().err
    assert snapshot(foreign) == {"data.csv": b"precious"}


def test_negative_seed_is_a_usage_error(tiny_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as ext:
        _train(tiny_dir, tmp_path / "m", "--seed", "-1")
    assert ext.value.code == 2 and "expected an integer from 0" in capsys.readouterr().err


def test_run_replaces_out_whole_and_keeps_it_on_interrupt(tiny_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "submission.csv").write_text("stale")
    (out / "metrics.json").write_text("{}")
    monkeypatch.setattr(gm.run, "run_stages", lambda ctx: ctx)  # the stages are tested elsewhere
    assert cli.main(["run", "--quiet", str(tiny_dir), "--out", str(out)]) == 0
    assert not (out / "submission.csv").exists() and (out / "report.html").exists()
    assert f"open {out / 'report.html'}" in capsys.readouterr().out
    before = snapshot(out)

    def interrupted(ctx):
        (ctx.out / "metrics.json").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(gm.run, "run_stages", interrupted)
    assert cli.main(["run", "--quiet", str(tiny_dir), "--out", str(out)]) == 130
    assert snapshot(out) == before and debris(tmp_path) == []
    assert "interrupted (SIGINT)" in capsys.readouterr().err


def test_synth_replaces_its_directory(tmp_path, monkeypatch):
    out = tmp_path / "synth"
    out.mkdir()
    (out / "old.csv.zip").write_text("stale")

    def fake(folder, **kw):
        (folder / "train_features.csv").write_text("sig_id\n")
        return {"train_features": folder / "train_features.csv"}

    monkeypatch.setattr(gm.datasets, "write_synthetic", fake)
    assert cli.main(["synth", "--quiet", str(out)]) == 0
    assert sorted(os.listdir(out)) == [OUTPUT_MARKER, "train_features.csv"]


def test_atomic_dir_refuses_the_working_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for path in (".", "..", str(work)):
        with pytest.raises(gm.DataError, match="working directory"), atomic_dir(path):
            pass
    with atomic_dir("results/") as stage:  # a subdirectory is fine
        assert stage.parent == work
        (stage / "a.txt").write_text("x")
    assert (work / "results" / "a.txt").read_text() == "x" and debris(work) == []


@pytest.mark.parametrize("command", ["match", "evaluate"])
def test_file_outputs_are_checked_before_computing(tmp_path, capsys, command):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    folder = tmp_path / "adir"
    folder.mkdir()
    for out, why in ((blocker / "hits.csv", "not a directory"), (folder, "is a directory")):
        extra = ["--reference", "nowhere"] if command == "match" else ["--pos-sameby", "x"]
        argv = [command, "--quiet", str(tmp_path / "missing-input"), *extra, "--out", str(out)]
        assert cli.main(argv) == 2  # the input does not exist either: --out is checked first
        err = capsys.readouterr().err
        assert str(out) in err and why in err and "missing-input" not in err
