"""Copies between the host and the device, all of them counted: ``to_numpy`` is the only road back.

:func:`track_transfers` records every copy made by :func:`to_numpy` and :func:`to_device` (bytes
and where in gpu_moa it was asked for), so tests can hold each operation to a transfer budget.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from gpu_moa._backend._devices import (
    get_namespace,
    is_cupy_namespace,
    is_numpy_namespace,
    resolve_array_device,
)


@dataclass(frozen=True)
class Transfer:
    """One copy: its direction ("to_host" / "to_device"), size, shape and the gpu_moa caller."""

    direction: str
    nbytes: int
    shape: tuple[int, ...]
    where: str


@dataclass
class TransferLog:
    """Copies made inside a :func:`track_transfers` block."""

    calls: list[Transfer] = field(default_factory=list)

    @property
    def bytes_to_host(self) -> int:
        """Bytes copied from a device to the host."""
        return sum(c.nbytes for c in self.calls if c.direction == "to_host")

    @property
    def bytes_to_device(self) -> int:
        """Bytes copied from the host to a device."""
        return sum(c.nbytes for c in self.calls if c.direction == "to_device")

    def largest(self, direction: str = "to_host") -> Transfer | None:
        """The largest copy in one direction (None if there was none)."""
        calls = [c for c in self.calls if c.direction == direction]
        return max(calls, key=lambda c: c.nbytes, default=None)


_LOGS: list[TransferLog] = []
_LOCK = threading.Lock()


@contextmanager
def track_transfers() -> Iterator[TransferLog]:
    """Count host <-> device copies made by ``to_numpy`` / ``to_device`` inside the block.

    Returns
    -------
    TransferLog
        ``bytes_to_host``, ``bytes_to_device`` and ``calls`` (each with its gpu_moa caller),
        filled while the block runs. Host NumPy arrays never count: they are on the host already.

    Examples
    --------
    >>> with gm.track_transfers() as t:  # doctest: +SKIP
    ...     gm.tl.similarity_topk(X, k=10)
    >>> t.bytes_to_host  # doctest: +SKIP
    """
    log = TransferLog()
    with _LOCK:
        _LOGS.append(log)
    try:
        yield log
    finally:
        with _LOCK:
            _LOGS.remove(log)


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("gpu_moa._backend"):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{frame.f_lineno}"


def _record(direction: str, arr: Any) -> None:
    if not _LOGS:
        return
    shape = tuple(int(s) for s in arr.shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * int(
        np.dtype(str(arr.dtype).split(".")[-1]).itemsize
    )
    item = Transfer(direction, nbytes, shape, _caller())
    with _LOCK:
        for log in _LOGS:
            log.calls.append(item)


def _is_host(x: Any) -> bool:
    return isinstance(x, np.ndarray | np.generic | list | tuple | int | float | bool)


def to_numpy(x: Any) -> np.ndarray:
    """Copy any array (NumPy, CuPy, array-api-strict on any device) to a NumPy array on the host.

    The one road from a device to the host; each copy is counted by :func:`track_transfers`.
    """
    if isinstance(x, np.ndarray):
        return x
    if _is_host(x):
        return np.asarray(x)
    _record("to_host", x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass
    return np.asarray(x)


def _target(where: Any) -> tuple[ModuleType, Any]:
    """(namespace, device object or None) of a target: request string, namespace or array."""
    if where is None or isinstance(where, str):
        return resolve_array_device(where)
    if isinstance(where, ModuleType):
        return where, getattr(where, "device", None)  # a namespace bound to a device
    return get_namespace(where), array_api_compat.device(where)


def to_device(x: Any, where: ModuleType | str | Any = None) -> Any:
    """Put ``x`` where ``where`` says: a device request string (``"cpu"``, ``"gpu"``,
    ``"array_api_strict:device1"``), an array namespace, or an array whose namespace and device
    are taken (the way to create a companion of an input on the input's own device).

    Copies from the host to a device are counted by :func:`track_transfers`.
    """
    xp, device = _target(where)
    if is_numpy_namespace(xp):
        return xp.asarray(to_numpy(x))
    if array_api_compat.is_array_api_obj(x) and not isinstance(x, np.ndarray):
        if get_namespace(x) is xp or is_cupy_namespace(xp):
            same = device is None or array_api_compat.device(x) == device
            return x if same else array_api_compat.to_device(x, device)
        x = to_numpy(x)
    host = np.asarray(x)
    _record("to_device", host)
    if device is None:
        return xp.asarray(host)
    return xp.asarray(host, device=device)


def _take(x: Any, positions: Any, axis: int) -> Any:
    xp = get_namespace(x)
    if _is_host(positions):
        idx = np.asarray(positions)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = to_device(idx.astype(np.int64), x)
    else:
        idx = positions
        if idx.dtype == xp.bool:
            (idx,) = xp.nonzero(idx)
        idx = xp.astype(idx, xp.int64)
    return xp.take(x, idx, axis=axis)


def take_rows(x: Any, rows: Any) -> Any:
    """Select rows of a 2-D (or 1-D) device array by integer positions or a boolean mask
    (host or device; host positions are copied to ``x``'s device)."""
    return _take(x, rows, 0)


def take_cols(x: Any, cols: Any) -> Any:
    """Select columns of a 2-D device array by integer positions or a boolean mask."""
    return _take(x, cols, 1)
