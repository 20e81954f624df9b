"""Shared fixtures: the ``xp`` fixture runs numeric tests on NumPy, array-api-strict and CuPy."""

from __future__ import annotations

import functools
import importlib
import types
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy")
    if not gm.has_gpu():
        pytest.skip("no usable CUDA device")
    return cupy


class OnDevice(types.ModuleType):
    """array-api-strict whose creation functions default to another device (``device1``).

    ``Device("device1")`` refuses implicit conversion to NumPy and mixing with other devices, as
    CuPy does, so a test run on it catches on the CPU what would fail only on a GPU.
    """

    _CREATORS = ("asarray", "zeros", "ones", "full", "empty", "arange", "linspace", "eye")

    def __init__(self, name: str = "device1") -> None:
        super().__init__("array_api_strict")
        self._strict = importlib.import_module("array_api_strict")
        self.device = self._strict.Device(name)

    def __getattr__(self, attr):
        value = getattr(self._strict, attr)
        if attr in self._CREATORS:
            return functools.partial(value, device=self.device)
        return value


@pytest.fixture(
    params=[
        "numpy",
        "array_api_strict",
        "array_api_strict:device1",
        pytest.param("cupy", marks=pytest.mark.gpu),
    ]
)
def xp(request):
    """An array namespace: NumPy (via array-api-compat), array-api-strict on its default device
    or on ``device1`` (the GPU stand-in), or CuPy (gpu)."""
    import array_api_compat

    if request.param == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    if request.param == "cupy":
        cupy = _cupy_or_skip()
        return array_api_compat.array_namespace(cupy.empty(0))
    if request.param == "array_api_strict:device1":
        return OnDevice()
    return importlib.import_module("array_api_strict")


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_lish_moa():
    """The small synthetic preset (Profiles on the CPU), shared by the session."""
    return gm.datasets.make_lish_moa(preset="small", random_state=0, device="cpu")


def _labelled_profiles(X, Y, drugs, xp=None, *, controls=0) -> gm.Profiles:
    n, f = X.shape
    obs = pd.DataFrame(
        {"cp_type": ["ctl_vehicle"] * controls + ["trt_cp"] * (n - controls), "drug_id": drugs},
        index=pd.Index([f"s{i}" for i in range(n)], name="sig_id"),
    )
    return gm.make_profiles(
        X,
        obs,
        [f"g-{j}" for j in range(f)],
        Y=Y,
        label_names=[f"moa{j}" for j in range(Y.shape[1])],
        device=xp,
    )


@pytest.fixture
def labelled_profiles():
    """Factory ``(X, Y, drugs, xp=None, *, controls=0) -> Profiles``: features g-0.., labels
    moa0.., sig_ids s0.., drug ids ``drugs``; the first ``controls`` rows are vehicle controls."""
    return _labelled_profiles


@pytest.fixture
def planted(rng):
    """Factory ``(n=90, f=14, n_labels=5, *, rate=0.18, shift=1.5, per_drug=3) -> (X, Y, drugs)``
    from the ``rng`` fixture: 0/1 labels at ``rate``, standard normal features whose first
    ``n_labels`` columns are shifted by ``shift`` where the label is on, ``per_drug`` rows per
    drug id (d0, d1, ...)."""

    def make(n=90, f=14, n_labels=5, *, rate=0.18, shift=1.5, per_drug=3):
        Y = (rng.random((n, n_labels)) < rate).astype(float)
        X = rng.standard_normal((n, f))
        X[:, :n_labels] += shift * Y
        drugs = np.array([f"d{i // per_drug}" for i in range(n)], dtype=object)
        return X, Y, drugs

    return make


@pytest.fixture(scope="session")
def small_lish_moa_dir(tmp_path_factory, small_lish_moa):
    """The small preset (training and test rows) written as a Kaggle lish-moa directory
    (read-only: shared by the session)."""
    folder = tmp_path_factory.mktemp("small_lish_moa")
    test = gm.datasets.make_lish_moa(preset="small", split="test", random_state=0, device="cpu")
    gm.io.write_lish_moa(small_lish_moa, folder, test=test)
    return folder


@pytest.fixture
def tiny_lish_moa():
    """Hand-built lish-moa (train, test) Profiles: 6 genes + 3 cells, 4 scored + 2 non-scored
    real label names, 3 drugs x 6 rows plus 3 controls in train, 6 test rows; features have
    4 decimals (exact through the CSV writers)."""
    rng = np.random.default_rng(7)
    labels = pd.read_csv(resources.files("gpu_moa") / "data" / "moa_labels.csv")
    scored = labels.loc[labels["set"] == "scored", "label"].tolist()[:4]
    extra = labels.loc[labels["set"] == "nonscored", "label"].tolist()[:2]
    names = [f"g-{i}" for i in range(6)] + [f"c-{i}" for i in range(3)]

    def part(n: int, split: str, start: int, controls: int) -> gm.Profiles:
        drugs = ["ctl0"] * controls + [f"drug{i // 6}" for i in range(n - controls)]
        obs = pd.DataFrame(
            {
                "cp_type": ["ctl_vehicle"] * controls + ["trt_cp"] * (n - controls),
                "cp_time": np.resize([24, 48, 72], n),
                "cp_dose": np.resize(["D1", "D1", "D1", "D2", "D2", "D2"], n),
                "drug_id": drugs if split == "train" else [np.nan] * n,
                "split": split,
            },
            index=pd.Index([f"id_{start + i:05d}" for i in range(n)], name="sig_id"),
        ).astype({"cp_type": "str", "cp_dose": "str", "drug_id": "str", "split": "str"})
        X = np.round(rng.normal(0, 2, (n, len(names))), 4)
        Y = (rng.random((n, 4)) < 0.3).astype(np.float32)
        Y[:controls] = 0
        Ye = (rng.random((n, 2)) < 0.3).astype(np.float32)
        return gm.make_profiles(
            X,
            obs,
            names,
            Y=Y,
            label_names=scored,
            Y_extra=Ye,
            extra_label_names=extra,
            device="cpu",
        )

    return part(21, "train", 0, 3), part(6, "test", 100, 0)


@pytest.fixture
def refinements(monkeypatch):
    """Whether each call of ``eigh_top``'s float64 refinement of a float32 start was accepted."""
    from gpu_moa._backend import _kernels

    outcomes: list[bool] = []
    refine = _kernels._refine_top

    def spy(*args):
        out = refine(*args)
        outcomes.append(out is not None)
        return out

    monkeypatch.setattr(_kernels, "_refine_top", spy)
    return outcomes
