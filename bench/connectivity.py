"""Connectivity benchmark: gpu_moa's WTCS against the same definition vectorised plainly in NumPy.

One run measures, on random L1000-shaped data (978 genes, queries of 50 up + 50 down genes):

- ``plain_numpy``: the definition written directly, one query at a time over all references:
  every reference's genes sorted once (argsort), then for each query and set a boolean hit
  matrix in rank order, the full running sum (two cumulative sums over 978 genes) and its
  extremes. Per-pair cost is constant, so it runs on ``--plain-refs`` references;
- ``gpu_moa``: ``gm.tl.connectivity(..., tau_reference=None)`` on the same pairs (its WTCS matrix
  is compared with the plain one: max |difference|), and on ``--refs`` references;
- ``scaling``: ``gm.tl.connectivity_topk(k=50)`` for 100 queries against 10k..100k references
  (flat memory: the reference is streamed in blocks, no query x reference matrix);
- with CuPy and a GPU, ``gpu_topk``: 1,000 queries x ``--gpu-refs`` references, top-50.

Each case runs in a fresh subprocess that reports its time and peak resident-memory growth over
the data it was given (VmHWM reset after the data are built).

Goals (issue 11): CPU >= 20x the plain NumPy definition, equal within float32 tolerance;
>= 100 queries x 100k references with flat memory; GPU 1,000 x 1.2M x 978, top-50, <= 60 s.

Usage::

    python bench/connectivity.py            # full -> bench/results/connectivity_cpu.json
    python bench/connectivity.py --quick    # smoke run -> bench/results/connectivity_quick_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from _common import reset_peak, spawn_case, status_mb, write_results

RESULTS = Path(__file__).resolve().parent / "results"
N_GENES, SET = 978, 50


# ------------------------------------------------------------------ inside a case subprocess
def _data(n_queries: int, n_refs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n_refs, N_GENES), dtype=np.float32)
    pick = np.argsort(rng.random((n_queries, N_GENES)), axis=1)[:, : 2 * SET]
    return R, pick[:, :SET], pick[:, SET:]


def plain_wtcs(R: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The definition vectorised plainly over references, one query (and set) at a time."""
    n = R.shape[1]
    order = np.argsort(-R, axis=1, kind="stable")
    weights = np.take_along_axis(np.abs(R), order, axis=1)
    out = np.zeros((len(up), len(R)), dtype=np.float32)
    for q in range(len(up)):
        es = []
        for members in (up[q], down[q]):
            mask = np.zeros(n, dtype=bool)
            mask[members] = True
            hit = mask[order]
            w = np.where(hit, weights, 0.0)
            walk = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
            walk -= np.cumsum(~hit, axis=1) / (n - len(members))
            hi, lo = walk.max(axis=1), walk.min(axis=1)
            es.append(np.where(np.abs(hi) >= np.abs(lo), hi, lo))
        out[q] = np.where(es[0] * es[1] < 0, (es[0] - es[1]) / 2, 0.0)
    return out


def _reference(R: np.ndarray, xp=None):
    import pandas as pd

    import gpu_moa as gm

    var = pd.DataFrame(index=[str(j) for j in range(R.shape[1])])
    obs = pd.DataFrame(index=[f"r{i}" for i in range(len(R))])
    return gm.Profiles(X=R if xp is None else xp.asarray(R), obs=obs, var=var)


def _sets(idx: np.ndarray) -> list[list[str]]:
    return [[str(g) for g in row] for row in idx]


