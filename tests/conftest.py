"""Shared fixtures: the ``xp`` fixture runs numeric tests on NumPy, array-api-strict and CuPy."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import gpu_moa as gm


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy")
    if not gm.has_gpu():
        pytest.skip("no usable CUDA device")
    return cupy


@pytest.fixture(
    params=[
        "numpy",
        "array_api_strict",
        pytest.param("cupy", marks=pytest.mark.gpu),
    ]
)
def xp(request):
    """An array namespace: NumPy (via array-api-compat), array-api-strict, or CuPy (gpu)."""
    import array_api_compat

    if request.param == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    if request.param == "cupy":
        cupy = _cupy_or_skip()
        return array_api_compat.array_namespace(cupy.empty(0))
    return importlib.import_module("array_api_strict")


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_lish_moa():
    """The small synthetic preset (Profiles on the CPU), shared by the session."""
    return gm.datasets.make_lish_moa(preset="small", random_state=0)
