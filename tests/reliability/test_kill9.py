"""kill -9 at random moments: no run record lost or corrupt, and resume finishes
every interrupted run without re-running a task that had succeeded.

Trials: 100 with MOLEXP_FULL_FAULTS=1 (as CI runs it), else 30.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

TRIALS = 100 if os.environ.get("MOLEXP_FULL_FAULTS") == "1" else 30

SCRIPT = """
import os, random, time
from molexp.workflow import Task

LOG = os.environ["TASK_LOG"]

def record(name, ctx):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{ctx.run_id} {name}\\n".encode())
    os.close(fd)
    time.sleep(random.uniform(0.02, 0.08))
    return name

class A(Task):
    def execute(self, ctx):
        return record("A", ctx)

class B(Task):
    def execute(self, ctx):
        return record("B", ctx)

class C(Task):
    def execute(self, ctx):
        return record("C", ctx)

class D(Task):
    def execute(self, ctx):
        return record("D", ctx)
"""


def test_kill9_at_random_points_loses_nothing(workdir):
    script = write(workdir / "four.py", SCRIPT)
    log = workdir / "tasks.log"
    env = dict(os.environ, TASK_LOG=str(log))
    rng = random.Random(1234)
    killed = 0
    for _ in range(TRIALS):
        proc = subprocess.Popen(molexp_command() + ["run", str(script), "--quiet"], cwd=workdir,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.5))  # a run lives ~0.15-0.45 s
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= TRIALS // 4, "the delays never hit a live run; the test proves nothing"

    runs = run_dirs(workdir / "runs")
    profile_dir = workdir / "runs" / "four" / "default"
    visible = [p for p in profile_dir.iterdir() if not p.name.startswith(".")]
    # no directory without its run.json: a temp file is never the only copy
    assert sorted(visible) == sorted(runs), set(visible) ^ set(runs)
    for run_dir in runs:
        json.loads((run_dir / "run.json").read_text())  # every record parses
    started = {line.split()[0] for line in log.read_text().splitlines()}
    # every run that executed a task is still there: nothing was lost
    assert started <= {d.name for d in runs}, started - {d.name for d in runs}
    staging = [p for p in profile_dir.iterdir() if p.name.endswith(".staging")]
    # a staging directory (a start killed before its rename) never ran anything
    assert not {p.name.split(".")[1] for p in staging} & started
    listed = {r["run_id"]: r["status"]
              for r in json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)}
    assert set(listed) == {d.name for d in runs}
    for run_dir in runs:  # each shown truthfully: interrupted unless it finished
        finished = read_record(run_dir)["status"] == "succeeded"
        assert listed[run_dir.name] == ("succeeded" if finished else "interrupted"), \
            (run_dir.name, listed[run_dir.name], read_record(run_dir)["status"])
    assert Counter(listed.values())["interrupted"] >= TRIALS // 10, Counter(listed.values())

    before = {d.name: read_record(d) for d in runs}
    for _ in range(TRIALS + 1):
        result = run_molexp("run", script, "--resume", "--quiet", cwd=workdir, env=env)
        assert result.returncode == 0, result.stderr
        if "starting a new run" in result.stderr:
            break
    else:
        raise AssertionError("resume never ran out of unfinished runs")

    executions = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    for run_dir in runs:
        record = read_record(run_dir)
        assert record["status"] == "succeeded", (run_dir.name, record["status"])
        old = before[run_dir.name]["tasks"]
        for name in "ABCD":
            count = executions[(run_dir.name, name)]
            if old.get(name, {}).get("status") == "succeeded":
                # it had succeeded before the kill: resume must not run it again
                assert count == 1, (run_dir.name, name, count)
            else:
                assert 1 <= count <= 2, (run_dir.name, name, count)
    reused = sum(1 for d in runs for n in "ABCD"
                 if before[d.name]["tasks"].get(n, {}).get("status") == "succeeded")
    print(f"trials={TRIALS} killed={killed} runs={len(runs)} "
          f"interrupted={Counter(listed.values())['interrupted']} reused_tasks={reused} "
          f"staging_left={len(staging)}")


def test_staging_left_by_a_killed_start_is_swept_when_old(workdir):
    script = write(workdir / "one.py", SCRIPT.split("class B")[0])
    env = dict(os.environ, TASK_LOG=str(workdir / "tasks.log"))
    assert run_molexp("run", script, cwd=workdir, env=env).returncode == 0
    profile_dir = workdir / "runs" / "one" / "default"
    old = profile_dir / ".20000101-000000-000000-abcd.4242.staging"
    young = profile_dir / ".20000101-000000-000001-abcd.4243.staging"
    for staging in (old, young):
        staging.mkdir()
        (staging / "script.py").write_text("# copy\n")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert run_molexp("runs", cwd=workdir).returncode == 0
    assert not old.exists() and young.exists()  # a start in progress is left alone
