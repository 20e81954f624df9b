"""One-shot GPU check: the wheels the GPU image lacks, ``pytest -m gpu``, the GPU benchmarks, a summary.

Run on a GPU machine without network access, after ``make gpu-wheels`` filled ``.whl/`` on a
machine with one (``make gpu-check`` does both steps' second half)::

    python bench/gpu_check.py            # install .whl/ into .gpu-site/, test, benchmark
    python bench/gpu_check.py --dry-run  # the plan only

Every step runs in a subprocess with its own time limit (about 12 minutes in all; ``--budget``
cuts the limits to fit fewer seconds, ``--only`` picks steps, ``--logs`` keeps each step's whole
output); a step that fails or runs out of time is recorded as such and the check goes on. The
summary, ``bench/results/gpu_check_summary.json``, holds the device name, the CuPy and CUDA
versions, the test counts, each benchmark's outcome and each measured ratio next to its goal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WHEELS = ROOT / ".whl"
SITE = ROOT / ".gpu-site"
#: seconds one GPU test may take before pytest-timeout stops it (the first CuPy kernels compile)
PER_TEST_LIMIT = 60

#: (name, command after ``python``, time limit in seconds), most telling first: the tests, the
#: main job end to end, then the benchmarks, the longest (connectivity at 1.2M references) last.
#: Sized for one H100/H200 (an H200 took 88-115 s for the tests, 57 s for one cold main job and
#: 20 s warm, 56-72 s for similarity and embed, 29-33 s for logistic, 13 s for evaluation, 112 s
#: for connectivity); about 12.5 minutes in all, so a lease of 10-minute calls runs it with
#: ``--budget``
STEPS: tuple[tuple[str, list[str], int], ...] = (
    (
        "tests",
        ["-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "--tb=short", "-rfE"],
        150,
    ),
    ("main_job", ["bench/run.py", "--device", "gpu", "--log", "--repeat", "2"], 150),
    (
        "similarity",
        ["bench/similarity.py", "--no-scaling", "--sk-queries", "200", "--repeat", "2"],
        110,
    ),
    ("logistic", ["bench/logistic.py", "--quick"], 70),
    ("embed", ["bench/embed.py", "--repeats", "2", "--umap-rows", "2000"], 120),
    ("evaluation", ["bench/evaluation.py", "--quick", "--no-copairs"], 25),
    ("connectivity", ["bench/connectivity.py", "--quick", "--gpu-timeout", "90"], 130),
)

#: (result file, dotted key, goal, comparison): the numbers the issues ask for
GOALS: tuple[tuple[str, str, float, str], ...] = (
    ("similarity_gpu.json", "gpu.gpu_float32.fraction_of_measured_sgemm", 0.6, ">="),
    ("similarity_gpu.json", "gpu.gpu_tf32.agreement_with_float32", 0.99, ">="),
    ("logistic_quick_gpu.json", "oof.gpu_moa_seconds", 10.0, "<="),
    ("embed_gpu.json", "pca_gpu.speedup_vs_cpu", 10.0, ">="),
    ("connectivity_quick_gpu.json", "gpu_topk.seconds", 60.0, "<="),
)


def _env(step: str = "") -> dict[str, str]:
    """The steps' environment: the repository and .gpu-site importable; the benchmarks default
    to the GPU, the tests to the user's default (they choose each array's device themselves)."""
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(SITE)] if SITE.is_dir() else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if step != "tests":
        env.setdefault("GPU_MOA_DEVICE", "gpu")
    return env


def install_wheels(dry_run: bool) -> dict:
    """``pip install --no-index --no-deps --target .gpu-site .whl/*.whl`` (no network needed)."""
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        return {"status": "skipped", "reason": f"no wheels in {WHEELS} (run make gpu-wheels)"}
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--no-compile",
    ]
    cmd += ["--no-cache-dir", "--target", str(SITE), "--upgrade", *map(str, wheels)]
    if dry_run:
        return {"status": "planned", "wheels": len(wheels)}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    status = "ok" if done.returncode == 0 else "failed"
    return {"status": status, "wheels": len(wheels), "tail": done.stderr[-2000:]}


def device_facts() -> dict:
    """GPU name, CuPy and CUDA versions as the check's Python sees them."""
    code = (
        "import json, cupy; d = cupy.cuda.runtime.getDeviceProperties(0);"
        "print(json.dumps({'device': d['name'].decode(), 'cupy': cupy.__version__,"
        "'cuda_runtime': cupy.cuda.runtime.runtimeGetVersion(),"
        "'cuda_driver': cupy.cuda.runtime.driverGetVersion()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    if done.returncode != 0:
        return {"device": None, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout)


def _pytest_timeout_args(args: list[str]) -> list[str]:
    """A per-test limit when pytest-timeout is installed, so one hung test cannot eat the step."""
    if args[:2] != ["-m", "pytest"] or importlib.util.find_spec("pytest_timeout") is None:
        return []
    return ["--timeout", str(PER_TEST_LIMIT)]


def run_step(name: str, args: list[str], limit: int, dry_run: bool, logs: Path | None) -> dict:
    """Run one step with its time limit; keep its exit status, duration and output tail.

    With ``logs`` the step's whole output also goes to ``logs/<name>.log``.
    """
    args = args + _pytest_timeout_args(args)
    if dry_run:
        return {"status": "planned", "command": " ".join(["python", *args]), "limit_s": limit}
    start = time.perf_counter()
    # its own session, so that a timeout stops the step's children too (bench/run.py's gpu-moa
    # run would otherwise go on holding the GPU and the cores through the next steps)
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=_env(name), cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=limit)
        status = "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = "timed out"
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{name}.log").write_text(out)
    result = {
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "tail": out[-1500:],
    }
    if name == "tests":
        result.update(_test_counts(out))
    return result


def _test_counts(output: str) -> dict:
    counts = {}
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|error)", output):
        counts[word] = int(number)
    return {"tests": counts}


def _lookup(data: dict, key: str) -> object:
    if key in data:
        return data[key]
    head, _, rest = key.partition(".")
    if head in data and isinstance(data[head], dict) and rest:
        return _lookup(data[head], rest)
    return None


def goals() -> list[dict]:
    """Each goal with the measured value (None when its benchmark did not produce it)."""
    out = []
    for file, key, goal, op in GOALS:
        path = RESULTS / file
        value = _lookup(json.loads(path.read_text()), key) if path.is_file() else None
        met = None
        if isinstance(value, int | float):
            met = value >= goal if op == ">=" else value <= goal
        out.append({"file": file, "key": key, "goal": f"{op} {goal}", "value": value, "met": met})
    return out


def main(argv: list[str] | None = None) -> int:
    """Install the carried wheels, run the GPU tests and benchmarks, write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps")
    parser.add_argument("--out", default=str(RESULTS / "gpu_check_summary.json"))
    parser.add_argument("--logs", default=None, help="write each step's whole output here")
    parser.add_argument(
        "--budget", type=float, default=None,
        help="seconds for all steps together: each step's limit is cut to what is left",
    )  # fmt: skip
    args = parser.parse_args(argv)
    deadline = None if args.budget is None else time.perf_counter() + args.budget
    logs = None if args.logs is None else Path(args.logs)
    summary: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    summary["install"] = install_wheels(args.dry_run)
    summary.update({} if args.dry_run else device_facts())
    summary["steps"] = {}
    for name, step_args, limit in STEPS:
        if args.only is not None and name not in args.only:
            continue
        if deadline is not None:
            limit = int(min(limit, deadline - time.perf_counter()))
            if limit < 5:
                summary["steps"][name] = {"status": "skipped", "reason": "--budget spent"}
                continue
        summary["steps"][name] = run_step(name, step_args, limit, args.dry_run, logs)
        print(f"gpu-check {name}: {summary['steps'][name]['status']}", flush=True)
    if not args.dry_run:
        summary["goals"] = goals()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2))
    return 0 if all(s["status"] in ("ok", "planned") for s in summary["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
