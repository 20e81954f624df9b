"""The record of which backend served each named step, with its time (shown in the report)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from gpu_moa._backend._devices import backend_name, synchronize

logger = logging.getLogger("gpu_moa")


@dataclass
class StepRecord:
    """Which backend ran one named step, why, and how long it took."""

    step: str
    backend: str
    device: str
    seconds: float
    note: str = ""


_STEP_LOG: list[StepRecord] = []


def step_log() -> list[StepRecord]:
    """The steps recorded since the last :func:`clear_step_log` (for reports)."""
    return list(_STEP_LOG)


def clear_step_log() -> None:
    """Forget the recorded steps."""
    _STEP_LOG.clear()


def log_backend(
    step: str, backend: str, *, device: str = "cpu", note: str = "", seconds: float = 0.0
) -> None:
    """Log (and record for the report) which backend served ``step`` and, for a fallback, why."""
    _STEP_LOG.append(StepRecord(step, backend, device, seconds, note))
    msg = f"{step}: {backend} on {device}" + (f" ({note})" if note else "")
    logger.info(msg)


@contextmanager
def timed_step(step: str, xp: ModuleType, note: str = "") -> Iterator[None]:
    """Context manager that times a step (synchronising the device) and logs its backend."""
    start = time.perf_counter()
    yield
    synchronize(xp)
    name = backend_name(xp)
    log_backend(
        step,
        name,
        device="gpu" if name == "cupy" else "cpu",
        note=note,
        seconds=time.perf_counter() - start,
    )
