"""Slurm sweeps against a real cluster (issue 18): `--resume` of a sweep runs the
fixed script, not the old snapshot; the array's batch script and log directory are
never written through a link planted in the sweep record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import read_record, run_molexp, task_result, write

BUGGY = '''
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        if ctx.config["t"] == 2:
            raise RuntimeError("the bug")
        return {"t": ctx.config["t"], "version": "buggy"}
'''
FIXED = BUGGY.replace('        if ctx.config["t"] == 2:\n            raise RuntimeError("the bug")\n',
                      "").replace('"buggy"', '"fixed"')
SLURM = ("--scheduler", "slurm", "--partition", "debug", "--cpus", "1")


@pytest.fixture
def project(workdir, slurm_env):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\n")
    write(workdir / "train.py", BUGGY)
    return workdir, dict(slurm_env, MOLEXP_POLL_MAX="1")


def molexp(project, *args, timeout=300):
    workdir, env = project
    return run_molexp(*args, cwd=workdir, env=env, timeout=timeout)


def the_sweep(workdir: Path) -> tuple:
    (path,) = (workdir / "runs" / ".sweeps").glob("sw-*/sweep.json")
    return path.parent, json.loads(path.read_text())


def failed_sweep(project) -> tuple:
    first = molexp(project, "run", "train.py", "--sweep", "t=1,2", *SLURM, "--wait")
    assert first.returncode == 1, first.stderr
    sweep_dir, record = the_sweep(project[0])
    counts = json.loads(molexp(project, "status", record["sweep_id"], "--json").stdout)
    assert counts["counts"] == {"succeeded": 1, "failed": 1}, counts
    return sweep_dir, record


def test_resume_of_a_slurm_sweep_runs_the_fixed_script(project):
    workdir, _ = project
    sweep_dir, record = failed_sweep(project)
    write(workdir / "train.py", FIXED)
    resumed = molexp(project, "run", "train.py", "--sweep", "t=1,2", *SLURM, "--resume",
                     "--wait")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    point = workdir / "runs" / record["points"][1]["run_dir"]
    assert task_result(point, "Train") == {"t": 2, "version": "fixed"}
    run = read_record(point)
    assert run["history"][-1]["script_sha256"] == run["next_script_sha256"]
    assert run["snapshots"][run["next_script_sha256"]]["origin"] == "resume"
    # the point that succeeded was not run again
    first = workdir / "runs" / record["points"][0]["run_dir"]
    assert task_result(first, "Train") == {"t": 1, "version": "buggy"}
    assert read_record(first)["attempts"] == 1


def test_a_link_at_the_next_array_batch_script_is_refused(project, tmp_path_factory):
    workdir, _ = project
    sweep_dir, record = failed_sweep(project)
    victim = tmp_path_factory.mktemp("victim") / "precious.txt"
    victim.write_text("precious\n")
    os.symlink(victim, sweep_dir / "manifest-1-array-0.sbatch")  # the resume's array
    write(workdir / "train.py", FIXED)
    resumed = molexp(project, "run", "train.py", "--sweep", "t=1,2", *SLURM, "--resume")
    assert resumed.returncode == 1, resumed.stderr
    assert "manifest-1-array-0.sbatch is a symbolic link" in resumed.stderr
    assert victim.read_text() == "precious\n"


def test_a_linked_array_log_directory_is_refused(project, tmp_path_factory):
    workdir, _ = project
    sweep_dir, record = failed_sweep(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (sweep_dir / "logs").rename(elsewhere / "old-logs")
    os.symlink(elsewhere, sweep_dir / "logs")
    write(workdir / "train.py", FIXED)
    resumed = molexp(project, "run", "train.py", "--sweep", "t=1,2", *SLURM, "--resume")
    assert resumed.returncode == 1, resumed.stderr
    assert "logs is a symbolic link" in resumed.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["old-logs"]
