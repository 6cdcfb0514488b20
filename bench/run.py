"""molexp's benchmark suite: `python bench/run.py [--quick] [--only NAME]`.

Each case times two sides as subprocesses, alternately (a, b, a, b, ...), after a
warm-up, and reports the medians and their ratio against the case's target.  The
`molexp run` cases also time `python -c pass` (the interpreter's floor) in the same
turns, report the milliseconds over it and over the bare script, and the median of
each phase of the run (MOLEXP_TIMINGS=1, in runs of their own).
Results go to bench/results.json. Absolute times depend on the machine; the
ratios are measured against a baseline taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402  (bench/generate.py)

HERE = Path(__file__).resolve().parent
MOLEXP = str(Path(sys.executable).with_name("molexp"))


@dataclass
class Result:
    case: str
    a: str
    b: str
    a_median: float
    b_median: float
    ratio: float
    target: str
    met: Optional[bool]
    runs: int
    a_min: float = 0.0
    b_min: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)


def env_for(**extra) -> dict:
    env = dict(os.environ)
    # users' Pythons cache bytecode; this machine's environment turns that off
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MOLEXP_RUNS_DIR", None)
    env.update(extra)
    return env


def timed(argv: Sequence[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{done.stderr.decode()}")
    return elapsed


def alternate(side_a: Callable[[], float], side_b: Callable[[], float], reps: int,
              warmup: int = 2):
    a, b = alternate_all([side_a, side_b], reps, warmup)
    return a, b


def alternate_all(sides: Sequence[Callable[[], float]], reps: int, warmup: int = 2):
    """Each side's timings, the sides taking turns (a, b, c, a, b, c, ...)."""
    for _ in range(warmup):
        for side in sides:
            side()
    times: List[List[float]] = [[] for _ in sides]
    for _ in range(reps):
        for side, kept in zip(sides, times):
            kept.append(side())
    return times


def compare(case, a_label, b_label, a, b, limit, note="", extra=None) -> Result:
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb
    return Result(case, a_label, b_label, ma, mb, ratio, f"ratio <= {limit}", ratio <= limit,
                  len(a), min(a), min(b), note, extra or {})


# -- cases -----------------------------------------------------------------------------
RUN = [MOLEXP, "run", "train.py", "--profile", "smoke", "-o", "a=1", "-o", "b=2", "--quiet"]
FLOOR = [sys.executable, "-c", "pass"]  # the interpreter's own start-up and exit


def run_against_bare(case: str, label: str, work: Path, env: dict, reps: int, limit: float,
                     note: str = "") -> List[Result]:
    """`molexp run` against the bare script (the budget) and against `python -c pass`
    (the floor no Python program goes under), all three taking turns; the
    milliseconds over each go in the note, the run's phases (MOLEXP_TIMINGS) in extra."""
    run, bare, floor = alternate_all([lambda: timed(RUN, work, env),
                                      lambda: timed([sys.executable, "bare.py"], work, env),
                                      lambda: timed(FLOOR, work, env)], reps)
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    over = (f"{ms(run) - ms(bare):.1f} ms over bare, {ms(run) - ms(floor):.1f} ms over "
            f"python -c pass ({ms(floor):.1f} ms)")
    phases = phase_medians(work, env, reps)
    first = compare(case, label, "python bare.py", run, bare, limit,
                    note="; ".join(filter(None, [note, over])),
                    extra={"phases_ms": phases, "over_bare_ms": ms(run) - ms(bare),
                           "over_floor_ms": ms(run) - ms(floor)})
    second = compare(f"{case}_floor", label, "python -c pass", run, floor, float("inf"),
                     note=f"{ms(run) - ms(floor):.1f} ms above the interpreter's floor")
    second.target, second.met = "(for reference)", None
    return [first, second]


