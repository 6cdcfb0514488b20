"""A sweep's record never claims more than happened (issue 17): kill -9 at each step of
preparing a sweep and of resuming it, points whose runs are deleted or damaged, a
clock stepped back, a sweep process killed with its points running, `cancel` of a
sweep, and more than 1,024 inherited file descriptors.  Real `molexp` processes;
the kills are real SIGKILLs, injected by strace at each write that commits a step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_molexp, write

SCRIPT = '''
import os, signal, time
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        t = ctx.config["t"]
        with open(os.environ["TASK_LOG"], "a") as log:
            log.write(f"{t} {os.getpid()}\\n")
        if os.environ.get(f"DEAF_T{t}"):  # a task that does not stop on SIGTERM
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(float(os.environ.get(f"SLEEP_T{t}", os.environ.get("SLEEP", "0"))))
        crash = os.environ.get("CRASH_T")
        if crash and int(crash) == t:
            raise RuntimeError("crash")
        return {"t": t}
'''


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\n")
    write(workdir / "train.py", SCRIPT)
    return workdir


def env(project: Path, **extra) -> dict:
    return dict(os.environ, TASK_LOG=str(project / "tasks.log"), **extra)


def ran(project: Path) -> list:
    log = project / "tasks.log"
    return sorted(int(line.split()[0]) for line in log.read_text().splitlines()) \
        if log.exists() else []


def sweep_json(project: Path) -> list:
    result = run_molexp("sweeps", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def strace_or_skip() -> str:
    """strace, able to trace here (CI installs it: MOLEXP_FULL_FAULTS=1 makes its
    absence a failure, not a skip)."""
    found = shutil.which("strace")
    if found:
        probe = subprocess.run([found, "-qq", "-o", os.devnull, "true"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return found
    if os.environ.get("MOLEXP_FULL_FAULTS") == "1":
        pytest.fail("strace is missing or cannot trace (apt-get install strace)")
    pytest.skip("strace is missing or cannot trace here")


RENAMES = ("rename", "renameat", "renameat2")  # strace counts each syscall on its own


def killed_at_step(strace: str, project: Path, syscall: str, step: int, *args,
                   **extra_env) -> int:
    """Run `molexp run ...` and SIGKILL it at its ``step``-th ``syscall`` (a rename:
    each rename commits one step, a record or a run directory).  Only molexp's own
    process is traced: points run by its children are not.  Returns its exit code
    (137 when killed, None when this machine has no such syscall)."""
    argv = [strace, "-qq", "-o", os.devnull, "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:signal=KILL:when={step}"] + molexp_command()
    result = subprocess.run(argv + ["run", "train.py", *args], cwd=project,
                            env=env(project, **extra_env), capture_output=True, text=True,
                            timeout=120)
    if result.returncode == 1 and "invalid system call" in result.stderr:
        return None
    return result.returncode


def each_step(strace: str, project: Path, prepare, *args, **extra_env):
    """Yield (syscall, step) after killing `molexp run ARGS` at each step before
    its points start (``prepare()`` first makes the state it starts from)."""
    for syscall in RENAMES:
        for step in range(1, 200):
            for path in ("runs", "tasks.log"):
                shutil.rmtree(project / path, ignore_errors=True)
                if (project / path).is_file():
                    (project / path).unlink()
            prepare()
            before = ran(project)
            code = killed_at_step(strace, project, syscall, step, *args, **extra_env)
            if code is None or code == 0 or ran(project) != before:
                break  # past the last step before the points run (or no such call)
            assert code in (137, -9), (syscall, step, code)  # strace passes on the KILL
            yield syscall, step


def test_kill9_at_each_step_of_preparing_a_sweep_then_resume_tells_the_truth(project):
    strace = strace_or_skip()
    axis = ("--sweep", "t=1,2,3", "-q")
    steps = []
    for syscall, step in each_step(strace, project, lambda: None, *axis):
        steps.append((syscall, step))
        # what the record shows: never a point succeeded that did not run
        for row in sweep_json(project):
            assert row["counts"].get("succeeded", 0) == 0, (syscall, step, row)
            assert "running" not in row["counts"], (syscall, step, row)
        resumed = run_molexp("run", "train.py", *axis, "--resume", cwd=project,
                             env=env(project))
        assert resumed.returncode == 0, (syscall, step, resumed.stdout, resumed.stderr)
        assert "already succeeded" not in resumed.stdout, (syscall, step, resumed.stdout)
        assert ran(project) == [1, 2, 3], (syscall, step, ran(project))
        (row,) = sweep_json(project)
        assert row["counts"] == {"succeeded": 3}, (syscall, step, row)
        listed = json.loads(run_molexp("runs", "--sweep", row["sweep_id"], "--json",
                                       cwd=project).stdout)
        assert sorted(r["status"] for r in listed) == ["succeeded"] * 3
        # one run per point: the runs prepared before the kill were taken over
        made = list((project / "runs" / "train" / "default").glob("2*"))
        assert len(made) == 3, (syscall, step, made)
        again = run_molexp("run", "train.py", *axis, "--resume", cwd=project,
                           env=env(project))
        assert again.returncode == 0 and "already succeeded" in again.stdout, again.stdout
        assert ran(project) == [1, 2, 3]
    # the sweep record (2 steps), 3 per point (snapshot, run.json, its directory),
    # the record completed, the process noted
    assert len(steps) >= 13, steps


def test_kill9_at_each_step_of_resuming_a_sweep(project):
    """The sweep to resume has a failed point and a point whose run was deleted:
    resuming it makes a new run for one and resumes the other; kill it at each step."""
    strace = strace_or_skip()
    axis = ("--sweep", "t=1,2,3", "-q")

    def failed_sweep():
        first = run_molexp("run", "train.py", *axis, cwd=project,
                           env=env(project, CRASH_T="2"))
        assert first.returncode == 1, first.stderr
        (row,) = sweep_json(project)
        record = json.loads((project / "runs" / ".sweeps" / row["sweep_id"] /
                             "sweep.json").read_text())
        shutil.rmtree(project / "runs" / record["points"][0]["run_dir"])

    steps = []
    for syscall, step in each_step(strace, project, failed_sweep, *axis, "--resume"):
        steps.append((syscall, step))
        (row,) = sweep_json(project)
        assert row["counts"].get("succeeded") == 1, (syscall, step, row)
        resumed = run_molexp("run", "train.py", *axis, "--resume", cwd=project,
                             env=env(project))
        assert resumed.returncode == 0, (syscall, step, resumed.stderr)
        (row,) = sweep_json(project)
        assert row["counts"] == {"succeeded": 3}, (syscall, step, row)
        assert ran(project) == [1, 1, 2, 2, 3], ran(project)
        made = list((project / "runs" / "train" / "default").glob("2*"))
        assert len(made) == 3, (syscall, step, made)  # the deleted one, made once
    assert len(steps) >= 5, steps


def test_resume_re_runs_points_whose_runs_were_deleted_or_damaged(project):
    first = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "-q", cwd=project,
                       env=env(project))
    assert first.returncode == 0, first.stderr
    (row,) = sweep_json(project)
    record = json.loads((project / "runs" / ".sweeps" / row["sweep_id"] /
                         "sweep.json").read_text())
    deleted = project / "runs" / record["points"][0]["run_dir"]
    damaged = project / "runs" / record["points"][1]["run_dir"]
    shutil.rmtree(deleted)
    (damaged / "run.json").write_text((damaged / "run.json").read_text()[:200])
    shown = sweep_json(project)[0]["counts"]
    assert shown == {"succeeded": 1, "corrupt": 1, "missing": 1}, shown
    resumed = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "--resume", cwd=project,
                         env=env(project))
    assert resumed.returncode == 0, resumed.stderr
    assert "already succeeded" not in resumed.stdout
    assert "point 1: its run" in resumed.stderr and "corrupt" in resumed.stderr
    assert sorted(ran(project)) == [1, 1, 2, 2, 3]
    assert sweep_json(project)[0]["counts"] == {"succeeded": 3}
    assert (damaged / "run.json").exists()  # the damaged run is left as it was
    new = json.loads((project / "runs" / ".sweeps" / row["sweep_id"] /
                      "sweep.json").read_text())["points"][1]
    assert new["run_id"] != damaged.name and new["replaced"] == [damaged.name]


CLOCK = """
import datetime, sys

