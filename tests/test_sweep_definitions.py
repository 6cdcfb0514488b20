"""Sweep definitions and their guard rails (issues 17 and 22): typo'd sweep keys warn
like `-o` (and `--strict` refuses them), repeated values run once, a key crossing a
scalar names its file and line, a named sweep's profile can be left out, the Python
API and the CLI agree on a sweep's points, and the smaller edges of `runs`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import read_record, run_molexp, task_result, write

CONFIG = """
version: 1
defaults:
  t: 0
  batch_size: 32
  optimizer:
    lr: 0.001
    name: adam
profiles:
  smoke:
    t: 100
sweeps:
  typo:
    grid:
      optimzer.lr: [0.1, 0.2]
  repeats:
    grid:
      t: [1, 2, 2, 1.0]
    points:
      - {t: 2}
  cross:
    grid:
      batch_size.inner: [1, 2]
  smoky:
    profile: smoke
    grid:
      batch_size: [8, 16]
"""

SCRIPT = '''
from molexp.workflow import Task

SEEN = []  # module state: each point must start from a fresh process


class Train(Task):
    def execute(self, ctx):
        SEEN.append(ctx.run_id)
        return {"config": ctx.config.to_dict(), "seen": len(SEEN)}
'''


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", CONFIG)
    write(workdir / "train.py", SCRIPT)
    return workdir


def points(project: Path) -> list:
    paths = sorted((project / "runs" / ".sweeps").glob("sw-*/sweep.json"))
    record = json.loads(paths[-1].read_text())
    return [project / "runs" / p["run_dir"] for p in record["points"]]


def test_a_typod_inline_sweep_key_warns_like_an_override(project):
    result = run_molexp("run", "train.py", "--sweep", "optimzer.lr=0.1,0.2", "-q",
                        cwd=project)
    assert result.returncode == 0, result.stderr
    line = ("warning: --sweep 'optimzer.lr=0.1,0.2' adds 'optimzer.lr', a key the config "
            "does not have (did you mean optimizer.lr?)")
    assert line in result.stderr
    for run_dir in points(project):  # each point records its config warnings
        assert any("optimzer.lr" in w for w in read_record(run_dir)["warnings"])


def test_a_typod_key_in_a_named_sweep_warns_with_its_file_and_line(project):
    result = run_molexp("run", "train.py", "--sweep", "typo", "-q", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (f"warning: {project / 'molcfg.yaml'}:14: sweep 'typo': key adds 'optimzer.lr', "
            "a key the config does not have (did you mean optimizer.lr?)") in result.stderr
    assert all(read_record(d)["warnings"] for d in points(project))


@pytest.mark.parametrize("sweep", ["typo", "optimzer.lr=0.1,0.2", "optimizer=1,2"])
def test_strict_refuses_a_typod_or_mapping_replacing_sweep_key(project, sweep):
    result = run_molexp("run", "train.py", "--sweep", sweep, "--strict", cwd=project)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: --strict: ")
    assert not (project / "runs").exists()
    with_env = run_molexp("run", "train.py", "--sweep", sweep, cwd=project,
                          env={"MOLEXP_STRICT": "1"})
    assert with_env.returncode == 2


def test_a_sweep_key_replacing_a_mapping_warns(project):
    result = run_molexp("run", "train.py", "--sweep", "optimizer=1,2", "--dry-run",
                        cwd=project)
    assert result.returncode == 0
    assert ("--sweep 'optimizer=1,2' replaces the mapping 'optimizer'" in result.stderr)


def test_repeated_values_in_an_axis_run_once(project):
    result = run_molexp("run", "train.py", "--sweep", "t=2,2,3", "-q", cwd=project)
    assert result.returncode == 0, result.stderr
    assert ("warning: --sweep 't=2,2,3' gives 2 more than once; each point runs once (the "
            "repeats are dropped)") in result.stderr
    ran = [task_result(d, "Train")["config"]["t"] for d in points(project)]
    assert ran == [2, 3]


def test_repeated_values_and_points_of_a_named_sweep_run_once(project):
    result = run_molexp("run", "train.py", "--sweep", "repeats", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (f"{project / 'molcfg.yaml'}:17: sweep 'repeats': grid key 't' lists 2, 1.0 "
            "more than once") not in result.stderr  # 1 and 1.0 are two configs
    assert f"{project / 'molcfg.yaml'}:17: sweep 'repeats': grid key 't' lists 2 more " \
        "than once" in result.stderr
    assert 'sweep point {"t": 2} has the same config as point {"t": 2}' in result.stderr
    rows = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert [json.loads(line.split(None, 2)[2]) for line in rows] == [
        {"t": 1}, {"t": 2}, {"t": 1.0}]


def test_a_sweep_key_crossing_a_scalar_names_its_file_and_line(project):
    listed = run_molexp("config", "sweeps", cwd=project)
    assert "cross" in listed.stdout
    result = run_molexp("run", "train.py", "--sweep", "cross", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"Error: {project / 'molcfg.yaml'}:22: sweep 'cross': sweep key "
        "'batch_size.inner': 'batch_size' is 32 (int), not a mapping"), result.stderr
    assert not (project / "runs").exists()


def test_a_named_sweep_with_a_profile_runs_on_the_defaults_with_no_profile(project):
    result = run_molexp("run", "train.py", "--sweep", "smoky", "--no-profile", "-q",
                        cwd=project)
    assert result.returncode == 0, result.stderr
    configs = [task_result(d, "Train")["config"] for d in points(project)]
    assert [c["t"] for c in configs] == [0, 0] and [c["batch_size"] for c in configs] == [8, 16]
    assert all(read_record(d)["profile"] is None for d in points(project))
    shutil.rmtree(project / "runs")
    result = run_molexp("run", "train.py", "--sweep", "smoky", "-q", cwd=project)
    assert [task_result(d, "Train")["config"]["t"] for d in points(project)] == [100, 100]
    both = run_molexp("run", "train.py", "--sweep", "smoky", "--no-profile", "-p", "smoke",
                      cwd=project)
    assert both.returncode == 2 and "--no-profile and --profile smoke" in both.stderr


def test_molexp_in_process_gives_each_point_a_fresh_process(project):
    result = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "-j", "1", cwd=project,
                        env={"MOLEXP_IN_PROCESS": "1"})
    assert result.returncode == 0, result.stderr
    assert "MOLEXP_IN_PROCESS is ignored for a sweep" in result.stderr
    assert [task_result(d, "Train")["seen"] for d in points(project)] == [1, 1, 1]
    assert all(read_record(d)["history"][0]["execution"] == "fork"
               for d in points(project))


API = """
import json, sys
import molexp

