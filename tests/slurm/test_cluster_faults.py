"""Faults of the cluster itself, on a private cluster this module starts
(tests/slurm/cluster.sh in its own directory, stopped by its recorded pids even
when a test fails): a controller restarted from an older state save, two clusters
writing one runs root, a node failure that requeues a job without a SIGTERM."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import molexp_command, read_record, run_dirs, task_result, write
from slurm_faults import LONG, QUICK, job_state, molexp, private_cluster, slurm, wait_until


@pytest.fixture(scope="module")
def cluster():
    if not shutil.which("slurmctld"):
        pytest.skip("slurmctld not installed (tests/slurm/install-deps.sh)")
    # job ids of its own (no other test cluster has them); a node that is DOWN 5 s
    # after its slurmd stops answering
    first = str(random.randrange(600_000, 900_000, 1000))
    private = private_cluster("molexp-slurm-faults-", FIRST_JOB_ID=first,
                              SLURMD_TIMEOUT="5")
    try:
        private.start()
        yield private
    finally:
        private.stop()
        shutil.rmtree(private.directory, ignore_errors=True)


def project(workdir, conf: str) -> dict:
    write(workdir / "quick.py", QUICK)
    write(workdir / "long.py", LONG)
    return {"SLURM_CONF": conf, "MOLEXP_POLL_MAX": "1"}


def restart_controller(cluster, state_from=None) -> None:
    """Stop slurmctld (SIGTERM: it saves its state), optionally put an older state
    save in place, and start it again."""
    cluster.kill_daemon("slurmctld", signal.SIGTERM)
    if state_from is not None:
        state = cluster.directory / "state"
        shutil.rmtree(state)
        shutil.copytree(state_from, state)
    cluster.start()


def test_a_job_that_is_not_ours_never_completes_our_run(workdir, cluster):
    """The controller restarts from an older state save: the run's job is gone and
    an unrelated job gets its id and completes.  The run is `lost` with the reason,
    never `succeeded` with no tasks."""
    env = project(workdir, cluster.conf)
    cluster.kill_daemon("slurmctld", signal.SIGTERM)
    older = workdir / "older-state"
    shutil.copytree(cluster.directory / "state", older)
    cluster.start()
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm",
                    "--sbatch-arg=--hold")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    restart_controller(cluster, state_from=older)
    other = slurm(cluster.slurm_env, "sbatch", "--parsable", "--job-name=someone-else",
                  "-o", "/dev/null", "--wrap", "true").strip()
    assert other == job_id  # the id is reused
    wait_until("the other job to complete",
               lambda: job_state(cluster.slurm_env, other) == "COMPLETED")
    row = json.loads(molexp(workdir, env, "runs", "--json").stdout)[0]
    assert row["status"] == "lost"
    assert f"slurm job {job_id} is not this run's job: its name is 'someone-else'" in \
        row["error"]
    shown = molexp(workdir, env, "status", run_dir.name)
    assert "status:       lost" in shown.stdout and "someone-else" in shown.stdout
    assert "resume:" in shown.stdout  # lost is resumable
    record = read_record(run_dir)
    assert record["status"] == "submitted" and record["attempts"] == 0  # nothing written
    resumed = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm", "--resume",
                     "--wait")
    assert resumed.returncode == 0, resumed.stderr
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 1
    assert task_result(run_dir, "Quick") == {"attempt": 1}


def test_a_runs_root_shared_by_two_clusters(workdir, slurm_env):
    """A run submitted to one cluster, looked at with another cluster's SLURM_CONF,
    where the same job id is another job: `lost`, not that job's outcome."""
    env = project(workdir, slurm_env["SLURM_CONF"])
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm",
                    "--sbatch-arg=--hold")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    # another cluster whose next job id is that one
    other = private_cluster("molexp-slurm-other-", FIRST_JOB_ID=job_id)
    try:
        other.start()
        theirs = slurm(other.slurm_env, "sbatch", "--parsable", "--job-name=theirs",
                       "-o", "/dev/null", "--wrap", "exit 3").strip()
        assert theirs == job_id
        wait_until("their job to fail", lambda: job_state(other.slurm_env, job_id) ==
                   "FAILED")
        there = dict(env, SLURM_CONF=other.conf)
        row = json.loads(molexp(workdir, there, "runs", "--json").stdout)[0]
        assert row["status"] == "lost", row
        assert f"slurm job {job_id} is not this run's job: its name is 'theirs'" in \
            row["error"]
        assert read_record(run_dir)["status"] == "submitted"  # not `failed`
        # its own cluster still holds it
        assert json.loads(molexp(workdir, env, "runs", "--json").stdout)[0]["status"] == \
            "submitted"
    finally:
        other.stop()
        shutil.rmtree(other.directory, ignore_errors=True)
        assert molexp(workdir, env, "cancel", run_dir.name).returncode == 0


def test_a_node_failure_requeues_the_job_without_a_sigterm(workdir, cluster):
    """slurmd, slurmstepd and the job's processes die at once (SIGKILL: nothing is
    recorded); the controller marks the node DOWN and requeues the job (its
    default).  The `running` record becomes `submitted` (requeued counted), with
    no resume hint; --wait keeps waiting, and the rerun completes the run."""
    env = project(workdir, cluster.conf)
    waiting = subprocess.Popen(
        molexp_command() + ["run", "long.py", "--scheduler", "slurm", "--wait"],
        cwd=workdir, env=dict(os.environ, **env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until("attempt 1 to start", lambda: (workdir / "long-started-1").exists())
        (run_dir,) = run_dirs(workdir / "runs")
        job_id = read_record(run_dir)["scheduler"]["job_id"]
        processes = cluster.job_processes(job_id)
        assert read_record(run_dir)["pid"] in processes
        cluster.kill_daemon("slurmd", signal.SIGKILL)
        for pid in processes:  # this cluster's slurmstepd and the job's own processes
            os.kill(pid, signal.SIGKILL)
        # what the controller does once the node stops answering (SlurmdTimeout):
        # said at once here, so the test need not wait for it
        host = socket.gethostname().split(".")[0]
        slurm(cluster.slurm_env, "scontrol", "update", f"NodeName={host}", "State=DOWN",
              "Reason=node-failure-test")
        wait_until("the job requeued", lambda: job_state(cluster.slurm_env, job_id) ==
                   "PENDING")
        row = json.loads(molexp(workdir, env, "status", run_dir.name, "--json").stdout)
        assert row["status"] == "submitted" and row["resume_command"] is None, row
        record = read_record(run_dir)
        assert record["status"] == "submitted"
        assert record["scheduler"]["requeued"] == 1
        assert record["history"][-1]["status"] == "requeued"
        assert waiting.poll() is None  # --wait keeps waiting
        cluster.start()  # slurmd again: the node returns
        slurm(cluster.slurm_env, "scontrol", "update", f"JobId={job_id}", "StartTime=now")
        assert waiting.wait(timeout=240) == 0, waiting.stderr.read()
        record = read_record(run_dir)
        assert record["status"] == "succeeded" and record["attempts"] == 2
        assert record["scheduler"]["requeued"] == 1
        assert [h["job_id"] for h in record["history"]] == [job_id, job_id]
        assert task_result(run_dir, "Long") == "attempt 2"
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
