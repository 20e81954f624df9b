"""Scaling benchmark: top-10 similarity on synthetic L1000-shaped signatures (978 genes).

Times query-vs-reference (1,000 queries against 10k .. n references) and all-vs-all top-10 with
Pearson similarity, for: one process (``gm.tl.similarity_topk``), a 2-worker Dask LocalCluster
(``gm.dist.similarity_topk``), and the reference streamed from a GCTX file
(``gm.dist.similarity_topk_stream``); plus CuPy on one GPU when a device is present. Each case
runs in a fresh subprocess that reports its wall time and peak resident memory (getrusage maxrss,
and the growth over the memory held before the computation). The machine's float32 matrix
multiply rate (sgemm) is measured in the same run and each case is reported as GFLOP/s (the
2 n_q n_ref p flops of the score products) and as a fraction of that rate. Sizes beyond those
measured are extrapolated (linear in n_ref for query-vs-reference, quadratic for all-vs-all) and
labelled so.

Usage::

    python bench/scale.py            # full CPU run, writes bench/results/scale_cpu.{json,png}
    python bench/scale.py --quick    # smoke run (seconds)

OpenBLAS: where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set to work around old builds, they slow a
current NumPy; unset both for this command alone to time the native kernel (the JSON records the
kernel threadpoolctl reports).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import reset_peak, sgemm_gflops, status_mb

P, K, N_QUERY, BLOCK, SEED = 978, 10, 1_000, 50_000, 0
TARGET_N = 1_200_000
RESULTS = Path(__file__).resolve().parent / "results"
#: the machine's float32 matrix-multiply rate is measured on one top-k block's product shape
SGEMM_SHAPE = (4096, P, 8192)


# ----------------------------------------------------------------------------- synthetic data
def make_block(n: int, seed: int) -> np.ndarray:
    """``n`` L1000-like signatures: 24 latent programmes + noise, float32, clipped to [-10, 10]."""
    rng = np.random.default_rng([SEED, seed])
    loadings = np.random.default_rng([SEED, 10**9]).standard_normal((24, P), dtype=np.float32)
    z = rng.standard_normal((n, 24), dtype=np.float32)
    x = z @ loadings * np.float32(0.4) + rng.standard_normal((n, P), dtype=np.float32)
    return np.clip(x, -10, 10, out=x)


def block_sizes(n: int) -> list[int]:
    return [min(BLOCK, n - s) for s in range(0, n, BLOCK)]


def make_matrix(n: int, first_seed: int = 1) -> np.ndarray:
    """The n x 978 matrix, filled block by block (generation never holds a second copy)."""
    out = np.empty((n, P), dtype=np.float32)
    for i, start in enumerate(range(0, n, BLOCK)):
        out[start : start + BLOCK] = make_block(min(BLOCK, n - start), first_seed + i)
    return out


def dask_matrix(n: int, first_seed: int = 1):
    """The same matrix as a dask array generated on the workers, one block per task."""
    import dask
    import dask.array as da

    parts = [
        da.from_delayed(dask.delayed(make_block)(m, first_seed + i), (m, P), dtype=np.float32)
        for i, m in enumerate(block_sizes(n))
    ]
    return da.concatenate(parts, axis=0)


def write_gctx(path: Path, n: int) -> None:
    """Write the n x 978 reference as a GCTX file (signatures = HDF5 rows), block by block."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["version"] = "GCTX1.0"
        dset = f.create_dataset("0/DATA/0/matrix", (n, P), dtype="f4", chunks=(1000, P))
        for i, start in enumerate(range(0, n, BLOCK)):
            dset[start : start + BLOCK] = make_block(min(BLOCK, n - start), 1 + i)
        f["0/META/ROW/id"] = np.array([f"g{j}" for j in range(P)], dtype="S")
        f["0/META/COL/id"] = np.array([f"s{j}" for j in range(n)], dtype="S")


