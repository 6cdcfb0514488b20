"""Submissions whose answer is lost, against the real cluster (issue 19).

sbatch wrappers first on PATH run the real sbatch (the controller takes the job)
and then lose its answer: "Socket timed out on send/recv operation", or no
answer at all until molexp's own timeout.  squeue wrappers stay silent while a
switch file exists (a controller too busy to answer).
"""

from __future__ import annotations

import json
import os
import subprocess

from conftest import molexp_command, read_record, run_dirs, task_result, write
from slurm_faults import (AMBIGUOUS_SBATCH, HANGING_SBATCH, LONG, QUICK, SILENT_SQUEUE, calls,
                          job_state, molexp, record_when, slurm, status_of, wait_until,
                          wrappers)

import pytest


def environment(workdir, slurm_env, tools) -> dict:
    return dict(slurm_env, MOLEXP_POLL_MAX="1", MOLEXP_SLURM_TIMEOUT="5",
                PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")


def lossy(workdir, slurm_env):
    """sbatch that loses its answers and squeue that does not answer, while their
    switch files exist (both do at first): (env, sbatch's switch, squeue's, tools)."""
    lost, silent = workdir / "sbatch-loses-answers", workdir / "squeue-silent"
    lost.touch()
    silent.touch()
    tools = wrappers(workdir / "bin", {"sbatch": AMBIGUOUS_SBATCH.format(switch=lost),
                                       "squeue": SILENT_SQUEUE.format(switch=silent)})
    return environment(workdir, slurm_env, tools), lost, silent, tools


@pytest.mark.parametrize("fault", ["socket timed out", "no answer in time"])
def test_an_ambiguous_sbatch_finds_its_job_by_name_and_runs_it_once(workdir, slurm_env,
                                                                     fault):
    write(workdir / "quick.py", QUICK)
    switch = workdir / "fault.on"
    switch.touch()
    body = AMBIGUOUS_SBATCH if fault == "socket timed out" else HANGING_SBATCH
    tools = wrappers(workdir / "bin", {"sbatch": body.format(switch=switch)})
    env = environment(workdir, slurm_env, tools)
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm", "--wait")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 1
    job_id = record["scheduler"]["job_id"]
    name = record["scheduler"]["identity"]["name"]
    assert f"found by its name {name}" in record["scheduler"]["submission_note"]
    # the controller ran exactly one job of that name, and it is the one recorded
    jobs = slurm(slurm_env, "squeue", "-h", "-t", "all", "-n", name, "-o", "%i").split()
    assert jobs == [job_id]
    assert record["history"][-1]["job_id"] == job_id  # the job that executed it
    assert len(calls(tools, "sbatch")) == 1  # never a second submission
    assert task_result(run_dir, "Quick") == {"attempt": 1}


def test_an_unknown_submission_is_recorded_resolved_and_executed_once(workdir, slurm_env):
    """sbatch's answer is lost while squeue does not answer either: the run says
    `submission unknown` (not failed), --wait keeps waiting, --resume submits no
    second job; once squeue answers the job is found; a second job of the same
    submission ends without touching the run; cancel reaches the job."""
    write(workdir / "long.py", LONG)
    env, lost, silent, tools = lossy(workdir, slurm_env)
    waiting = subprocess.Popen(  # held: it cannot start and say its id itself
        molexp_command() + ["run", "long.py", "--scheduler", "slurm", "--wait",
                            "--sbatch-arg=--hold"], cwd=workdir,
        env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        run_dir = wait_until("the run directory", lambda: run_dirs(workdir / "runs"))[0]
        record = record_when(run_dir, lambda r: r["status"] != "created")
        assert record["status"] == "submitted"  # not `failed`: the job may be queued
        assert record["scheduler"]["job_id"] is None
        assert record["scheduler"]["submission"] == "unknown"
        assert record["error"].startswith("submission unknown: sbatch: error: Batch job "
                                          "submission failed: Socket timed out")
        shown = molexp(workdir, env, "status", run_dir.name)
        assert shown.returncode == 0
        assert [line.split() for line in shown.stdout.splitlines()
                if line.startswith("submission:")] == [["submission:", "unknown"]]
        assert shown.stderr.count("did not answer") == 1, shown.stderr
        resumed = molexp(workdir, env, "run", "long.py", "--scheduler", "slurm", "--resume")
        assert resumed.returncode == 1 and "did not answer" in resumed.stderr
        assert waiting.poll() is None  # --wait keeps waiting
        lost.unlink()
        silent.unlink()
        row = wait_until("the job found by its name",
                         lambda: (lambda s: s if s["job_id"] else None)(
                             status_of(workdir, env, run_dir.name)))
        job_id = row["job_id"]
        name = read_record(run_dir)["scheduler"]["identity"]["name"]
        assert slurm(slurm_env, "squeue", "-h", "-t", "all", "-n", name, "-o", "%i").split() \
            == [job_id]
        assert read_record(run_dir)["status"] == "submitted"
        assert read_record(run_dir)["scheduler"]["submission"] is None
        slurm(slurm_env, "scontrol", "release", job_id)
        wait_until("the job to start the run", lambda: (workdir / "long-started-1").exists())
        resumed = molexp(workdir, env, "run", "long.py", "--scheduler", "slurm", "--resume")
        assert resumed.returncode == 1
        assert "will not be resumed a second time" in resumed.stderr
        assert len(calls(tools, "sbatch")) == 1
        # a second job of the same submission (its batch script submitted again)
        second = slurm(slurm_env, "sbatch", "--parsable", str(run_dir / "job.sbatch")).strip()
        slurm(slurm_env, "scontrol", "release", second)  # job.sbatch says --hold
        wait_until("the second job to end", lambda: job_state(slurm_env, second) == "COMPLETED")
        out = (run_dir / f"slurm-{second}.out").read_text()
        assert f"job {second} ends without touching it" in out, out
        record = read_record(run_dir)
        assert record["status"] == "running" and record["attempts"] == 1
        assert [h["job_id"] for h in record["history"]] == [job_id]
        assert record["scheduler"]["job_id"] == job_id
        cancelled = molexp(workdir, env, "cancel", run_dir.name)
        assert cancelled.returncode == 0, cancelled.stderr
        assert waiting.wait(timeout=120) == 130, waiting.stderr.read()
        assert wait_until("CANCELLED", lambda: job_state(slurm_env, job_id) == "CANCELLED")
        assert read_record(run_dir)["status"] == "cancelled"
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
        cancel_own_jobs(slurm_env, workdir)


def cancel_own_jobs(slurm_env, workdir) -> None:
    """Whatever a failed test left queued: the jobs named as this test's runs were
    (names unique per submission)."""
    for run_dir in run_dirs(workdir / "runs"):
        name = ((read_record(run_dir).get("scheduler") or {}).get("identity") or {}).get(
            "name")
        if name:
            slurm(slurm_env, "scancel", f"--name={name}", check=False)


def test_a_job_of_a_cancelled_unknown_submission_never_executes_the_run(workdir, slurm_env):
    """The run is cancelled while its submission is unknown (squeue silent): a job of
    that submission that starts later ends without touching the run."""
    write(workdir / "quick.py", QUICK)
    env, lost, silent, _ = lossy(workdir, slurm_env)
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm",
                    "--sbatch-arg=--hold")
    assert result.returncode == 0, result.stderr
    assert "submission unknown" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    cancelled = molexp(workdir, env, "cancel", run_dir.name)
    assert cancelled.returncode == 0, cancelled.stderr
    assert read_record(run_dir)["status"] == "cancelled"
    lost.unlink()
    silent.unlink()
    name = read_record(run_dir)["scheduler"]["identity"]["name"]
    (job_id,) = slurm(slurm_env, "squeue", "-h", "-t", "all", "-n", name, "-o", "%i").split()
    slurm(slurm_env, "scontrol", "release", job_id)
    wait_until("the late job to end", lambda: job_state(slurm_env, job_id) == "COMPLETED")
    assert "ends without touching the run" in (run_dir / f"slurm-{job_id}.out").read_text()
    record = read_record(run_dir)
    assert record["status"] == "cancelled" and record["attempts"] == 0
    assert json.loads(molexp(workdir, env, "status", run_dir.name, "--json").stdout)[
        "status"] == "cancelled"


NEVER_TAKEN_SBATCH = '''echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2
exit 1'''


def test_an_unknown_submission_that_no_lookup_finds_is_failed_by_its_deadline(workdir,
                                                                             slurm_env):
    """The answer is lost but the controller never took the job: the run is
    `submission unknown`, --wait keeps looking it up, and once its deadline (three
    sbatch timeouts) has passed with no job of that name it is failed, exit 1."""
    write(workdir / "quick.py", QUICK)
    tools = wrappers(workdir / "bin", {"sbatch": NEVER_TAKEN_SBATCH})
    env = dict(environment(workdir, slurm_env, tools), MOLEXP_SLURM_TIMEOUT="2")
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm", "--wait")
    assert result.returncode == 1
    assert "submission unknown" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    name = record["scheduler"]["identity"]["name"]
    assert record["status"] == "failed" and record["scheduler"]["job_id"] is None
    assert f"no job named {name} appeared by" in record["error"]
    assert f"no job named {name} appeared by" in result.stderr
    assert slurm(slurm_env, "squeue", "-h", "-t", "all", "-n", name, "-o", "%i") == ""
