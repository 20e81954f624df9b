"""Parquet label blocks: the byte-wise path for uint8 labels equals the stored labels and still
rejects non-binary values with the usual message."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_moa as gm


def test_uint8_labels_read_back_exactly(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    path = gm.io.write_parquet(train, tmp_path / "t.parquet")
    assert pq.read_schema(path).field(train.label_names[0]).type == pa.uint8()
    back = gm.io.read_lish_moa(path, device="cpu")
    Y, Y_extra = gm.to_numpy(back.Y), gm.to_numpy(back.Y_extra)
    assert Y.dtype == np.float32 and Y.flags.c_contiguous
    np.testing.assert_array_equal(Y, gm.to_numpy(train.Y))
    np.testing.assert_array_equal(Y_extra, gm.to_numpy(train.Y_extra))


@pytest.mark.parametrize("bad", [2, 255])
def test_non_binary_uint8_label_rejected(tmp_path, tiny_lish_moa, bad):
    train, _ = tiny_lish_moa
    path = gm.io.write_parquet(train, tmp_path / "t.parquet")
    table = pq.read_table(path)
    name = train.label_names[2]
    values = table.column(name).to_numpy().copy()
    values[4] = bad
    i = table.schema.get_field_index(name)
    table = table.set_column(i, name, pa.array(values, type=pa.uint8()))
    pq.write_table(table, path)
    with pytest.raises(gm.DataError, match=f"{name}.*non-binary value {bad}"):
        gm.io.read_lish_moa(path, device="cpu")
