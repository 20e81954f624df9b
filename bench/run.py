"""Main-job benchmark: ``gpu-moa run`` on the default (embedded synthetic) data set, end to end.

Runs the command in a fresh subprocess (``--quiet``, output into a temporary directory) and
records its wall time, its CPU time (all threads of the child: steadier than wall time on a
shared machine), its peak resident memory, the per-stage wall times the run writes into
``metrics.json`` (``timings_s``), the 1-minute load average before and after, and the machine's
float32 matrix-multiply rate measured in the same run (1,024 x 872 @ 872 x 23,814, the
similarity engine's block shape), so that a busy machine shows up as such.

Goal (issue 14): ``gpu-moa run`` on the full default set <= 30 s on a 2-core machine.

Usage::

    python bench/run.py            # full default set -> bench/results/run_cpu.json
    python bench/run.py --quick    # gpu-moa run --quick -> bench/results/run_quick_cpu.json
    python bench/run.py --device gpu  # on the GPU -> bench/results/run_gpu.json

On a fresh GPU machine the first run also pays one-off compiling that later runs find cached
on disk: CuPy's kernels (NVRTC, about 240 of them) and umap-learn's numba functions. With
``--repeat 2`` the first run (``runs[0]``) is that cold start and the best one the warm case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import sgemm_gflops, write_results

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_S = 30.0


def _child_usage() -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of the finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_once(out: Path, quick: bool, device: str | None = None, log: bool = False) -> dict:
    """One ``gpu-moa run`` in a subprocess: wall, CPU, peak memory and the stage timings.

    With ``log`` the run keeps its info logs and progress bars and writes them to this
    process's stderr as they come, so a run stopped from outside still shows how far it got.
    """
    entry = "import sys; from gpu_moa.cli import console_main; sys.exit(console_main())"
    cmd = [sys.executable, "-c", entry, "run", "--out", str(out)] + ([] if log else ["--quiet"])
    cmd += ["--quick"] if quick else []
    cmd += ["--device", device] if device else []
    cpu0, _ = _child_usage()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=None if log else subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - start
    cpu1, peak = _child_usage()
    if proc.returncode != 0:
        return {
            "error": f"exit status {proc.returncode}",
            "stderr_tail": (proc.stderr or "")[-800:],
        }
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "peak_rss_mb": round(peak, 1),
        "stages_s": metrics.get("timings_s", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="gpu-moa run --quick")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the best counts)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "gpu"), default=None,
        help="gpu-moa run --device (default: its own default); gpu writes run[_quick]_gpu.json",
    )  # fmt: skip
    parser.add_argument(
        "--log", action="store_true",
        help="show the run's info logs and progress on stderr (where a stopped run got to)",
    )  # fmt: skip
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    sgemm = sgemm_gflops(1024, 872, 23814, repeats=3)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        for i in range(args.repeat):
            runs.append(run_once(Path(tmp) / f"run{i}", args.quick, args.device, args.log))
    ok = [r for r in runs if "seconds" in r]
    best = min(ok, key=lambda r: r["seconds"]) if ok else None
    res = {
        "benchmark": "run",
        "command": "gpu-moa run"
        + ("" if args.log else " --quiet")
        + (" --quick" if args.quick else "")
        + (f" --device {args.device}" if args.device else ""),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_1min_start": load_start,
            "load_avg_1min_end": os.getloadavg()[0],
            "same_run_sgemm_gflops": round(sgemm, 1),
        },
        "runs": runs,
        "best": best,
        "goals": {
            f"seconds <= {GOAL_S:.0f} (issue 14, full set, 2 cores)": {
                "value": best["seconds"] if best else None,
                "met": bool(best and best["seconds"] <= GOAL_S) if not args.quick else None,
            }
        },
    }
    device = "gpu" if args.device == "gpu" else "cpu"
    name = f"run_quick_{device}.json" if args.quick else f"run_{device}.json"
    write_results(res, Path(args.out) if args.out else RESULTS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
