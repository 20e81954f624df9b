"""I/O benchmark: the validated lish-moa read of gpu_moa against pandas and pyarrow, in one run.

Writes the synthetic data set once (``gm.datasets.make_lish_moa``, full size by default: 23,814
training rows x 876 columns plus 206 + 402 label columns and train_drug) in the Kaggle layout and
as Parquet, then times, best of ``--repeat`` rounds:

- ``gpu_moa_kaggle``: ``gm.io.read_lish_moa(dir)`` (parse + validate + Profiles) of the four
  training files (train_features, train_targets_scored, train_targets_nonscored, train_drug);
- ``pandas_c`` / ``pandas_pyarrow``: ``pandas.read_csv`` of the same four files, no validation;
- ``gpu_moa_parquet`` vs ``pyarrow_parquet`` (``pyarrow.parquet.read_table``: Arrow columns,
  no matrix, no checks) and ``pandas_parquet_numpy`` (``pandas.read_parquet`` and the feature and
  label blocks as float32 NumPy matrices: the same output without validation) of the same file;
- ``gpu_moa_kaggle_gpu`` (cuDF parsing, CuPy arrays) when cuDF and a GPU are present.

Each timing runs in a fresh subprocess (rounds interleave the cases, so a busy machine slows all
of them alike; the best round counts) that reports its time and its peak resident memory
growth (the VmHWM high-water mark, reset after imports, minus the resident memory then) and
its CPU time (all threads; steadier than wall time on a shared machine). Ratios compare gpu_moa to the
peers of the same run: best against best, and (``paired_ratios``) the median of each round's own
ratio, whose two runs met about the same load. Goals (issue 2): Kaggle read <= 1.3x pandas' C
engine, Parquet <= 1.2x pyarrow.

Usage::

    python bench/io.py            # full size, writes bench/results/io_cpu.json
    python bench/io.py --quick    # small preset smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import reset_peak, sgemm_gflops, status_mb

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_FILES = (
    "train_features.csv",
    "train_targets_scored.csv",
    "train_targets_nonscored.csv",
    "train_drug.csv",
)
GOALS = {"gpu_moa_kaggle/pandas_c": 1.3, "gpu_moa_parquet/pyarrow_parquet": 1.2}


def _cpu_s() -> float:
    """User + system CPU seconds of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _case(name: str, data: Path):
    """The callable timed for one case (imports and look-ups happen before timing)."""
    import numpy as np
    import pandas as pd
    import pyarrow.dataset  # noqa: F401 - read_table imports it on first use: not I/O
    import pyarrow.parquet as pq

    import gpu_moa as gm

    read = gm.io.read_lish_moa
    gm.resolve_xp("cpu")  # one-time import of the array-API wrapper, not I/O
    if name == "gpu_moa_kaggle":
        return lambda: read(data, device="cpu")
    if name == "gpu_moa_kaggle_gpu":
        return lambda: read(data, device="gpu")
    if name in ("pandas_c", "pandas_pyarrow"):
        engine = name.split("_", 1)[1]
        return lambda: [pd.read_csv(data / f, engine=engine) for f in TRAIN_FILES]
    if name == "gpu_moa_parquet":
        return lambda: read(data / "train.parquet", device="cpu")
    if name == "pyarrow_parquet":
        return lambda: pq.read_table(data / "train.parquet")
    if name == "pandas_parquet_numpy":
        layout = json.loads(pq.read_schema(data / "train.parquet").metadata[b"gpu_moa"])

        def pandas_matrices():
            frame = pd.read_parquet(data / "train.parquet")
            blocks = ("features", "labels", "extra_labels")
            return [frame[layout[b]].to_numpy(np.float32) for b in blocks]

        return pandas_matrices
    raise ValueError(name)


def run_case(name: str, data: Path) -> dict:
    """Time one call of a case in this (fresh) process, with its peak memory growth."""
    fn = _case(name, data)
    base = reset_peak()
    cpu = _cpu_s()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    cpu = _cpu_s() - cpu
    del result
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_rss_growth_mb": round(status_mb("VmHWM") - base, 1),
    }