try:
    found = molexp.runs(sweep=sys.argv[1], root="runs")
except molexp.MolexpError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"runs": [r.run_id for r in found]}))
"""


def api_runs(project: Path, ref: str) -> dict:
    import subprocess
    import sys

    script = write(project / "api.py", API)
    out = subprocess.run([sys.executable, str(script), ref], cwd=project,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_python_api_and_the_cli_agree_on_a_sweeps_points(project):
    first = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project)
    assert first.returncode == 0
    second = run_molexp("run", "train.py", "--sweep", "t=1,2,3", "--skip-succeeded", "-q",
                        cwd=project)
    assert second.returncode == 0
    paths = sorted((project / "runs" / ".sweeps").glob("sw-*/sweep.json"))
    sweep_id = json.loads(paths[-1].read_text())["sweep_id"]
    cli = json.loads(run_molexp("runs", "--sweep", sweep_id, "--json", cwd=project).stdout)
    assert len(cli) == 3  # two reused points and the new one
    for ref in (sweep_id, sweep_id[:20]):  # the id, or a unique prefix as the CLI takes
        assert api_runs(project, ref) == {"runs": [row["run_id"] for row in cli]}
    unknown = api_runs(project, "sw-1999")
    cli_unknown = run_molexp("runs", "--sweep", "sw-1999", cwd=project)
    assert cli_unknown.returncode == 1
    assert unknown["error"] == cli_unknown.stderr.strip()[len("Error: "):]


def test_runs_status_lost_is_accepted(project):
    result = run_molexp("runs", "--status", "lost", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no runs"


def test_a_run_copied_under_another_profiles_folder_is_flagged(project):
    done = run_molexp("run", "train.py", "-p", "smoke", "-q", cwd=project)
    assert done.returncode == 0
    (run_dir,) = (project / "runs" / "train" / "smoke").glob("2*")
    copy = project / "runs" / "train" / "default" / run_dir.name
    shutil.copytree(run_dir, copy)
    table = run_molexp("runs", cwd=project).stdout.splitlines()
    assert sum("(copied)" in line for line in table) == 1, table
    rows = json.loads(run_molexp("runs", "--json", cwd=project).stdout)
    (flagged,) = [r for r in rows if r["run_dir"] == str(copy)]
    assert "belongs under train/smoke/, not train/default/" in flagged["error"]
    assert flagged["copied"] is True
    (original,) = [r for r in rows if r["run_dir"] == str(run_dir)]
    assert original["error"] is None and original["copied"] is False


def test_resume_with_other_overrides_names_the_mismatch(project):
    done = run_molexp("run", "train.py", "--sweep", "t=1,2", "-o", "batch_size=8", "-q",
                      cwd=project)
    assert done.returncode == 0
    other = run_molexp("run", "train.py", "--sweep", "t=1,2", "-o", "batch_size=4",
                       "--resume", cwd=project)
    assert other.returncode == 2, other.stdout
    assert "nothing to resume" not in other.stdout + other.stderr
    assert "batch_size: 8 in the sweep, 4 now" in other.stderr
    assert "-o batch_size=8" in other.stderr
    same = run_molexp("run", "train.py", "--sweep", "t=1,2", "-o", "batch_size=8",
                      "--resume", cwd=project)
    assert same.returncode == 0 and "every point already succeeded" in same.stdout