def phase_medians(work: Path, env: dict, reps: int) -> dict:
    """Median milliseconds of each phase of `molexp run` (MOLEXP_TIMINGS=1), keyed
    ``command.<phase>`` and ``child.<phase>``; measured in runs of their own."""
    seen: dict = {}
    for _ in range(reps):
        done = subprocess.run(RUN, cwd=work, env=dict(env, MOLEXP_TIMINGS="1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in done.stderr.splitlines():
            if not line.startswith("molexp: timings ("):
                continue
            role = line[len("molexp: timings ("):].split(",", 1)[0]
            body = line.split("): ", 1)[1].split(" | total ", 1)[0]
            for part in body.split(" | "):
                name, _, value = part.rpartition(" ")
                seen.setdefault(f"{role}.{name}", []).append(float(value))
    return {name: round(statistics.median(values), 2) for name, values in seen.items()}


def case_run_overhead(work: Path, reps: int) -> List[Result]:
    generate.trivial_project(work)
    env = env_for()
    results = run_against_bare("run_overhead", "molexp run (profile + 2 overrides)", work,
                               env, reps, 1.5)
    a, b = alternate(lambda: timed([MOLEXP, "--help"], work, env),
                     lambda: timed([sys.executable, "-c", "import click"], work, env), reps)
    results.append(compare("help", "molexp --help", 'python -c "import click"', a, b, 1.5))
    return results


def case_run_overhead_git(work: Path, reps: int) -> List[Result]:
    """`molexp run` in a git work tree with a dirty tree: git provenance (one `git diff
    HEAD`, the diff stored) and the environment capture are on the measured path."""
    generate.trivial_project(work)
    generate.dirty_git_repo(work, files=200)
    env = env_for()
    timed(RUN, work, env)
    newest = max((work / "runs").glob("train/smoke/*/run.json"))
    record = json.loads(newest.read_text())
    if not (record.get("git") or {}).get("dirty") or not record.get("environment_sha256"):
        raise SystemExit(f"provenance was not recorded: git={record.get('git')}, "
                         f"environment={record.get('environment_sha256')}")
    return run_against_bare("run_overhead_git", "molexp run (dirty git tree, 200 files)",
                            work, env, reps, 1.6, note="git provenance + environment capture on")


def case_plugins_startup(work: Path, reps: int) -> List[Result]:
    generate.trivial_project(work)
    with_site, without_site = work / "site20", work / "site0"
    generate.noop_plugins(with_site, 20)
    without_site.mkdir()
    env_with = env_for(PYTHONPATH=str(with_site))
    env_without = env_for(PYTHONPATH=str(without_site))
    listed = subprocess.run([MOLEXP, "plugins", "--json"], cwd=work, env=env_with,
                            capture_output=True, text=True, check=True)
    names = [row["name"] for row in json.loads(listed.stdout)]
    if sum(name.startswith("noop_") for name in names) != 20:
        raise SystemExit(f"the 20 generated plugins did not load: {names}")
    run = RUN
    a, b = alternate(lambda: timed(run, work, env_with), lambda: timed(run, work, env_without),
                     reps)
    return [compare("plugins_startup", "molexp run + 20 no-op plugins", "molexp run", a, b, 1.1)]


def case_resolution(work: Path, reps: int) -> List[Result]:
    generate.trivial_project(work)
    deepest = generate.big_config(work / "big.yaml", profiles=1000, depth=20, keys=5000)
    env = env_for()
    show = [MOLEXP, "config", "show", "--config", "big.yaml", "--profile", deepest, "--json"]
    run = RUN
    a, b = alternate(lambda: timed(show, work, env), lambda: timed(run, work, env), reps)
    results = [compare("resolution", "config show (1,000 profiles, depth 20, 5,000 keys)",
                       "molexp run (case 1)", a, b, 2.0)]
    # hostile extends graphs (issue 11) against the same command on a one-profile file
    plain = [MOLEXP, "config", "show", "--profile", "smoke", "--json"]
    for name, make, label in (("extends_chain", generate.extends_chain, "chain of 800"),
                              ("extends_diamond", generate.extends_diamond,
                               "28 profiles, each extending all before")):
        last = make(work / f"{name}.yaml")
        show = [MOLEXP, "config", "show", "--config", f"{name}.yaml", "--profile", last,
                "--json"]
        a, b = alternate(lambda: timed(show, work, env), lambda: timed(plain, work, env),
                         reps)
        results.append(compare(name, f"config show ({label})", "config show (1 profile)",
                               a, b, 2.0))
    return results


def case_run_store(work: Path, reps: int, sizes: Sequence[int]) -> List[Result]:
    results, medians = [], {}
    env = env_for()
    for size in sizes:
        root = work / f"store{size}"
        root.mkdir()
        generate.trivial_project(root)
        started = time.perf_counter()
        failed_dir = generate.many_runs(root, size)
        made = time.perf_counter() - started
        listing = [MOLEXP, "runs", "--profile", "smoke", "--status", "failed", "--json"]
        resume = [MOLEXP, "run", "train.py", "-p", "smoke", "--resume", "--quiet",
                  "-o", "a=1", "-o", "b=2"]

        def resume_once() -> float:
            elapsed = timed(resume, root, env)
            generate.mark_failed(failed_dir)  # so the next lookup finds it again
            return elapsed

        # warm the page cache and any index the same way for both
        a, b = alternate(lambda: timed(listing, root, env), resume_once, reps)
        medians[size] = (statistics.median(a), statistics.median(b))
        for label, values in (("runs --profile smoke --status failed", a),
                              ("--resume lookup (+ the run)", b)):
            median = statistics.median(values)
            results.append(Result(f"run_store_{size}", label, "-", median, 0.0, 0.0,
                                  "median <= 0.3 s" if size == sizes[0] else "see scaling",
                                  median <= 0.3 if size == sizes[0] else None, len(values),
                                  min(values), 0.0, f"{size:,} runs generated in {made:.0f} s"))
    if len(sizes) == 2:
        small, large = sizes
        for index, label in enumerate(("runs listing", "resume lookup")):
            ratio = medians[large][index] / medians[small][index]
            results.append(Result(f"run_store_scaling", f"{label} at {large:,}",
                                  f"at {small:,}", medians[large][index], medians[small][index],
                                  ratio, "ratio <= 3.0", ratio <= 3.0, reps))
    return results


def case_slurm(work: Path, reps: int, count: int) -> List[Result]:
    probe = subprocess.run(["sinfo", "-h"], capture_output=True) if shutil.which("sinfo") else None
    if probe is None or probe.returncode != 0:
        return [Result("slurm", "skipped: no Slurm cluster answers", "-", 0, 0, 0, "-", None, 0)]
    generate.trivial_project(work)
    env = env_for(MOLEXP_POLL_MAX="1")
    submit = [MOLEXP, "run", "train.py", "-p", "smoke", "--scheduler", "slurm", "--quiet"]
    started = time.perf_counter()
    for _ in range(count):
        timed(submit, work, env)
    rate = count / (time.perf_counter() - started)
    calls = generate.count_slurm_calls(work, env, MOLEXP)
    generate.wait_for_runs(work, env, MOLEXP, timeout=600)
    return [Result("slurm", f"submit {count} runs", "-", rate, 0.0, 0.0,
                   "squeue/sacct/scontrol calls per refresh <= 2", calls <= 2, count,
                   note=f"{rate:.1f} submissions/s; {calls} squeue/sacct/scontrol call(s) per refresh",
                   extra={"submissions_per_second": rate, "calls_per_refresh": calls})]


# -- driver ----------------------------------------------------------------------------
def main() -> int:
    import hostile  # bench/hostile.py (imports this module too)
    import sweeps  # bench/sweeps.py (imports this module: after its definitions)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no 100k store")
    parser.add_argument("--only", help="run one case (run_overhead, run_overhead_git, "
                        "plugins_startup, "
                        "resolution, run_store, slurm, sweep_slurm, sweep_local, "
                        "sweep_listing, hostile_documents)")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    sizes = (10_000,) if args.quick else (10_000, 100_000)
    cases = {
        "run_overhead": lambda w: case_run_overhead(w, reps),
        "run_overhead_git": lambda w: case_run_overhead_git(w, reps),
        "plugins_startup": lambda w: case_plugins_startup(w, reps),
        "resolution": lambda w: case_resolution(w, reps),
        "run_store": lambda w: case_run_store(w, reps, sizes),
        "slurm": lambda w: case_slurm(w, reps, 20 if args.quick else 100),
        # each repetition leaves 1,000 job records on the cluster for MinJobAge: keep it to 1
        "sweep_slurm": lambda w: sweeps.case_sweep_slurm(w, 1),
        "sweep_local": lambda w: sweeps.case_sweep_local(w, 3 if args.quick else 5),
        "sweep_listing": lambda w: sweeps.case_sweep_listing(w, reps),
        "hostile_documents": lambda w: hostile.case_hostile_documents(w, reps),
    }
    results: List[Result] = []
    for name, case in cases.items():
        if args.only and name != args.only:
            continue
        work = Path(tempfile.mkdtemp(prefix=f"molexp-bench-{name}-"))
        try:
            results.extend(case(work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    payload = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform()},
               "quick": args.quick, "results": [asdict(r) for r in results]}
    (HERE / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def print_table(results: List[Result]) -> None:
    print(f"{'case':<20} {'side a':<48} {'median a':>9} {'median b':>9} {'ratio':>6}  "
          f"{'target':<22} met")
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.case:<20} {r.a[:48]:<48} {r.a_median:>9.4f} {r.b_median:>9.4f} "
              f"{r.ratio:>6.2f}  {r.target:<22} {met}  {r.note}")
    for r in results:  # where a run's time goes (MOLEXP_TIMINGS=1, medians in ms)
        phases = r.extra.get("phases_ms")
        if phases:
            for role in ("command", "child"):
                shown = [f"{name.split('.', 1)[1]} {ms:.1f}" for name, ms in phases.items()
                         if name.startswith(role + ".")]
                print(f"  {r.case} phases ({role}): {' | '.join(shown)}")


if __name__ == "__main__":
    sys.exit(main())