def prepare(data: Path, preset: str) -> dict:
    """Write the synthetic data once (Kaggle CSVs + Parquet); returns its shape facts."""
    import gpu_moa as gm

    marker = data / "READY.json"
    if marker.exists():
        return json.loads(marker.read_text())
    start = time.perf_counter()
    train = gm.datasets.make_lish_moa(preset=preset, random_state=0, device="cpu")
    test = gm.datasets.make_lish_moa(preset=preset, random_state=0, split="test", device="cpu")
    gm.io.write_lish_moa(train, data, test=test)
    loaded = gm.io.read_lish_moa(data, device="cpu")
    gm.io.write_parquet(loaded, data / "train.parquet")
    info = {
        "preset": preset,
        "train_rows": train.n_obs,
        "features": train.n_vars,
        "scored_labels": len(train.label_names),
        "nonscored_labels": len(train.extra_label_names),
        "csv_mb": {f: round((data / f).stat().st_size / 2**20, 1) for f in TRAIN_FILES},
        "parquet_mb": round((data / "train.parquet").stat().st_size / 2**20, 1),
        "write_s": round(time.perf_counter() - start, 2),
    }
    marker.write_text(json.dumps(info, indent=2))
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small preset, 1 repeat")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (best of)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the data are cached")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    preset = "small" if args.quick else "full"
    data = args.data_dir or Path(tempfile.gettempdir()) / f"gpu_moa_bench_io_{preset}"
    if args.case:
        print(json.dumps(run_case(args.case, data)))
        return
    import gpu_moa as gm

    repeat = 1 if args.quick else args.repeat
    info = prepare(data, preset)
    load_start = os.getloadavg()[0]
    sgemm = sgemm_gflops(1024, 872, 23814, repeats=3)  # a busy machine shows up here too
    cases = [
        "pandas_c",
        "pandas_pyarrow",
        "gpu_moa_kaggle",
        "pyarrow_parquet",
        "pandas_parquet_numpy",
        "gpu_moa_parquet",
    ]
    if gm._backend.has_cudf():
        cases.append("gpu_moa_kaggle_gpu")
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(repeat):  # rounds interleave the cases so load changes hit all of them
        for name in cases:
            cmd = [sys.executable, __file__, "--case", name, "--data-dir", str(data)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = {
        name: {
            "best_s": round(min(r["seconds"] for r in rs), 4),
            "times_s": [round(r["seconds"], 4) for r in rs],
            "best_cpu_s": round(min(r["cpu_s"] for r in rs), 4),
            "peak_rss_growth_mb": max(r["peak_rss_growth_mb"] for r in rs),
        }
        for name, rs in runs.items()
    }
    for name, r in results.items():
        print(
            f"{name:20s} {r['best_s']:.3f} s (cpu {r['best_cpu_s']:.3f} s)  "
            f"peak +{r['peak_rss_growth_mb']} MB",
            flush=True,
        )
    best = {k: v["best_s"] for k, v in results.items()}
    ratios = {
        "gpu_moa_kaggle/pandas_c": best["gpu_moa_kaggle"] / best["pandas_c"],
        "gpu_moa_kaggle/pandas_fastest": best["gpu_moa_kaggle"]
        / min(best["pandas_c"], best["pandas_pyarrow"]),
        "gpu_moa_parquet/pyarrow_parquet": best["gpu_moa_parquet"] / best["pyarrow_parquet"],
        "gpu_moa_parquet/pandas_parquet_numpy": best["gpu_moa_parquet"]
        / best["pandas_parquet_numpy"],
    }
    cpu = {k: v["best_cpu_s"] for k, v in results.items()}
    ratios["cpu_time:gpu_moa_kaggle/pandas_c"] = cpu["gpu_moa_kaggle"] / cpu["pandas_c"]
    ratios["cpu_time:gpu_moa_parquet/pyarrow_parquet"] = (
        cpu["gpu_moa_parquet"] / cpu["pyarrow_parquet"]
    )
    if "gpu_moa_kaggle_gpu" in best:
        ratios["gpu_moa_kaggle_gpu/pandas_c"] = best["gpu_moa_kaggle_gpu"] / best["pandas_c"]
    # each round's own ratio: the two runs of a round met about the same load
    paired = {}
    for goal in GOALS:
        ours, peer = goal.split("/")
        per_round = [
            a["seconds"] / b["seconds"] for a, b in zip(runs[ours], runs[peer], strict=True)
        ]
        paired[goal] = {"median": round(statistics.median(per_round), 3)}
        paired[goal]["per_round"] = [round(r, 3) for r in per_round]
    report = {
        "benchmark": "io",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
            "load_avg_1min_start": load_start,
            "same_run_sgemm_gflops": round(sgemm, 1),
        },
        "data": info,
        "repeat": repeat,
        "cases": results,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "paired_ratios": paired,
        "goals": {k: {"max_ratio": g, "met": ratios[k] <= g} for k, g in GOALS.items()},
    }
    out = args.out or RESULTS / ("io_quick_cpu.json" if args.quick else "io_cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["ratios"], indent=2))
    print("per-round ratios (median):", {k: v["median"] for k, v in paired.items()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
