"""Lazy re-export of public names from private implementation modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a module whose names live in other modules.

    ``table`` maps a public name to the module (relative to ``package``) that defines it; the
    module is imported on first access, so optional dependencies load only when used.
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name], package), name)
        return value

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