# ----------------------------------------------------------------------------- measurements
def peak_mb() -> float:
    """Peak RSS since :func:`reset_peak` (VmHWM), or since start (getrusage) where unsupported."""
    peak = status_mb("VmHWM")
    if not np.isnan(peak):
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: dict) -> dict:
    """One measurement, run inside a fresh subprocess (see ``--case``)."""
    import gpu_moa as gm

    gm.settings.progress = False
    task, mode, n = case["task"], case["mode"], case["n"]
    chunk = case.get("chunk_rows", BLOCK)
    query = make_block(N_QUERY, 0) if task == "qr" else None
    if mode == "stream":
        ref = None
    elif mode == "cluster":
        ref = dask_matrix(n).rechunk((chunk, P))
    else:
        ref = make_matrix(n)
    if mode == "cupy":
        ref = gm.to_device(ref, "gpu")
        query = None if query is None else gm.to_device(query, "gpu")
    n_q = N_QUERY if task == "qr" else n
    if mode == "cluster":
        with gm.dist.cluster("cpu", n_workers=case.get("workers", 2)) as c:
            ref = c.client.persist(ref)
            c.client.wait_for_workers(1)
            from distributed import wait

            wait(ref)
            before, start = reset_peak(), time.perf_counter()
            q = None if query is None else gm.dist.to_dask(query, chunk_rows=chunk)
            args = (q, ref) if task == "qr" else (ref, None)
            gm.dist.similarity_topk(*args, k=K, metric="pearson", chunk_rows=chunk)
            seconds = time.perf_counter() - start
    else:
        before, start = reset_peak(), time.perf_counter()
        if mode == "stream":
            gm.dist.similarity_topk_stream(
                query, case["path"], k=K, metric="pearson", chunk_rows=chunk
            )
        else:
            args = (query, ref) if task == "qr" else (ref, None)
            out = gm.tl.similarity_topk(*args, k=K, metric="pearson")
            if mode == "cupy":
                gm._backend.synchronize(gm.get_namespace(out[0]))
        seconds = time.perf_counter() - start
    peak = peak_mb()
    gflop = 2.0 * n_q * n * P / 1e9
    return {
        **{k: v for k, v in case.items() if k != "path"},
        "n_query": n_q,
        "seconds": round(seconds, 3),
        "gflops": round(gflop / seconds, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_before_mb": round(before, 1),
        "peak_growth_mb": round(peak - before, 1),
    }


def _subprocess(case: dict) -> dict:
    cmd = [sys.executable, __file__, "--case", json.dumps(case)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def extrapolate(cases: list[dict]) -> list[dict]:
    """Time at 1.2M signatures from the largest measured size of each (task, mode)."""
    out = []
    for task, power in (("qr", 1), ("ava", 2)):
        for mode in sorted({c["mode"] for c in cases if c["task"] == task}):
            last = max(
                (c for c in cases if c["task"] == task and c["mode"] == mode), key=lambda c: c["n"]
            )
            scale = (TARGET_N / last["n"]) ** power
            out.append(
                {
                    "task": task,
                    "mode": mode,
                    "n": TARGET_N,
                    "extrapolated_from_n": last["n"],
                    "seconds": round(last["seconds"] * scale, 1),
                    "note": f"EXTRAPOLATED: measured time x (1.2M / n)^{power}, not measured",
                }
            )
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = result["cases"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (task, mode), style in _series(cases):
        pts = sorted(
            (c for c in cases if c["task"] == task and c["mode"] == mode), key=lambda c: c["n"]
        )
        ns = [c["n"] for c in pts]
        label = f"{task} {mode}"
        axes[0].plot(ns, [c["seconds"] for c in pts], style, label=label)
        ext = [e for e in result["extrapolated"] if e["task"] == task and e["mode"] == mode]
        if ext:
            axes[0].plot(
                [ns[-1], TARGET_N],
                [pts[-1]["seconds"], ext[0]["seconds"]],
                ":",
                color=axes[0].lines[-1].get_color(),
            )
        axes[1].plot(ns, [c["gflops"] / result["sgemm_gflops"] for c in pts], style, label=label)
        axes[2].plot(ns, [c["peak_growth_mb"] for c in pts], style, label=label)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="signatures n (reference / all)",
        ylabel="seconds",
        title="top-10 time (dotted: extrapolated to 1.2M)",
    )
    axes[1].set(
        xscale="log",
        xlabel="n",
        ylabel="fraction of measured sgemm rate",
        title=f"efficiency (sgemm {result['sgemm_gflops']:.0f} GFLOP/s)",
    )
    axes[1].axhline(0.7, color="grey", lw=0.8, ls="--")
    axes[2].set(
        xscale="log",
        xlabel="n",
        ylabel="peak RSS growth (MiB)",
        title="memory during the computation",
    )
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _series(cases: list[dict]) -> list[tuple[tuple[str, str], str]]:
    keys = sorted({(c["task"], c["mode"]) for c in cases})
    return [(key, "o-" if key[0] == "qr" else "s--") for key in keys]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    if args.case:
        case = json.loads(args.case)
        if case.get("blas_threads"):
            from threadpoolctl import threadpool_limits

            with threadpool_limits(case["blas_threads"]):
                print(json.dumps(run_case(case)))
        else:
            print(json.dumps(run_case(case)))
        return 0

    from threadpoolctl import threadpool_info

    import gpu_moa as gm

    if args.quick:
        qr, ava, stream, chunk = [2_000, 5_000], [1_000, 2_000], [2_000, 5_000], 1_000
    else:
        qr, ava = [10_000, 50_000, 100_000, 200_000, 400_000], [5_000, 10_000, 20_000, 40_000]
        stream, chunk = [50_000, 100_000, 200_000, 400_000], 25_000
    gpu = gm.has_gpu()
    result = {
        "benchmark": "scale",
        "quick": args.quick,
        "p": P,
        "k": K,
        "n_query": N_QUERY,
        "metric": "pearson",
        "cpu_count": os.cpu_count(),
        "blas": [
            {k: i.get(k) for k in ("internal_api", "num_threads", "architecture")}
            for i in threadpool_info()
        ],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "sgemm_gflops_start": round(sgemm_gflops(*SGEMM_SHAPE), 1),
        "cases": [],
    }
    print(f"sgemm: {result['sgemm_gflops_start']} GFLOP/s", flush=True)
    cases = result["cases"]
    cluster = {"mode": "cluster", "workers": 2, "blas_threads": 1, "chunk_rows": chunk}
    for n in qr:
        cases.append(_subprocess({"task": "qr", "mode": "single", "n": n}))
        cases.append(_subprocess({"task": "qr", "n": n, **cluster}))
    for n in ava:
        cases.append(_subprocess({"task": "ava", "mode": "single", "n": n}))
        cases.append(_subprocess({"task": "ava", "n": n, **cluster}))
    with tempfile.TemporaryDirectory() as tmp:
        for n in stream:
            path = Path(tmp) / f"ref_{n}.gctx"
            write_gctx(path, n)
            case = {"task": "qr", "mode": "stream", "n": n, "chunk_rows": chunk, "path": str(path)}
            cases.append(_subprocess(case))
            path.unlink()
    if gpu:
        for n in qr if args.quick else [100_000, 400_000, TARGET_N]:
            cases.append(_subprocess({"task": "qr", "mode": "cupy", "n": n}))
        for n in ava if args.quick else [50_000, 200_000, TARGET_N]:
            cases.append(_subprocess({"task": "ava", "mode": "cupy", "n": n}))
    # the machine may be shared: the rate is measured before and after, the higher one counts
    result["sgemm_gflops_end"] = round(sgemm_gflops(*SGEMM_SHAPE), 1)
    result["sgemm_gflops"] = max(result["sgemm_gflops_start"], result["sgemm_gflops_end"])
    for c in cases:
        c["fraction_of_sgemm"] = round(c["gflops"] / result["sgemm_gflops"], 3)
    result["extrapolated"] = extrapolate(cases)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / ("scale_gpu" if gpu else "scale_cpu")
    if args.quick:
        stem = stem.with_name(stem.name + "_quick")
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, stem.with_suffix(".png"))
    print(f"wrote {stem}.json and {stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
