"""``reuse_freed_memory``: a freed large array's pages serve the next array (page faults counted
by the kernel, in a fresh process each, so the test process keeps the system's allocator)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpu_moa.cli import _allocator

#: allocate, free and reallocate a 200 MB array; print whether the setting applied and the page
#: faults the second allocation took (getrusage: the kernel's own count)
_SCRIPT = """
import resource, sys
import numpy as np
from gpu_moa.cli._allocator import reuse_freed_memory

applied = reuse_freed_memory() if sys.argv[1] == "on" else False
a = np.ones(25_000_000)
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(25_000_000)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_allocation_faults(mode: str, env: dict | None = None) -> tuple[bool, int]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        capture_output=True, text=True, check=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    applied, faults = done.stdout.split()
    return applied == "True", int(faults)


def test_freed_pages_serve_the_next_array() -> None:
    applied, reused = _second_allocation_faults("on")
    if not applied:
        pytest.skip("not glibc on Linux: the setting does not apply here")
    _, fresh = _second_allocation_faults("off")
    # defaults: the 200 MB block is unmapped on free and faulted in again (at least one fault
    # per 2 MiB huge page, 100); reused: its pages are still mapped
    assert fresh >= 100
    assert reused * 10 <= fresh


def test_turned_off_by_the_environment() -> None:
    applied, _ = _second_allocation_faults("on", {_allocator.ENV_VAR: "system"})
    assert not applied


def test_nothing_to_do_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _allocator.reuse_freed_memory() is False


def test_console_entry_applies_it_before_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_moa.cli import _main

    calls: list[str] = []
    monkeypatch.setattr(_main, "reuse_freed_memory", lambda: calls.append("allocator"))
    monkeypatch.setattr(_main, "main", lambda argv=None: calls.append("main") or 0)
    assert _main.console_main() == 0
    assert calls == ["allocator", "main"]
