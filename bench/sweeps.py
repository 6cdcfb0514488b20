"""bench/run.py's sweep cases: a 1,000-point Slurm sweep, 200 local points, a listing."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import generate
from run import MOLEXP, Result, alternate, compare, env_for, timed


def _wrap_sbatch(work: Path) -> Path:
    """An `sbatch` that logs each call, then runs the real one (to count calls)."""
    tools = work / "bin"
    tools.mkdir(exist_ok=True)
    real = shutil.which("sbatch")
    (tools / "sbatch").write_text(f'#!/bin/bash\necho "$*" >> "{tools}/calls.log"\n'
                                  f'exec {real} "$@"\n')
    (tools / "sbatch").chmod(0o755)
    return tools


def _cancel_own_arrays(work: Path) -> None:
    """scancel the arrays this case submitted (by their ids, never by name)."""
    jobs = []
    for path in (work / "runs" / ".sweeps").glob("sw-*/sweep.json"):
        jobs += [str(a["job_id"]) for a in json.loads(path.read_text()).get("arrays", [])]
    for path in (work / "runs").glob("train/smoke/*/run.json"):
        job = (json.loads(path.read_text()).get("scheduler") or {}).get("job_id")
        if job and "_" not in str(job):
            jobs.append(str(job))
    if jobs:
        subprocess.run(["scancel", *sorted(set(jobs))], capture_output=True)


def case_sweep_slurm(work: Path, reps: int) -> List[Result]:
    """Mind the cluster: every repetition leaves a 1,000-task array's records in the
    controller for MinJobAge (1 h on the test cluster), and they count against
    MaxJobCount (10,000) even when cancelled; a few runs fill a shared cluster."""
    probe = subprocess.run(["sinfo", "-h"], capture_output=True) if shutil.which("sinfo") \
        else None
    if probe is None or probe.returncode != 0:
        return [Result("sweep_slurm", "skipped: no Slurm cluster answers", "-", 0, 0, 0, "-",
                       None, 0)]
    generate.trivial_project(work)
    tools = _wrap_sbatch(work)
    env = env_for(PATH=f"{tools}:{env_for()['PATH']}")
    values = ",".join(str(i) for i in range(1000))
    sweep = [MOLEXP, "run", "train.py", "-p", "smoke", "--sweep", f"a={values}",
             "--scheduler", "slurm", "--quiet"]
    single = [MOLEXP, "run", "train.py", "-p", "smoke", "--scheduler", "slurm", "--quiet"]
    try:  # the single submission is cheap: time it more often, around each sweep
        timed(single, work, env)  # warm-up
        a, b = [], []
        for _ in range(reps):
            b += [timed(single, work, env) for _ in range(3)]
            a.append(timed(sweep, work, env))
            b += [timed(single, work, env) for _ in range(2)]
    finally:
        _cancel_own_arrays(work)  # 1,000 trivial jobs per repetition: not worth running
    calls = (tools / "calls.log").read_text().splitlines()
    per_sweep = sum(1 for c in calls if "-array-" in c) / reps  # array batch scripts
    result = compare("sweep_slurm", "run --sweep (1,000 points) --scheduler slurm",
                     "run --scheduler slurm (1 run)", a, b, 20.0,
                     note=f"{per_sweep:g} sbatch call(s) per sweep",
                     extra={"sbatch_calls_per_sweep": per_sweep})
    result.met = result.met and per_sweep == 1
    return [result]


def case_sweep_local(work: Path, reps: int) -> List[Result]:
    generate.trivial_project(work)
    env = env_for()
    values = ",".join(str(i) for i in range(200))
    sweep = [MOLEXP, "run", "train.py", "-p", "smoke", "--sweep", f"a={values}", "-j", "2",
             "--quiet"]
    xargs = ["bash", "-c", f"seq 0 199 | xargs -P 2 -n 1 {sys.executable} bare.py"]
    a, b = alternate(lambda: timed(sweep, work, env), lambda: timed(xargs, work, env), reps,
                     warmup=1)
    return [compare("sweep_local", "run --sweep (200 points) -j 2",
                    "200 x python bare.py, xargs -P 2", a, b, 0.5)]


def case_sweep_listing(work: Path, reps: int) -> List[Result]:
    generate.trivial_project(work)
    env = env_for()
    values = ",".join(str(i) for i in range(1000))
    started = time.perf_counter()
    timed([MOLEXP, "run", "train.py", "-p", "smoke", "--sweep", f"a={values}", "-j", "2",
           "--quiet"], work, env)
    made = time.perf_counter() - started
    (record,) = (work / "runs" / ".sweeps").glob("sw-*/sweep.json")
    sweep_id = json.loads(record.read_text())["sweep_id"]
    listing = [MOLEXP, "runs", "--sweep", sweep_id]
    for _ in range(2):  # warm: the page cache and the run index
        timed(listing, work, env)
    times = [timed(listing, work, env) for _ in range(reps)]
    median = statistics.median(times)
    return [Result("sweep_listing", "runs --sweep ID (1,000 points), warm", "-", median, 0.0,
                   0.0, "median <= 0.3 s", median <= 0.3, reps, min(times), 0.0,
                   f"the 1,000-point sweep ran in {made:.0f} s")]
