"""Parquet read path: the row-major matrices that threads build group by group from the Arrow
columns equal pyarrow's columns stacked with NumPy (any group size, thread count and row-group
split), foreign column types convert like pandas, and validation still looks only at the rows
asked for."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_moa as gm
from gpu_moa.io import _arrow_matrix


def stacked(table: pa.Table, names: list[str]) -> np.ndarray:
    """The oracle: each column converted by pyarrow on its own, stacked by NumPy."""
    columns = [table.column(n).to_numpy(zero_copy_only=False) for n in names]
    return np.column_stack(columns).astype(np.float32)


@pytest.fixture(
    params=[(64, 4), (2, 1), (3, 3), (1, 2)], ids=lambda p: f"group{p[0]}-threads{p[1]}"
)
def grouping(request, monkeypatch):
    """Odd column-group sizes (a remainder group, single columns) and thread counts."""
    group, threads = request.param
    monkeypatch.setattr(_arrow_matrix, "GROUP", group)
    monkeypatch.setattr(_arrow_matrix, "THREADS", threads)


@pytest.mark.parametrize("row_group_size", [4, 65536])
@pytest.mark.parametrize("split", ["train", "all"])
def test_matrices_equal_pyarrow_columns_stacked(
    tmp_path, tiny_lish_moa, grouping, row_group_size, split
):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "d", test=test)
    p = gm.io.read_lish_moa(tmp_path / "d", split=split, device="cpu")  # "all": NaN test labels
    path = gm.io.write_parquet(p, tmp_path / "p.parquet", row_group_size=row_group_size)
    table = pq.read_table(path)
    layout = json.loads(table.schema.metadata[b"gpu_moa"])
    back = gm.io.read_lish_moa(path, split=split, device="cpu")
    X = gm.to_numpy(back.X)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, stacked(table, layout["features"]))
    for Y, names in ((back.Y, layout["labels"]), (back.Y_extra, layout["extra_labels"])):
        Y = gm.to_numpy(Y)
        assert Y.dtype == np.float32 and Y.flags.c_contiguous
        np.testing.assert_array_equal(Y, stacked(table, names))  # NaN where NaN
    assert back.obs.index.tolist() == table.column("sig_id").to_pylist()


def test_small_preset_equals_stacked_columns(tmp_path, small_lish_moa):
    path = gm.io.write_parquet(small_lish_moa, tmp_path / "s.parquet")
    table = pq.read_table(path)
    back = gm.io.read_lish_moa(path, device="cpu")
    np.testing.assert_array_equal(back.X, stacked(table, small_lish_moa.var_names))
    np.testing.assert_array_equal(back.Y, stacked(table, small_lish_moa.label_names))
    np.testing.assert_array_equal(back.Y_extra, stacked(table, small_lish_moa.extra_label_names))


def foreign(tmp_path, **columns) -> str:
    """A Parquet file written by plain pyarrow with lish-moa column names (no gpu_moa metadata)."""
    n = 5
    base = {
        "sig_id": [f"id_{i}" for i in range(n)],
        "cp_type": ["trt_cp"] * n,
        "cp_time": [24, 48, 72, 24, 48],
        "cp_dose": ["D1", "D2", "D1", "D2", "D1"],
        "training": [1, 1, 1, 0, 0],
    }
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({**{k: pa.array(v) for k, v in base.items()}, **columns}), path)
    return path


def test_foreign_column_types_convert_like_pandas(tmp_path, grouping):
    path = foreign(
        tmp_path,
        **{
            "g-0": pa.array([0.5, -1.25, 3.0, 2.0, 1.0], pa.float64()),
            "g-1": pa.array([1, 2, 3, 4, 5], pa.int32()),
            "c-0": pa.array([0.25, 1.5, -2.0, None, 0.0], pa.float32()),  # null in a test row
            "moa_a": pa.array([0, 1, 0, 1, 1], pa.int64()),
            "moa_b": pa.array([1, 0, 0, 0, 1], pa.uint8()),
        },
    )
    frame = pd.read_parquet(path)
    back = gm.io.read_lish_moa(path, device="cpu")
    train = frame["training"].to_numpy() == 1
    np.testing.assert_array_equal(
        back.X, frame.loc[train, ["g-0", "g-1", "c-0"]].to_numpy(np.float32)
    )
    np.testing.assert_array_equal(back.Y, frame.loc[train, ["moa_a", "moa_b"]].to_numpy(np.float32))
    with pytest.raises(gm.DataError, match=r"NaN in column 'c-0' at row 'id_3'"):
        gm.io.read_lish_moa(path, split="all", device="cpu")  # the null counts there


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "first: NaN in column 'g-0' at row 'id_1'"), (1e30, "beyond")],
)
def test_bad_feature_in_a_selected_row_is_named(tmp_path, value, message):
    path = foreign(
        tmp_path,
        **{"g-0": pa.array([0.0, value, 0.0, 0.0, 0.0], pa.float32()), "c-0": pa.array([1.0] * 5)},
    )
    with pytest.raises(gm.DataError, match=message):
        gm.io.read_lish_moa(path, device="cpu")
    assert gm.io.read_lish_moa(path, split="test", device="cpu").n_obs == 2


def test_non_binary_integer_label_is_rejected(tmp_path):
    path = foreign(
        tmp_path, **{"g-0": pa.array([0.0] * 5), "moa_a": pa.array([0, 2, 0, 0, 0], pa.int64())}
    )
    with pytest.raises(gm.DataError, match="moa_a.*non-binary value 2"):
        gm.io.read_lish_moa(path, device="cpu")


def test_threads_end_when_validation_fails(tmp_path, tiny_lish_moa, monkeypatch):
    monkeypatch.setattr(_arrow_matrix, "GROUP", 1)  # many groups still queued when obs fails
    monkeypatch.setattr(_arrow_matrix, "THREADS", 3)
    train, _ = tiny_lish_moa
    obs = train.obs.copy()
    obs.iloc[2, obs.columns.get_loc("cp_dose")] = "D9"
    path = gm.io.write_parquet(train.replace(obs=obs), tmp_path / "bad.parquet")
    before = set(threading.enumerate())
    with pytest.raises(gm.DataError, match="D9"):
        gm.io.read_lish_moa(path, device="cpu")
    assert not set(threading.enumerate()) - before  # the reading threads have ended
