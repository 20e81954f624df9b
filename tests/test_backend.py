"""Backend: namespace resolution, host/device transfers, GPU requests, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa._backend import _devices


def test_import_does_not_load_gpu_or_dask_libraries():
    code = (
        "import sys, gpu_moa as gm; gm.Profiles; gm.settings;"
        "bad = [m for m in ('cupy', 'cudf', 'cuml', 'dask', 'distributed', 'dask_cuda') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cpu_request_gives_numpy():
    xp = _backend.resolve_xp("cpu")
    assert _backend.is_numpy_namespace(xp)
    assert _backend.resolve_device("cpu") == "cpu"


def test_auto_falls_back_to_cpu_without_gpu(monkeypatch):
    monkeypatch.setattr(_devices, "_gpu_status", lambda: (False, "CuPy is not installed"))
    assert _backend.resolve_device("auto") == "cpu"


def test_gpu_request_without_gpu_is_an_error_with_the_fix(monkeypatch):
    monkeypatch.setattr(_devices, "_gpu_status", lambda: (False, "CuPy is not installed"))
    with pytest.raises(gm.BackendUnavailableError) as err:
        _backend.resolve_xp("gpu")
    msg = str(err.value)
    assert "CuPy is not installed" in msg and "pip install" in msg and "--device cpu" in msg


def test_bad_device_string():
    with pytest.raises(ValueError, match="device must be"):
        _backend.resolve_device("tpu")


def test_settings_device_from_environment():
    code = "import gpu_moa as gm; print(gm.settings.device)"
    env = {"GPU_MOA_DEVICE": "cpu", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "cpu"


def test_settings_override_restores_and_validates():
    before = gm.settings.device
    with gm.settings.override(device="cpu", progress=False):
        assert gm.settings.device == "cpu" and gm.settings.progress is False
    assert gm.settings.device == before
    with pytest.raises(ValueError):
        gm.settings.device = "tpu"
    with pytest.raises(TypeError, match="unknown setting"):
        with gm.settings.override(colour="red"):
            pass


def test_round_trip_and_row_selection(xp):
    host = np.arange(20, dtype=np.float32).reshape(5, 4)
    dev = _backend.to_device(host, xp)
    assert _backend.get_namespace(dev) is xp or _backend.backend_name(
        _backend.get_namespace(dev)
    ) == _backend.backend_name(xp)
    np.testing.assert_array_equal(_backend.to_numpy(dev), host)
    np.testing.assert_array_equal(_backend.to_numpy(_backend.take_rows(dev, [4, 0])), host[[4, 0]])
    mask = np.array([True, False, True, False, False])
    np.testing.assert_array_equal(_backend.to_numpy(_backend.take_rows(dev, mask)), host[mask])
    np.testing.assert_array_equal(
        _backend.to_numpy(_backend.take_cols(dev, [3, 1])), host[:, [3, 1]]
    )


def test_step_log_records_backend(xp):
    _backend.clear_step_log()
    with _backend.timed_step("unit-step", xp, note="why"):
        pass
    rec = _backend.step_log()[-1]
    assert rec.step == "unit-step" and rec.note == "why" and rec.seconds >= 0
    assert rec.backend == _backend.backend_name(xp)


def test_free_memory_is_positive():
    assert _backend.free_memory_bytes(_backend.resolve_xp("cpu")) > 0
