"""gpu_moa: GPU-accelerated drug mechanism-of-action profiling (lish-moa, L1000/CMap).

``import gpu_moa as gm`` needs NumPy, pandas and scikit-learn only; CuPy, cuDF, cuML and Dask are
imported lazily when a step uses them. Submodules (``gm.io``, ``gm.pp``, ``gm.tl``, ``gm.pl``,
``gm.models``, ``gm.metrics``, ``gm.datasets``, ``gm.eda``, ``gm.dist``, ``gm.run`` and
``gm.report``, the run's HTML report) load on first access.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from gpu_moa._backend import (
    BackendUnavailableError,
    get_namespace,
    has_gpu,
    resolve_xp,
    to_device,
    to_numpy,
    track_transfers,
)
from gpu_moa._settings import settings
from gpu_moa._validation import DataError
from gpu_moa.profiles import Profiles, make_profiles

__version__ = "0.1.0"

#: public namespaces, each a subpackage imported on first access
_SUBMODULES = {
    name: f"gpu_moa.{name}"
    for name in ("io", "pp", "tl", "pl", "models", "metrics", "datasets", "eda", "dist", "run")
}
_SUBMODULES["report"] = "gpu_moa.run.report"

__all__ = [
    "BackendUnavailableError",
    "DataError",
    "Profiles",
    "get_namespace",
    "has_gpu",
    "make_profiles",
    "resolve_xp",
    "settings",
    "to_device",
    "to_numpy",
    "track_transfers",
    *_SUBMODULES,
]

logging.getLogger("gpu_moa").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gpu_moa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
