"""Pieces shared by the benchmarks: memory and matrix-multiply measurements, case subprocesses,
result files.

Peak memory is the kernel's resident high-water mark (VmHWM), reset with ``clear_refs`` before a
measurement: unlike getrusage's maxrss it is not inherited across fork + exec, so a fresh case
subprocess reports its own peak. The scripts import this file as ``_common`` (``bench/`` is on
``sys.path`` when one of them runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; NaN where absent."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> float:
    """Reset this process's peak RSS (VmHWM) to its current RSS; return that RSS in MiB.

    Where the kernel does not support it (not Linux), the peak is left as it is.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return status_mb("VmRSS")


def sgemm_gflops(
    m: int,
    k: int,
    n: int,
    *,
    repeats: int = 3,
    warmup: bool = True,
    xp: Any = np,
    sync: Callable[[], None] | None = None,
) -> float:
    """Best float32 rate, in GFLOP/s, of an ``(m x k) @ (k x n)`` product of distinct buffers.

    The right factor is the transpose of an ``n x k`` matrix, as the engine multiplies a block
    of queries by the reference. ``xp`` (NumPy by default, or CuPy) holds the operands; ``sync``
    waits for the device after each product.
    """
    rng = np.random.default_rng(1)
    left = xp.asarray(rng.standard_normal((m, k), dtype=np.float32))
    right = xp.asarray(rng.standard_normal((n, k), dtype=np.float32)).T
    sync = sync or (lambda: None)
    if warmup:
        xp.matmul(left, right)
        sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        xp.matmul(left, right)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best / 1e9


def spawn_case(
    script: str, spec: dict, *, env_extra: dict | None = None, timeout: float = 3600
) -> dict:
    """Run ``script --run-case SPEC`` in a fresh interpreter and return the JSON it prints last.

    A fresh process per case keeps peak memory and imports of one case out of another. A
    timeout, a non-zero exit or a crash (signal) is returned as ``{"error": ...}`` with the tail
    of the case's stderr, so one failing case does not lose the others' results.
    """
    env = dict(os.environ, **(env_extra or {}))
    cmd = [sys.executable, script, "--run-case", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        signal = -proc.returncode if proc.returncode < 0 else None
        what = f"crashed with signal {signal}" if signal else f"exit status {proc.returncode}"
        return {"error": what, "stderr_tail": proc.stderr[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(result: dict, path: Path) -> Path:
    """Write ``result`` as indented JSON to ``path`` (atomically: a crash never leaves half a
    file), print it and where it went."""
    from gpu_moa._atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    write_text_atomic(path, text)
    print(text, end="")
    print(f"wrote {path}")
    return path
