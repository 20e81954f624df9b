"""Profiles container: construction checks, subsetting, device moves, frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa import _backend


def _toy(xp=None):
    obs = pd.DataFrame(
        {"cp_type": ["trt_cp", "trt_cp", "ctl_vehicle"], "drug_id": ["d1", "d2", "ctl"]},
        index=pd.Index(["s1", "s2", "s3"], name="sig_id"),
    )
    X = np.arange(12, dtype=np.float64).reshape(3, 4)
    Y = np.array([[1, 0], [0, 1], [0, 0]])
    return gm.make_profiles(
        X, obs, ["g-0", "g-1", "c-0", "c-1"], Y=Y, label_names=["a", "b"], device=xp
    )


def test_make_profiles_casts_and_infers_kinds(xp):
    p = _toy(xp)
    assert p.shape == (3, 4)
    assert _backend.to_numpy(p.X).dtype == np.float32
    assert p.var["kind"].tolist() == ["gene", "gene", "cell", "cell"]
    assert p.genes.var_names == ["g-0", "g-1"] and p.cells.var_names == ["c-0", "c-1"]
    np.testing.assert_array_equal(_backend.to_numpy(p.cells.X), np.arange(12).reshape(3, 4)[:, 2:])


@pytest.mark.parametrize(
    "rows, expected",
    [
        (slice(1, None), ["s2", "s3"]),
        ([2, 0], ["s3", "s1"]),
        (np.array([True, False, True]), ["s1", "s3"]),
        (["s3", "s2"], ["s3", "s2"]),
    ],
)
def test_row_subsetting_keeps_everything_aligned(xp, rows, expected):
    p = _toy(xp)
    sub = p[rows]
    assert sub.obs.index.tolist() == expected
    order = [int(s[1]) - 1 for s in expected]
    np.testing.assert_array_equal(_backend.to_numpy(sub.X), np.arange(12).reshape(3, 4)[order])
    np.testing.assert_array_equal(
        _backend.to_numpy(sub.Y), np.array([[1, 0], [0, 1], [0, 0]])[order]
    )


def test_unknown_sig_id_and_bad_mask():
    p = _toy()
    with pytest.raises(KeyError, match="zzz"):
        p[["zzz"]]
    with pytest.raises(IndexError):
        p[np.array([True, False])]


def test_shape_mismatches_are_rejected():
    p = _toy()
    with pytest.raises(ValueError, match="obs has"):
        p.replace(obs=p.obs.iloc[:2])
    with pytest.raises(ValueError, match="Y has 2 columns but 1 names"):
        p.replace(label_names=["a"])


def test_to_moves_arrays_and_to_frame(xp):
    p = _toy().to(xp)
    assert _backend.backend_name(p.xp) == _backend.backend_name(xp)
    frame = p.to_frame(labels=True)
    assert list(frame.columns[:2]) == ["cp_type", "drug_id"]
    assert frame.loc["s2", "g-1"] == 5.0 and frame.loc["s2", "b"] == 1
    assert p.labels.loc["s1"].tolist() == [1, 0]
    assert "3 x 4" in repr(p)


def test_labels_with_unknown_rows_use_a_nullable_dtype():
    p = _toy()
    Y = gm.to_numpy(p.Y).copy()
    Y[2] = np.nan
    labels = p.replace(Y=Y).labels
    assert str(labels.dtypes.iloc[0]) == "Int8"
    assert labels.loc["s1"].tolist() == [1, 0] and labels.loc["s3"].isna().all()


def test_is_control_one_rule():
    X = np.zeros((5, 2), np.float32)
    var = pd.DataFrame(index=["a", "b"])
    lish = pd.DataFrame({"cp_type": ["ctl_vehicle", "trt_cp", "trt_cp", "ctl_vehicle", None]})
    l1000 = pd.DataFrame({"pert_type": ["ctl_untrt", "trt_cp", "ctl_vehicle", "trt_sh", "trt_cp"]})
    assert gm.make_profiles(X, lish, var).is_control.tolist() == [True, False, False, True, False]
    assert gm.make_profiles(X, l1000, var).is_control.tolist() == [True, False, True, False, False]
    both = pd.concat([lish, l1000], axis=1)  # cp_type is preferred over pert_type
    assert gm.make_profiles(X, both, var).is_control.tolist() == [True, False, False, True, False]
    none = gm.make_profiles(X, pd.DataFrame(index=range(5)), var)
    assert none.type_column is None and not none.is_control.any()


def test_drug_codes_shared_and_unknown_never_equal():
    var = pd.DataFrame(index=["a"])
    q = gm.make_profiles(
        np.zeros((4, 1), np.float32), pd.DataFrame({"drug_id": ["d1", None, "d2", " "]}), var
    )
    r = gm.make_profiles(
        np.zeros((3, 1), np.float32), pd.DataFrame({"pert_id": ["d2", "d1", None]}), var
    )
    codes = q.drug_codes(r)
    assert codes.dtype == np.int64 and len(codes) == 7
    assert codes[0] == codes[5] and codes[2] == codes[4] and codes[0] != codes[2]
    unknown = codes[[1, 3, 6]]
    assert (unknown < 0).all() and len(set(unknown.tolist())) == 3
    bare = gm.make_profiles(np.zeros((3, 1), np.float32), pd.DataFrame(index=range(3)), var)
    assert len(set(bare.drug_codes().tolist())) == 3


def test_label_strings_equal_a_plain_join(xp, rng):
    from gpu_moa.profiles import label_strings

    Y = (rng.random((40, 7)) < 0.15).astype(np.float32)
    Y[3] = 0  # a row without labels
    names = [f"moa_{j}" for j in range(7)]
    rows = np.array([5, 3, 5, 39, 0, 12, 12])
    got = label_strings(xp.asarray(Y), rows, names, sep="; ")
    want = ["; ".join(n for n, y in zip(names, Y[r], strict=True) if y > 0.5) for r in rows]
    assert got.tolist() == want
    assert label_strings(xp.asarray(Y), [], names).tolist() == []
