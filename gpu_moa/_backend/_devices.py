"""Which array namespace and device serve a request: NumPy, CuPy, or array-api-strict's devices.

Device requests are ``"auto"``, ``"cpu"``, ``"gpu"`` (CuPy) and, to test device residency on any
machine, ``"array_api_strict"`` or ``"array_api_strict:device1"``: array-api-strict's second device
refuses implicit conversion to NumPy and mixing devices, as CuPy does.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from gpu_moa._settings import settings

#: prefix of the array-api-strict device requests (the GPU stand-in of the tests)
STRICT = "array_api_strict"

CUPY_INSTALL_HINT = (
    "install CuPy for your CUDA version: `pip install 'gpu_moa[cu12]'` (CUDA 12) or "
    "`pip install 'gpu_moa[cu13]'` (CUDA 13), or use the RAPIDS conda environment "
    "(`conda env create -f environment.yml`); or run with --device cpu"
)
RAPIDS_INSTALL_HINT = (
    "install RAPIDS: `pip install 'gpu_moa[rapids-cu12]' --extra-index-url=https://pypi.nvidia.com` "
    "or `conda env create -f environment.yml`"
)


class BackendUnavailableError(RuntimeError):
    """A requested backend (GPU, CuPy, cuDF, cuML, Dask) cannot be used here.

    The message names the missing piece and the command that installs it.
    """


def _import_optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken CUDA install raises all sorts of errors
        return None


@functools.cache
def _gpu_status() -> tuple[bool, str]:
    """(usable, reason) for CuPy with at least one CUDA device."""
    cupy = _import_optional("cupy")
    if cupy is None:
        return False, "CuPy is not installed"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        return False, f"CuPy is installed but no CUDA device works ({exc})"
    if n < 1:
        return False, "CuPy is installed but no CUDA device was found"
    return True, f"CuPy {cupy.__version__} with {n} CUDA device(s)"


def has_gpu() -> bool:
    """Return True when CuPy is importable and at least one CUDA device works."""
    return _gpu_status()[0]


def has_cudf() -> bool:
    """Return True when cuDF is importable and a GPU works."""
    return has_gpu() and _import_optional("cudf") is not None


def has_cuml() -> bool:
    """Return True when cuML is importable and a GPU works."""
    return has_gpu() and _import_optional("cuml") is not None


def resolve_device(device: str | None = None) -> str:
    """Turn a device request ("auto", "cpu", "gpu" or None for the setting) into "cpu" or "gpu".

    Raises
    ------
    BackendUnavailableError
        When "gpu" is asked for and no GPU works; the message says why and how to fix it.
    """
    device = settings.device if device is None else device
    if device.startswith(STRICT):
        return "cpu"
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'gpu' or '{STRICT}[:DEVICE]', got {device!r}"
        )
    if device == "cpu":
        return "cpu"
    usable, reason = _gpu_status()
    if device == "gpu" and not usable:
        raise BackendUnavailableError(
            f"device='gpu' was requested but {reason}: {CUPY_INSTALL_HINT}"
        )
    return "gpu" if usable else "cpu"


def resolve_xp(device: str | None = None) -> ModuleType:
    """Return the array namespace for a device request: NumPy for "cpu", CuPy for "gpu",
    array-api-strict for ``"array_api_strict[:DEVICE]"``."""
    device = settings.device if device is None else device
    if device.startswith(STRICT):
        return importlib.import_module(STRICT)
    if resolve_device(device) == "gpu":
        return array_api_compat.array_namespace(_import_optional("cupy").empty(0))
    return array_api_compat.array_namespace(np.empty(0))


def get_namespace(*arrays: Any) -> ModuleType:
    """Return the array-API namespace shared by ``arrays`` (NumPy, CuPy, array-api-strict...)."""
    return array_api_compat.array_namespace(*arrays)


def is_array(x: Any) -> bool:
    """True for an array of any namespace (NumPy, CuPy, array-api-strict...), False for lists,
    pandas objects and scalars. CuPy arrays carry no ``__array_namespace__``: test with this."""
    return array_api_compat.is_array_api_obj(x)


def is_numpy_namespace(xp: ModuleType) -> bool:
    """True for NumPy (plain or through array-api-compat): used to label NumPy-only fast paths."""
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy_namespace(xp: ModuleType) -> bool:
    """True for CuPy (plain or through array-api-compat)."""
    return array_api_compat.is_cupy_namespace(xp)


def backend_name(xp: ModuleType) -> str:
    """A short name for a namespace: "numpy", "cupy", "array_api_strict"..."""
    if is_numpy_namespace(xp):
        return "numpy"
    if is_cupy_namespace(xp):
        return "cupy"
    return xp.__name__.split(".")[-1]


def resolve_array_device(device: str | None = None) -> tuple[ModuleType, Any]:
    """``(namespace, device object)`` for a request; the device object is None for the default.

    ``"array_api_strict:device1"`` gives array-api-strict's ``Device("device1")``.
    """
    device = settings.device if device is None else device
    xp = resolve_xp(device)
    if device.startswith(STRICT + ":"):
        return xp, xp.Device(device.split(":", 1)[1])
    return xp, None


def array_device(x: Any) -> Any:
    """The device object of an array (``array_api_compat.device``), for ``device=`` arguments."""
    return array_api_compat.device(x)


def device_of(x: Any) -> str:
    """ "gpu" for a CuPy array, else "cpu"."""
    return "gpu" if array_api_compat.is_cupy_array(x) else "cpu"


def synchronize(xp: ModuleType) -> None:
    """Wait for queued device work (a no-op on the CPU); needed before reading a timer."""
    if is_cupy_namespace(xp):
        _import_optional("cupy").cuda.get_current_stream().synchronize()


def free_memory_bytes(xp: ModuleType) -> int:
    """Free memory of the device behind ``xp``: GPU memory for CuPy, available RAM otherwise."""
    if is_cupy_namespace(xp):
        cupy = _import_optional("cupy")
        free, _total = cupy.cuda.runtime.memGetInfo()
        return int(free + cupy.get_default_memory_pool().free_bytes())
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def import_cudf() -> ModuleType:
    """Import cuDF, or raise :class:`BackendUnavailableError` with the install command."""
    mod = _import_optional("cudf") if has_gpu() else None
    if mod is None:
        raise BackendUnavailableError(f"cuDF is not available: {RAPIDS_INSTALL_HINT}")
    return mod


def import_cuml() -> ModuleType:
    """Import cuML, or raise :class:`BackendUnavailableError` with the install command."""
    mod = _import_optional("cuml") if has_gpu() else None
    if mod is None:
        raise BackendUnavailableError(f"cuML is not available: {RAPIDS_INSTALL_HINT}")
    return mod


@contextmanager
def tf32_matmul(xp: ModuleType, enabled: bool = True) -> Iterator[None]:
    """Let CuPy's float32 matrix products use TF32 tensor cores inside the block.

    A no-op for other namespaces or when ``enabled`` is false; the previous CuPy compute type
    is restored on exit.
    """
    if not (enabled and is_cupy_namespace(xp)):
        yield
        return
    linalg = importlib.import_module("cupy._core._routines_linalg")
    previous = linalg.get_compute_type(np.float32)
    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32)
    try:
        yield
    finally:
        linalg.set_compute_type(np.float32, previous)
