"""A task that dies inside a real Slurm job is recorded as it is locally."""

from __future__ import annotations

from conftest import read_record, run_dirs, task_result, write
from test_slurm import molexp, project, wait_status  # noqa: F401  (project: a fixture)

SEGFAULT = """
import os, signal
from pathlib import Path
from molexp.workflow import Task

class Prepare(Task):
    def execute(self, ctx):
        with open("prepare.count", "a") as handle:
            handle.write("x")
        return [1, 2, 3]

class Train(Task):
    def execute(self, ctx):
        if Path("crash").exists():
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"n": len(ctx.results["Prepare"])}
"""


def test_segfault_in_a_slurm_job_is_recorded_and_resumes(project):
    workdir, env = project
    write(workdir / "seg.py", SEGFAULT)
    (workdir / "crash").touch()
    result = molexp(project, "run", "seg.py", "--scheduler", "slurm", "--wait")
    assert result.returncode == 1, result.stderr
    assert "task Train: killed by SIGSEGV" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert record["error"] == "task Train: killed by SIGSEGV"
    assert record["tasks"]["Prepare"]["status"] == "succeeded"
    assert record["tasks"]["Train"]["status"] == "failed"
    assert record["history"][-1]["execution"] == "fork"
    assert record["history"][-1]["job_id"] == record["scheduler"]["job_id"]
    assert "faulthandler" in (run_dir / "error.log").read_text()

    (workdir / "crash").unlink()
    resumed = molexp(project, "run", "seg.py", "--resume", "--scheduler", "slurm", "--wait")
    assert resumed.returncode == 0, resumed.stderr
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 2
    assert task_result(run_dir, "Train") == {"n": 3}
    assert (workdir / "prepare.count").read_text() == "x"
    assert wait_status(project, run_dir, {"succeeded"}) == "succeeded"
