"""Which scheduler job may execute a run (`molexp execute --job-id ID --submission TOKEN`,
runs/job_guard.py): without a cluster, on records as a job would find them."""

from __future__ import annotations

import json

from conftest import read_record, run_dirs, run_molexp, write

QUICK = """
from molexp.workflow import Task

class Quick(Task):
    def execute(self, ctx):
        return 1
"""


def queued_run(workdir, **changes):
    """A run prepared as a Slurm submission would leave it (token abcd1234, job 111)."""
    write(workdir / "quick.py", QUICK)
    done = run_molexp("run", "quick.py", cwd=workdir)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    record.update(status="submitted", finished_at=None, attempts=0, history=[],
                  tasks={"Quick": {"status": "pending"}},
                  scheduler={"name": "slurm", "job_id": "111",
                             "identity": {"name": "quick-default-abcd1234",
                                          "token": "abcd1234", "after": None}})
    record.update(changes)
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


def execute(workdir, run_dir, *args):
    return run_molexp("execute", *args, run_dir, cwd=workdir)


def test_a_job_of_another_submission_ends_without_touching_the_run(workdir):
    run_dir = queued_run(workdir)
    before = (run_dir / "run.json").read_bytes()
    stale = execute(workdir, run_dir, "--job-id", "99", "--submission", "0ld70ken")
    assert stale.returncode == 0, stale.stderr
    assert "job 99 belongs to submission 0ld70ken, which is not the run's (abcd1234)" in \
        stale.stdout
    assert (run_dir / "run.json").read_bytes() == before


def test_a_second_job_finds_the_run_executing_under_another_job_elsewhere(workdir):
    run_dir = queued_run(workdir, status="running", attempts=1, history=[
        {"attempt": 1, "started_at": "2026-01-01T00:00:00Z", "host": "node-7", "pid": 4242,
         "job_id": "111"}])
    before = (run_dir / "run.json").read_bytes()
    second = execute(workdir, run_dir, "--job-id", "112", "--submission", "abcd1234")
    assert second.returncode == 0, second.stderr
    assert "being executed by job 111 on host node-7; job 112 ends without touching it" in \
        second.stdout
    assert (run_dir / "run.json").read_bytes() == before


def test_the_run_s_own_job_executes_it_and_records_its_id(workdir):
    run_dir = queued_run(workdir)
    own = execute(workdir, run_dir, "--job-id", "113", "--submission", "abcd1234")
    assert own.returncode == 0, own.stderr
    record = read_record(run_dir)
    assert record["status"] == "succeeded"
    assert record["history"][-1]["job_id"] == "113"  # the job that executed it, as it said
    assert record["scheduler"]["job_id"] == "113"
