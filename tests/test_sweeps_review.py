"""Sweep defects found by a user review: columns, signals, detach, in-process."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

TWO_TASKS = '''
import time
from molexp.workflow import Task


class Prep(Task):
    def execute(self, ctx):
        return {"ok": 1}


class Train(Task):
    def execute(self, ctx):
        if ctx.config["mode"] == "raise":
            raise ValueError("diverged")
        if ctx.config.get("sleep"):
            time.sleep(ctx.config["sleep"])
        return {"loss": ctx.config["lr"] * 2, "epochs": 3}
'''


@pytest.fixture
def two_tasks(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {mode: ok, lr: 1}\n")
    write(workdir / "two.py", TWO_TASKS)
    return workdir


def sweep_id_of(root) -> str:
    (path,) = sorted((root / ".sweeps").glob("sw-*/sweep.json"))
    return json.loads(path.read_text())["sweep_id"]


def test_columns_are_the_union_over_points_when_the_first_point_failed(two_tasks):
    ran = run_molexp("run", "two.py", "--sweep", "mode=raise,ok", "--sweep", "lr=1,2",
                     cwd=two_tasks)
    assert ran.returncode == 1, ran.stderr  # points 0 and 1 fail in Train
    sweep_id = sweep_id_of(two_tasks / "runs")
    table = run_molexp("runs", "--sweep", sweep_id, "--columns", cwd=two_tasks)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["#", "RUN", "ID", "STATUS", "mode", "lr", "Prep.ok",
                                "Train.loss", "Train.epochs"]
    assert lines[1].split()[-3:] == ["1", "-", "-"] and lines[3].split()[-3:] == ["1", "2", "3"]
    rows = list(csv.DictReader(io.StringIO(run_molexp(
        "runs", "--sweep", sweep_id, "--columns", "--csv", cwd=two_tasks).stdout)))
    assert [r["Train.loss"] for r in rows] == ["", "", "2", "4"]
    data = json.loads(run_molexp("runs", "--sweep", sweep_id, "--columns", "--json",
                                 cwd=two_tasks).stdout)
    assert [d.get("Train.loss") for d in data] == [None, None, 2, 4]


@pytest.mark.parametrize("args", [[], ["--csv"], ["--json"]])
def test_a_mistyped_result_column_is_refused_with_a_suggestion(two_tasks, args):
    assert run_molexp("run", "two.py", "--sweep", "lr=1,2", "-q",
                      cwd=two_tasks).returncode == 0
    sweep_id = sweep_id_of(two_tasks / "runs")
    typo = run_molexp("runs", "--sweep", sweep_id, "-c", "Train.los", *args, cwd=two_tasks)
    assert typo.returncode == 2 and typo.stdout == ""
    assert len(typo.stderr.strip().splitlines()) == 1, typo.stderr
    assert "'Train.los'" in typo.stderr and "did you mean 'Train.loss'?" in typo.stderr
    nope = run_molexp("runs", "--sweep", sweep_id, "-c", "Nope.x", *args, cwd=two_tasks)
    assert nope.returncode == 2 and "no point has this result field" in nope.stderr
    good = run_molexp("runs", "--sweep", sweep_id, "-c", "Train.loss", "-c", "lr", *args,
                      cwd=two_tasks)
    assert good.returncode == 0, good.stderr


def _start_sleeping_sweep(project, **popen):
    process = subprocess.Popen(
        molexp_command() + ["run", "two.py", "-o", "sleep=60", "--sweep", "lr=1,2,3",
                            "-j", "2"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    deadline = time.time() + 60
    running = []
    while time.time() < deadline and process.poll() is None:
        running = [d for d in run_dirs(project / "runs")
                   if read_record(d).get("tasks", {}).get("Train", {}).get("status")
                   == "running"]
        if len(running) == 2:
            break
        time.sleep(0.2)
    assert len(running) == 2, process.communicate(timeout=60)
    return process


@pytest.mark.parametrize("signum, code, reason", [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
])
@pytest.mark.parametrize("to_group", [False, True], ids=["parent-only", "group"])
def test_a_signal_to_the_sweep_process_cancels_its_running_points(two_tasks, signum, code,
                                                                   reason, to_group):
    import os

    process = _start_sleeping_sweep(two_tasks, start_new_session=True)
    try:
        if to_group:  # a terminal's Ctrl-C: every process of the group gets it once
            os.killpg(process.pid, signum)
        else:  # `kill -INT PID`, a driver's send_signal: only the sweep's own process
            process.send_signal(signum)
        out, err = process.communicate(timeout=60)  # the points sleep 60 s
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == code, err
    records = [read_record(d) for d in run_dirs(two_tasks / "runs")]
    assert [r["status"] for r in records] == ["cancelled"] * 3, records
    errors = sorted(r["error"] for r in records)
    assert errors == sorted([reason, reason, "the sweep was stopped before this point "
                             "started"]), errors
    assert "--resume" in err


@pytest.mark.parametrize("args, message", [
    (["--detach"], "--detach with --sweep would start every point at once"),
    (["--detach", "-j", "1"], "--detach with --sweep would start every point at once"),
    (["--detach", "--max-parallel", "1"], "--detach with --sweep"),
    (["--in-process"], "--in-process runs one run in molexp's own process"),
    (["--in-process", "-j", "1"], "debug a point alone"),
])
def test_detach_and_in_process_are_refused_for_sweeps(two_tasks, args, message):
    result = run_molexp("run", "two.py", "--sweep", "lr=1,2", *args, cwd=two_tasks)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (two_tasks / "runs").exists() or not run_dirs(two_tasks / "runs")
