"""Where the GPU time goes: the main job twice in one process, the first under cProfile.

On a fresh GPU machine the first ``gpu-moa run --device gpu`` compiles CuPy's kernels (NVRTC)
and umap-learn's numba functions; the second, in the same process, finds them compiled. The
profile of the first run (sorted by own time and by cumulative time) goes to text files, and a
JSON holds both wall times, the second run's stage times and the seconds spent compiling::

    python bench/gpu_profile.py OUT_DIR   # after bench/gpu_check.py installed .gpu-site/

Run it with ``PYTHONPATH=.:.gpu-site`` on the GPU machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path

from _common import write_results


def compile_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds in CuPy's NVRTC compiles and numba's dispatcher compiles."""
    found = {"cupy_nvrtc": 0.0, "numba_jit": 0.0}
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (file, _, name), (_, _, _, cumulative, _) in entries:
        if name == "_compile_using_nvrtc_no_warning" and "cupy" in file:
            found["cupy_nvrtc"] += cumulative
        elif name == "_compile_cached" and file.endswith("numba/core/dispatcher.py"):
            found["numba_jit"] = max(found["numba_jit"], cumulative)
    return {k: round(v, 1) for k, v in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="directory for the profiles and gpu_profile.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from gpu_moa.cli import main as gpu_moa

    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    gpu_moa(["run", "--quiet", "--out", str(out / "run1"), "--device", "gpu"])
    profile.disable()
    cold = time.perf_counter() - start
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(key).print_stats(60)
        (out / f"main_{key}.txt").write_text(text.getvalue())
    start = time.perf_counter()
    gpu_moa(["run", "--quiet", "--out", str(out / "run2"), "--device", "gpu"])
    warm = time.perf_counter() - start
    result = {
        "cold_seconds_profiled": round(cold, 1),
        "warm_seconds_same_process": round(warm, 1),
        "warm_stages_s": json.loads((out / "run2" / "metrics.json").read_text())["timings_s"],
        "compile_seconds_in_cold_run": compile_seconds(pstats.Stats(profile)),
    }
    write_results(result, out / "gpu_profile.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
