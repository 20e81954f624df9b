"""Writers: atomicity (a failed write leaves the old file and no temporary files) and submissions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import gpu_moa as gm
from gpu_moa.io import _writers


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_lish_moa_write_keeps_old_files(tmp_path, tiny_lish_moa, monkeypatch):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path, test=test)
    before = snapshot(tmp_path)
    calls = []
    original = _writers.write_csv_file

    def failing(path, columns, **kw):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(path, columns, **kw)

    monkeypatch.setattr(_writers, "write_csv_file", failing)
    changed = train.replace(X=train.X + 1)
    with pytest.raises(OSError, match="disk full"):
        gm.io.write_lish_moa(changed, tmp_path, test=test)
    assert snapshot(tmp_path) == before


def test_failed_write_into_new_dir_leaves_nothing(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    bad = train.replace(Y=train.Y * 2)
    with pytest.raises(gm.DataError, match="non-binary"):
        gm.io.write_lish_moa(bad, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_compressed_write_replaces_plain_files(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path)
    gm.io.write_lish_moa(train, tmp_path, compress=True)
    assert all(p.name.endswith(".csv.zip") for p in tmp_path.iterdir())


def test_failed_parquet_write_keeps_old_file(tmp_path, tiny_lish_moa, monkeypatch):
    train, _ = tiny_lish_moa
    path = tmp_path / "p.parquet"
    gm.io.write_parquet(train, path)
    before = path.read_bytes()

    def partial(table, where, **kw):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half")
        raise OSError("interrupted")

    monkeypatch.setattr(pq, "write_table", partial)
    with pytest.raises(OSError):
        gm.io.write_parquet(train[:3], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.parquet"]


@pytest.mark.parametrize("writer", ["gct", "gctx"])
def test_failed_gct_write_keeps_old_file(tmp_path, tiny_lish_moa, writer):
    train, _ = tiny_lish_moa
    write = getattr(gm.io, f"write_{writer}")
    path = tmp_path / f"a.{writer}"
    write(train, path)
    before = path.read_bytes()
    bad = train.replace(obs=train.obs.assign(id="reserved"))
    with pytest.raises(ValueError, match="'id'"):
        write(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_submission_format(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    rng = np.random.default_rng(0)
    proba = rng.random((train.n_obs, len(train.label_names))).astype(np.float32)
    proba[0, 0] = 1e-9
    controls = (train.obs["cp_type"] == "ctl_vehicle").to_numpy()
    path = gm.io.write_submission(
        proba, train.obs.index, train.label_names, tmp_path / "s.csv", controls=controls
    )
    sub = pd.read_csv(path)
    assert list(sub.columns) == ["sig_id", *train.label_names]
    assert sub["sig_id"].tolist() == train.obs.index.tolist()
    expected = proba.copy()
    expected[controls] = 0
    np.testing.assert_array_equal(sub[train.label_names].to_numpy(np.float32), expected)
    assert controls.sum() == 3 and (sub[controls][train.label_names] == 0).all().all()


@pytest.mark.parametrize("value", [1.5, -0.1, np.nan])
def test_write_submission_rejects_non_probabilities(tmp_path, tiny_lish_moa, value):
    train, _ = tiny_lish_moa
    proba = np.full((train.n_obs, 4), 0.5)
    proba[4, 2] = value
    with pytest.raises(gm.DataError) as err:
        gm.io.write_submission(proba, train.obs.index, train.label_names, tmp_path / "s.csv")
    msg = str(err.value)
    assert "id_00004" in msg and train.label_names[2] in msg and "[0, 1]" in msg
    assert "Fix:" in msg
    assert not (tmp_path / "s.csv").exists() and list(tmp_path.iterdir()) == []


def test_write_submission_shape_mismatch(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    with pytest.raises(gm.DataError, match="shape"):
        gm.io.write_submission(
            np.zeros((3, 4)), train.obs.index, train.label_names, tmp_path / "s.csv"
        )
