"""Stale code in sweeps (issue 18): `--skip-succeeded` reuses only results that came
from the code the sweep runs now, and sweep membership is checked against each run's
own record (an edited sweep record never makes molexp run another script's run).
Real files, the installed `molexp`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import read_record, run_molexp, task_result, write

VERSION_A = '''
import os
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        with open(os.environ["TASK_LOG"], "a") as log:
            log.write(f"{ctx.config['t']}\\n")
        if os.environ.get("CRASH_T") == str(ctx.config["t"]):
            raise RuntimeError("crash")
        return {"t": ctx.config["t"], "version": "A"}
'''
VERSION_B = VERSION_A.replace('"version": "A"', '"version": "B"')


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\n")
    write(workdir / "train.py", VERSION_A)
    return workdir


def env(project: Path, **extra) -> dict:
    return dict(TASK_LOG=str(project / "tasks.log"), **extra)


def ran(project: Path) -> list:
    log = project / "tasks.log"
    return log.read_text().split() if log.exists() else []


def sweep_record(project: Path, newest: bool = True) -> dict:
    paths = sorted((project / "runs" / ".sweeps").glob("sw-*/sweep.json"))
    return json.loads(paths[-1 if newest else 0].read_text())


def test_skip_succeeded_never_reuses_results_of_other_code(project):
    # a point fails under A; the fix (B) is resumed: its result comes from B
    failed = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project,
                        env=env(project, CRASH_T="1"))
    assert failed.returncode == 1
    write(project / "train.py", VERSION_B)
    fixed = run_molexp("run", "train.py", "--sweep", "t=1,2", "--resume", "-q",
                       cwd=project, env=env(project))
    assert fixed.returncode == 0, fixed.stderr
    first = sweep_record(project)
    run_1 = project / "runs" / first["points"][0]["run_dir"]
    run_2 = project / "runs" / first["points"][1]["run_dir"]
    assert task_result(run_1, "Train")["version"] == "B"
    assert task_result(run_2, "Train")["version"] == "A"
    # back to A: point 1's result came from B, point 2's from A
    write(project / "train.py", VERSION_A)
    again = run_molexp("run", "train.py", "--sweep", "t=1,2", "--skip-succeeded", "-q",
                       cwd=project, env=env(project))
    assert again.returncode == 0, again.stderr
    second = sweep_record(project)
    assert second["sweep_id"] != first["sweep_id"]
    assert not second["points"][0].get("reused"), second["points"][0]
    assert second["points"][1].get("reused") is True
    assert second["points"][1]["run_id"] == run_2.name
    new_1 = project / "runs" / second["points"][0]["run_dir"]
    assert task_result(new_1, "Train")["version"] == "A"
    assert ran(project) == ["1", "2", "1", "1"]


def test_skip_succeeded_skips_a_damaged_run(project):
    done = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project,
                      env=env(project))
    assert done.returncode == 0
    first = sweep_record(project)
    edited = project / "runs" / first["points"][0]["run_dir"] / "run.json"
    record = json.loads(edited.read_text())
    record["config"]["t"] = 5  # its config no longer matches its config_hash
    edited.write_text(json.dumps(record))
    again = run_molexp("run", "train.py", "--sweep", "t=1,2", "--skip-succeeded", "-q",
                       cwd=project, env=env(project))
    assert again.returncode == 0, again.stderr
    second = sweep_record(project)
    assert [bool(p.get("reused")) for p in second["points"]] == [False, True]


OTHER = '''
from molexp.workflow import Task


class Other(Task):
    def execute(self, ctx):
        raise RuntimeError("other.py fails")
'''


def test_an_edited_sweep_record_never_runs_another_scripts_run(project):
    write(project / "other.py", OTHER)
    other = run_molexp("run", "other.py", "-o", "t=1", cwd=project)
    assert other.returncode == 1  # an unfinished run of other.py, with t=1
    (other_dir,) = (project / "runs" / "other").glob("*/2*")
    before = read_record(other_dir)
    failed = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project,
                        env=env(project, CRASH_T="1"))
    assert failed.returncode == 1
    path = next((project / "runs" / ".sweeps").glob("sw-*/sweep.json"))
    record = json.loads(path.read_text())
    own = record["points"][0]["run_dir"]
    record["points"][0]["run_dir"] = other_dir.relative_to(project / "runs").as_posix()
    record["points"][0]["run_id"] = other_dir.name
    path.write_text(json.dumps(record))
    shown = json.loads(run_molexp("runs", "--sweep", record["sweep_id"], "--json",
                                  cwd=project).stdout)
    assert other_dir.name not in [row["run_id"] for row in shown if
                                  row["status"] != "missing"]
    from view_project import page_data  # molexp view decides a sweep's points alike

    page = run_molexp("view", record["sweep_id"], "-o", "-", cwd=project)
    assert page.returncode == 0, page.stderr
    ids = [row["id"] for row in page_data(page.stdout)["runs"]]
    assert other_dir.name not in ids and Path(own).name in ids, ids
    resumed = run_molexp("run", "train.py", "--sweep", "t=1,2", "--resume", cwd=project,
                         env=env(project))
    assert resumed.returncode == 0, resumed.stderr
    assert f"its run {other_dir.name} is of script" in resumed.stderr
    assert read_record(other_dir) == before  # untouched: not resumed, not rewritten
    after = json.loads(path.read_text())["points"][0]
    assert after["run_dir"] != other_dir.relative_to(project / "runs").as_posix()
    assert after["run_dir"] == own  # its own run, found by its own record, resumed
    assert read_record(project / "runs" / own)["status"] == "succeeded"
    assert ran(project) == ["1", "2", "1"]