def run_case(spec: dict) -> dict:
    """Body of a case subprocess: build data, time the case, report time and memory."""
    import gpu_moa as gm
    from gpu_moa import _backend

    R, up, down = _data(spec["queries"], spec["refs"])
    name = spec["case"]
    xp = _backend.resolve_xp("gpu") if name == "gpu_topk" else None
    ref = _reference(R, xp)
    if name == "plain_numpy":
        fn = lambda: plain_wtcs(R, up, down)  # noqa: E731
    elif name == "gpu_moa":

        def fn():
            W = gm.tl.connectivity(
                up=_sets(up), down=_sets(down), reference=ref, tau_reference=None
            ).wtcs
            return gm.to_numpy(W)
    else:

        def fn():
            hits = gm.tl.connectivity_topk(up=_sets(up), down=_sets(down), reference=ref, k=50)
            _backend.synchronize(_backend.get_namespace(hits.scores))
            return gm.to_numpy(hits.scores)

    if name == "gpu_topk":  # warm-up (kernel compilation) on a slice of the references
        warm = _reference(R[: min(len(R), 20_000)], xp)
        gm.tl.connectivity_topk(up=_sets(up), down=_sets(down), reference=warm, k=50)
    base = reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "peak_extra_mb": status_mb("VmHWM") - base, **spec}
    if spec.get("save"):
        np.save(spec["save"], result)
    return out


# ------------------------------------------------------------------ driver
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (small sizes)")
    parser.add_argument("--queries", type=int, default=None, help="queries of the ratio case")
    parser.add_argument("--plain-refs", type=int, default=None, help="references, plain NumPy")
    parser.add_argument("--gpu-refs", type=int, default=1_200_000, help="references on the GPU")
    parser.add_argument(
        "--gpu-timeout", type=float, default=600, help="seconds for the full-size GPU case"
    )
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/...)")
    parser.add_argument("--run-case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_case:
        print(json.dumps(run_case(json.loads(args.run_case))))
        return 0

    import gpu_moa as gm

    queries = args.queries or (20 if args.quick else 100)
    plain_refs = args.plain_refs or (1_000 if args.quick else 2_000)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    plain_path, ours_path = tmp / "conn_plain.npy", tmp / "conn_ours.npy"
    res: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
        },
        "data": {"genes": N_GENES, "set_size": SET, "random": "standard normal"},
        "cases": {},
    }
    cases = res["cases"]
    base = {"queries": queries, "refs": plain_refs}
    cases["plain_numpy"] = spawn_case(
        __file__, {**base, "case": "plain_numpy", "save": str(plain_path)}
    )
    cases["gpu_moa"] = spawn_case(__file__, {**base, "case": "gpu_moa", "save": str(ours_path)})
    ours, plain = cases["gpu_moa"], cases["plain_numpy"]
    if "seconds" in ours and "seconds" in plain:
        ours["speedup_vs_plain_numpy"] = plain["seconds"] / ours["seconds"]
        ours["max_abs_diff_vs_plain"] = float(
            np.max(np.abs(np.load(ours_path) - np.load(plain_path)))
        )
        ours["pairs_per_second"] = queries * plain_refs / ours["seconds"]
    sizes = (5_000, 10_000) if args.quick else (10_000, 50_000, 100_000)
    res["scaling"] = [
        spawn_case(__file__, {"case": "topk", "queries": 100, "refs": m}) for m in sizes
    ]
    if gm.has_gpu():  # a tenth first: a time to scale from if the full size runs out of time
        res["gpu_topk_tenth"] = spawn_case(
            __file__, {"case": "gpu_topk", "queries": 1000, "refs": args.gpu_refs // 10}
        )
        res["gpu_topk"] = spawn_case(
            __file__,
            {"case": "gpu_topk", "queries": 1000, "refs": args.gpu_refs},
            timeout=args.gpu_timeout,
        )
    res["goals"] = {
        "gpu 1,000 x 1.2M top-50 seconds <= 60": res.get("gpu_topk", {}).get("seconds"),
        "cpu speedup vs plain NumPy >= 20": ours.get("speedup_vs_plain_numpy"),
        "equal within float32 tolerance (max |diff| <= 1e-5)": ours.get("max_abs_diff_vs_plain"),
        "100 x 100k flat memory (peak MB per size)": [
            (r.get("refs"), r.get("peak_extra_mb")) for r in res["scaling"]
        ],
    }
    device = "gpu" if gm.has_gpu() else "cpu"
    name = f"connectivity_quick_{device}.json" if args.quick else f"connectivity_{device}.json"
    write_results(res, Path(args.out) if args.out else RESULTS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
