"""Global settings: the default device, verbosity and progress bars, with a temporary override."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

_DEVICES = ("auto", "cpu", "gpu")


def _valid_device(value: object) -> bool:
    return isinstance(value, str) and (value in _DEVICES or value.startswith("array_api_strict"))


#: spellings of ``$GPU_MOA_DEVICE`` taken for "gpu" (a GPU request never falls back silently)
_GPU_ALIASES = ("cuda", "cupy")


def env_device_problem() -> str | None:
    """Why ``$GPU_MOA_DEVICE`` is unusable (an unknown value), or None when unset or valid."""
    value = os.environ.get("GPU_MOA_DEVICE", "").strip().lower()
    if not value or value in _DEVICES or value in _GPU_ALIASES:
        return None
    return (
        f"GPU_MOA_DEVICE={value[:40]!r} is not a device; use auto, cpu or gpu (cuda means gpu), "
        "or unset it"
    )


def _default_device() -> str:
    value = os.environ.get("GPU_MOA_DEVICE", "auto").strip().lower() or "auto"
    if value in _GPU_ALIASES:
        return "gpu"
    if value not in _DEVICES:
        warnings.warn(f"{env_device_problem()}; using auto", UserWarning, stacklevel=2)
        return "auto"
    return value


@dataclass
class Settings:
    """Process-wide defaults.

    Attributes
    ----------
    device : {"auto", "cpu", "gpu"}
        Where arrays live when a call does not say; defaults to ``$GPU_MOA_DEVICE`` or "auto"
        (the GPU when CuPy and a CUDA device work, else the CPU).
    verbosity : int
        0 warnings only, 1 info (which backend ran each step), 2 debug.
    progress : bool
        Show tqdm progress bars on long steps.
    figure_process : bool
        ``gpu-moa run`` renders its report figures in a helper process while the stages run,
        on machines with 3 or more cores (:mod:`gpu_moa.run._figure_process`). The helper is a
        spawned interpreter, which imports the caller's main module: set it in a script only
        when the script's work sits under ``if __name__ == "__main__":``. The ``gpu-moa``
        command turns it on.
    """

    device: str = field(default_factory=_default_device)
    verbosity: int = 1
    progress: bool = True
    figure_process: bool = False

    def __setattr__(self, name: str, value: object) -> None:
        if name == "device" and not _valid_device(value):
            raise ValueError(
                f"settings.device must be one of {_DEVICES} or 'array_api_strict[:DEVICE]' "
                f"(the GPU stand-in of the tests), got {value!r}"
            )
        if name == "verbosity":
            level = {0: logging.WARNING, 1: logging.INFO}.get(int(value), logging.DEBUG)
            logging.getLogger("gpu_moa").setLevel(level)
        super().__setattr__(name, value)

    @contextmanager
    def override(self, **changes: object) -> Iterator[Settings]:
        """Temporarily change settings: ``with gm.settings.override(device="cpu"): ...``."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        old = {k: getattr(self, k) for k in changes}
        try:
            for k, v in changes.items():
                setattr(self, k, v)
            yield self
        finally:
            for k, v in old.items():
                setattr(self, k, v)


settings = Settings()
