"""`molexp execute` from the recorded working directory, its failure paths, and
which config file a run uses when --config is not given."""

from __future__ import annotations

import calendar
import json
import os

from conftest import read_record, run_dirs, run_molexp, task_result, write

CWD_SCRIPT = """
import os
from molexp.workflow import Task

class Where(Task):
    def execute(self, ctx):
        return {"cwd": os.getcwd(), "config": ctx.config.to_dict()}
"""


def _fresh_copy(run_dir, name="20000101-000000-000000-abcd", **changes):
    """A second, never-started run directory made from a finished run's record."""
    record = read_record(run_dir)
    fresh = run_dir.parent / name
    fresh.mkdir()
    (fresh / "script.py").write_bytes((run_dir / "script.py").read_bytes())  # its code
    record.update(run_id=fresh.name, status="created", attempts=0, tasks={}, **changes)
    (fresh / "run.json").write_text(json.dumps(record))
    return fresh


def test_execute_runs_from_the_recorded_cwd(workdir):
    project = workdir / "project"
    script = write(project / "where.py", CWD_SCRIPT)
    assert run_molexp("run", script, cwd=project).returncode == 0
    (run_dir,) = run_dirs(project / "runs")
    fresh = _fresh_copy(run_dir)
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    result = run_molexp("execute", fresh, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert task_result(fresh, "Where")["cwd"] == str(project)


def test_execute_with_a_vanished_cwd_fails_the_run_cleanly(workdir):
    script = write(workdir / "where.py", CWD_SCRIPT)
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    fresh = _fresh_copy(run_dir, cwd=str(workdir / "gone"))
    result = run_molexp("execute", fresh, cwd=workdir)
    assert result.returncode == 1
    assert "cannot enter the run's working directory" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    record = read_record(fresh)
    assert record["status"] == "failed" and "gone" in record["error"]


def test_execute_on_a_run_json_that_is_no_run_record(workdir):
    fake = workdir / "runs" / "x" / "default" / "fake"
    fake.mkdir(parents=True)
    (fake / "run.json").write_text('{"hello": 1}')
    result = run_molexp("execute", fake, cwd=workdir)
    assert result.returncode == 1
    assert "is not a molexp run record (no run_id, script, status)" in result.stderr
    assert "internal error" not in result.stderr
    assert json.loads((fake / "run.json").read_text()) == {"hello": 1}  # untouched


def test_cwd_config_wins_over_the_scripts_directory(workdir):
    project = workdir / "project"
    script = write(project / "where.py", CWD_SCRIPT)
    write(project / "molcfg.yaml", "version: 1\ndefaults: {src: script_dir}\n")
    here = workdir / "here"
    write(here / "molcfg.yaml", "version: 1\ndefaults: {src: cwd}\n")
    result = run_molexp("run", script, cwd=here)
    assert result.returncode == 0, result.stderr
    assert f"config: {here / 'molcfg.yaml'}" in result.stderr  # says which file
    (run_dir,) = run_dirs(here / "runs")
    assert task_result(run_dir, "Where")["config"] == {"src": "cwd"}
    os.remove(here / "molcfg.yaml")
    result = run_molexp("run", script, cwd=here)
    assert f"config: {project / 'molcfg.yaml'}" in result.stderr
    newest = run_dirs(here / "runs")[-1]
    assert task_result(newest, "Where")["config"] == {"src": "script_dir"}


def test_an_interrupted_runs_clock_stops(workdir):
    script = write(workdir / "where.py", CWD_SCRIPT)
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    # a run whose process died an hour after it started, long ago
    record.update(status="running", finished_at=None, pid=2 ** 22 + 12345,
                  started_at="2020-01-01T00:00:00Z")
    (run_dir / "run.json").write_text(json.dumps(record))
    stamp = calendar.timegm((2020, 1, 1, 1, 0, 0))
    os.utime(run_dir / "run.json", (stamp, stamp))
    (row,) = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert row["status"] == "interrupted"
    assert abs(row["duration"] - 3600) < 5
