"""Sweeps as Slurm job arrays, against a real cluster (tests/slurm/cluster.sh).

sbatch, squeue and scancel are wrapped (a script that logs its arguments, then
runs the real command) so the tests count the calls molexp makes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CLUSTER_SH, read_record, run_molexp, task_result, write
from test_sweeps import SCRIPT

CONFIG = """
version: 1
defaults:
  batch_size: 32
  optimizer:
    lr: 0.001
profiles:
  smoke:
    epochs: 3
sweeps:
  twelve:
    profile: smoke
    grid:
      optimizer.lr: [0.0001, 0.001, 0.01]
      batch_size: [1, 2, 3, 4]
"""


def wrap(directory: Path, *tools: str) -> Path:
    """Scripts named like Slurm's tools that log each call to calls.log, then run it."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        write(directory / tool, f'#!/bin/bash\necho "{tool} $*" >> "{directory}/calls.log"\n'
                                f'exec {real} "$@"\n').chmod(0o755)
    return directory


def calls(directory: Path, tool: str) -> list:
    log = directory / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.split()[0] == tool]


@pytest.fixture
def project(workdir, slurm_env):
    write(workdir / "molcfg.yaml", CONFIG)
    write(workdir / "train.py", SCRIPT)
    tools = wrap(workdir / "bin", "sbatch", "squeue", "scancel")
    env = dict(slurm_env, MOLEXP_POLL_MAX="1",
               PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    return workdir, env, tools


def molexp(project, *args, timeout=300, **extra):
    workdir, env, _ = project
    return run_molexp(*args, cwd=workdir, env=dict(env, **extra), timeout=timeout)


def the_sweep(workdir: Path) -> dict:
    (path,) = (workdir / "runs" / ".sweeps").glob("sw-*/sweep.json")
    return json.loads(path.read_text())


def test_twelve_points_as_one_array_with_max_parallel(project):
    workdir, env, tools = project
    result = molexp(project, "run", "train.py", "--sweep", "twelve", "--scheduler", "slurm",
                    "--partition", "debug", "--max-parallel", "3", "--wait")
    assert result.returncode == 0, result.stderr
    (sbatch,) = calls(tools, "sbatch")  # ONE sbatch for the whole sweep
    sweep = the_sweep(workdir)
    (array,) = sweep["arrays"]
    assert array["size"] == 12 and array["points"] == list(range(12))
    script = (workdir / "runs" / ".sweeps" / sweep["sweep_id"] /
              "manifest-0-array-0.sbatch").read_text()
    assert "#SBATCH --array=0-11%3" in script and "--partition=debug" in script
    assert "optimizer" not in script  # the config never enters the batch script
    for point in sweep["points"]:
        run_dir = workdir / "runs" / point["run_dir"]
        record = read_record(run_dir)
        job_id = f"{array['job_id']}_{point['index']}"
        assert record["status"] == "succeeded" and point["job_id"] == job_id
        assert record["scheduler"]["job_id"] == job_id
        assert record["history"][-1]["job_id"] == job_id
        assert (run_dir / f"slurm-{job_id}.out").exists()  # its output, in its run dir
        seen = task_result(run_dir, "Train")["config"]
        assert seen["optimizer"]["lr"] == point["point"]["optimizer.lr"]
        assert seen["batch_size"] == point["point"]["batch_size"]
    listed = molexp(project, "sweeps")
    assert sweep["sweep_id"] in listed.stdout and "12 succeeded" in listed.stdout
    table = molexp(project, "runs", "--sweep", sweep["sweep_id"], "--columns", "-c",
                   "Train.loss", "--sort", "Train.loss")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 13


def test_one_squeue_per_refresh_whatever_the_points(project):
    workdir, env, tools = project
    result = molexp(project, "run", "train.py", "--sweep", "twelve", "-o", "sleep=30",
                    "--scheduler", "slurm", "--max-parallel", "2")
    assert result.returncode == 0, result.stderr
    sweep_id = the_sweep(workdir)["sweep_id"]
    try:
        before = len(calls(tools, "squeue"))
        rows = json.loads(molexp(project, "runs", "--sweep", sweep_id, "--json").stdout)
        assert len(rows) == 12
        assert {r["status"] for r in rows} <= {"submitted", "running"}, rows
        assert len(calls(tools, "squeue")) == before + 1
        status = molexp(project, "status", sweep_id)
        assert "points:" in status.stdout and sweep_id in status.stdout
        assert len(calls(tools, "squeue")) == before + 2
    finally:
        cancelled = molexp(project, "cancel", sweep_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert len(calls(tools, "scancel")) == 1  # one scancel for the whole array
    assert "12 point(s) cancelled" in cancelled.stdout
    deadline = time.time() + 90
    while time.time() < deadline:
        rows = json.loads(molexp(project, "runs", "--sweep", sweep_id, "--json").stdout)
        if all(r["status"] == "cancelled" for r in rows):
            break
        time.sleep(1)
    assert [r["status"] for r in rows] == ["cancelled"] * 12
    errors = {read_record(Path(r["run_dir"]))["error"] for r in rows}
    assert errors == {"cancelled by user"}, errors


def test_a_failing_point_fails_alone_and_resumes_as_a_new_array(project):
    workdir, env, tools = project
    crash = write(workdir / "crash", "3")
    result = molexp(project, "run", "train.py", "--sweep", "twelve", "--scheduler", "slurm",
                    "--wait", MOLEXP_TEST_CRASH_FILE=str(crash))
    assert result.returncode == 1
    assert "12 point(s): 9 succeeded, 3 failed" in result.stderr
    sweep = the_sweep(workdir)
    failed = [p["index"] for p in sweep["points"]
              if read_record(workdir / "runs" / p["run_dir"])["status"] == "failed"]
    assert failed == [2, 6, 10]  # batch_size 3
    crash.unlink()
    resumed = molexp(project, "run", "train.py", "--sweep", "twelve", "--scheduler", "slurm",
                     "--resume", "--wait", MOLEXP_TEST_CRASH_FILE=str(crash))
    assert resumed.returncode == 0, resumed.stderr
    assert len(calls(tools, "sbatch")) == 2
    sweep = the_sweep(workdir)
    assert [a["points"] for a in sweep["arrays"]] == [list(range(12)), failed]
    second = sweep["arrays"][1]["job_id"]
    for point in sweep["points"]:
        record = read_record(workdir / "runs" / point["run_dir"])
        assert record["status"] == "succeeded"
        if point["index"] in failed:
            assert record["attempts"] == 2
            assert point["job_id"] == f"{second}_{failed.index(point['index'])}"
        else:
            assert record["attempts"] == 1


def test_a_sweep_larger_than_max_array_size_is_split(workdir):
    """Our own small cluster (MaxArraySize=5), stopped by its recorded pids."""
    if not shutil.which("slurmctld"):
        pytest.skip("slurmctld not installed (tests/slurm/install-deps.sh)")
    directory = Path(tempfile.mkdtemp(prefix="molexp-slurm-arrays-", dir="/tmp"))
    directory.chmod(0o755)
    env = dict(os.environ, MAX_ARRAY_SIZE="5")
    env.pop("CTLD_PORT", None)
    env.pop("SLURMD_PORT", None)
    started = subprocess.run(["bash", str(CLUSTER_SH), "start", str(directory)], env=env,
                             capture_output=True, text=True, timeout=180)
    try:
        assert started.returncode == 0, started.stderr
        write(workdir / "molcfg.yaml", CONFIG)
        write(workdir / "train.py", SCRIPT)
        tools = wrap(workdir / "bin", "sbatch")
        slurm = {"SLURM_CONF": str(directory / "etc" / "slurm.conf"), "MOLEXP_POLL_MAX": "1",
                 "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
        result = run_molexp("run", "train.py", "--sweep", "twelve", "--scheduler", "slurm",
                            "--wait", cwd=workdir, env=slurm, timeout=300)
        assert result.returncode == 0, result.stderr
        assert len(calls(tools, "sbatch")) == 3  # 5 + 5 + 2: as few arrays as fit
        sweep = the_sweep(workdir)
        assert [a["size"] for a in sweep["arrays"]] == [5, 5, 2]
        for point in sweep["points"]:
            array = sweep["arrays"][point["index"] // 5]
            assert point["job_id"] == f"{array['job_id']}_{point['index'] % 5}"
            record = read_record(workdir / "runs" / point["run_dir"])
            assert record["status"] == "succeeded"
            seen = task_result(workdir / "runs" / point["run_dir"], "Train")["config"]
            assert seen["batch_size"] == point["point"]["batch_size"]
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(directory)], env=env,
                       capture_output=True, text=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


def test_dry_run_of_a_slurm_sweep_prints_the_array_script(project):
    """docs/getting-started.md: --dry-run prints the batch script a cluster scheduler
    would get; for a sweep, the job array's, with its --array=0-N%P."""
    workdir, env, tools = project
    result = molexp(project, "run", "train.py", "--sweep", "twelve", "--scheduler", "slurm",
                    "--partition", "debug", "--max-parallel", "3", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --array=0-11%3" in result.stdout
    assert "sbatch --hold --array=0-11%3" in result.stdout
    assert "#SBATCH --partition=debug" in result.stdout
    assert "--manifest" in result.stdout and "manifest-0.json" in result.stdout
    assert "optimizer" not in result.stdout.split("#!/bin/bash", 1)[1]  # no config values
    assert not (workdir / "runs").exists() and calls(tools, "sbatch") == []