ahead = datetime.timedelta(days=float(sys.argv.pop(1)))  # the clock is this far ahead
real = datetime.datetime


class Clock(real):
    @classmethod
    def now(cls, tz=None):
        return real.now(tz) + ahead

    @classmethod
    def utcnow(cls):
        return real.utcnow() + ahead


datetime.datetime = Clock  # before molexp imports it
sys.argv[0] = "molexp"
from molexp_core.cli import main
main()
"""


def test_a_clock_stepped_back_does_not_hide_the_newest_sweep(project):
    clock = write(project / "clock.py", CLOCK)
    axis = ("--sweep", "t=1,2", "-q")
    ahead = subprocess.run([sys.executable, str(clock), "1", "run", "train.py", *axis],
                           cwd=project, env=env(project), capture_output=True, text=True,
                           timeout=120)
    assert ahead.returncode == 0, ahead.stderr
    # the clock is stepped back a day: this sweep's second point fails
    now = run_molexp("run", "train.py", *axis, cwd=project, env=env(project, CRASH_T="2"))
    assert now.returncode == 1
    newest = sweep_json(project)[0]
    assert newest["counts"] == {"succeeded": 1, "failed": 1}, newest
    resumed = run_molexp("run", "train.py", *axis, "--resume", cwd=project, env=env(project))
    assert resumed.returncode == 0, resumed.stderr
    assert "already succeeded" not in resumed.stdout
    assert f"sweep {newest['sweep_id']}: 2 point(s): 2 succeeded" in resumed.stdout
    assert ran(project) == [1, 1, 2, 2, 2]


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_kill9_of_the_sweep_process_takes_its_points_and_they_show_interrupted(project):
    proc = subprocess.Popen(molexp_command() + ["run", "train.py", "--sweep", "t=1,2,3",
                                                "-o", "lr=1", "-j", "2", "-q"],
                            cwd=project, env=env(project, SLEEP="30"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(ran(project)) == 2)
        proc.kill()
        proc.wait(timeout=30)
        pids = [int(line.split()[1]) for line in
                (project / "tasks.log").read_text().splitlines()]
        _wait_for(lambda: not any(_alive(p) for p in pids), timeout=15)
        counts = sweep_json(project)[0]["counts"]
        assert counts == {"interrupted": 3}, counts
    finally:
        if proc.poll() is None:
            proc.kill()
    cancelled = run_molexp("cancel", sweep_json(project)[0]["sweep_id"], cwd=project)
    assert cancelled.returncode == 1 and "nothing to cancel" in cancelled.stderr
    # other overrides: the mismatch is named, never "nothing to resume"
    other = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "-o", "lr=2", "--resume",
                       cwd=project, env=env(project))
    assert other.returncode == 2, other.stderr
    assert "lr: 1 in the sweep, 2 now" in other.stderr and "-o lr=1" in other.stderr
    resumed = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "-o", "lr=1", "--resume",
                         cwd=project, env=env(project))
    assert resumed.returncode == 0, resumed.stderr
    assert sweep_json(project)[0]["counts"] == {"succeeded": 3}
    assert sorted(ran(project)) == [1, 1, 2, 2, 3]


def test_cancel_reports_what_it_saw_end(project):
    """One point ignores SIGTERM and finishes: it is reported as still running (then
    succeeded), never as cancelled; the other is cancelled."""
    proc = subprocess.Popen(molexp_command() + ["run", "train.py", "--sweep", "t=1,2",
                                                "-j", "2", "-q"],
                            cwd=project, env=env(project, MOLEXP_STOP_GRACE="60", SLEEP="60",
                                                 SLEEP_T1="6", DEAF_T1="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(ran(project)) == 2)
        sweep_id = sweep_json(project)[0]["sweep_id"]
        cancel = run_molexp("cancel", sweep_id, "--timeout", "2", cwd=project)
        assert cancel.returncode == 1, (cancel.stdout, cancel.stderr)
        assert "1 still running" in cancel.stderr, cancel.stderr
        assert "2 point(s) cancelled" not in cancel.stdout + cancel.stderr
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    points = json.loads(run_molexp("runs", "--sweep", sweep_id, "--json",
                                   cwd=project).stdout)
    assert sorted(p["status"] for p in points) == ["cancelled", "succeeded"], points


def test_cancel_of_a_sweep_waits_and_counts_the_cancelled_points(project):
    proc = subprocess.Popen(molexp_command() + ["run", "train.py", "--sweep", "t=1,2,3",
                                                "-j", "2", "-q"],
                            cwd=project, env=env(project, SLEEP="60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(ran(project)) == 2)
        sweep_id = sweep_json(project)[0]["sweep_id"]
        cancel = run_molexp("cancel", sweep_id, cwd=project)
        assert cancel.returncode == 0, cancel.stderr
        assert "3 point(s) cancelled" in cancel.stdout, cancel.stdout
        assert proc.wait(timeout=30) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sweep_json(project)[0]["counts"] == {"cancelled": 3}


FDS = """
import os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 1300
if hard != resource.RLIM_INFINITY and hard < want:
    sys.exit(77)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
for _ in range(1100):  # inherited by molexp: its own pipes get numbers above 1,024
    os.set_inheritable(os.open(os.devnull, os.O_RDONLY), True)
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_a_sweep_with_more_than_1024_inherited_descriptors(project):
    wrapper = write(project / "fds.py", FDS)
    result = subprocess.run([sys.executable, str(wrapper), *molexp_command(), "run",
                             "train.py", "--sweep", "t=1,2,3", "-j", "2", "-q"],
                            cwd=project, env=env(project), capture_output=True, text=True,
                            timeout=120)
    if result.returncode == 77:
        pytest.skip("the hard limit of open files is below 1,300 here")
    assert result.returncode == 0, result.stderr
    assert sweep_json(project)[0]["counts"] == {"succeeded": 3}
