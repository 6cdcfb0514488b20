"""The Slurm backend against a real single-node cluster (tests/slurm/cluster.sh).

Skipped with a reason when Slurm is not installed; with MOLEXP_REQUIRE_SLURM=1 (CI)
they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from conftest import (CONFIG_ECHO_SCRIPT, EXAMPLE_DIR, process_alive, read_record, run_dirs,
                      task_result, write)

SMOKE = {"dataset": "qm9", "epochs": 3, "batch_size": 8, "optimizer": {"lr": 0.001}}


@pytest.fixture
def project(workdir, slurm_env):
    """A project dir with the spec config, an echo script and Slurm's environment."""
    write(workdir / "molcfg.yaml", (EXAMPLE_DIR / "molcfg.yaml").read_text())
    write(workdir / "echo.py", CONFIG_ECHO_SCRIPT)
    env = dict(slurm_env, MOLEXP_POLL_MAX="1")
    return workdir, env


def molexp(project, *args, timeout=180):
    from conftest import run_molexp

    workdir, env = project
    return run_molexp(*args, cwd=workdir, env=env, timeout=timeout)


def wait_status(project, run_dir, wanted, timeout=90):
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        result = molexp(project, "status", run_dir, "--json")
        status = json.loads(result.stdout)["status"]
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_dir} still {status} after {timeout}s")


def test_profile_run_completes_on_node_with_its_config(project):
    result = molexp(project, "run", "echo.py", "--profile", "smoke", "--scheduler", "slurm",
                    "--partition", "debug", "--cpus", "1", "--wait")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    record = read_record(run_dir)
    assert record["status"] == "succeeded"
    job_id = record["scheduler"]["job_id"]
    assert job_id.isdigit()
    assert f"submitted to slurm as job {job_id}" in result.stdout
    assert task_result(run_dir, "Echo") == {"config": SMOKE, "profile": "smoke"}
    batch = (run_dir / "job.sbatch").read_text()
    assert "#SBATCH --partition=debug" in batch and "--cpus-per-task=1" in batch
    assert "molexp_core execute" in batch
    assert (run_dir / f"slurm-{job_id}.out").exists()
    assert record["history"][-1]["job_id"] == job_id
    rows = json.loads(molexp(project, "runs", "--json").stdout)
    assert rows[0]["status"] == "succeeded" and rows[0]["job_id"] == job_id
    shown = molexp(project, "show", run_dir.name).stdout
    assert f"job log:       {run_dir / f'slurm-{job_id}.out'}" in shown


def test_the_example_runs_on_slurm(project):
    workdir, env = project
    write(workdir / "train.py", (EXAMPLE_DIR / "train.py").read_text())
    result = molexp(project, "run", "train.py", "-p", "large-batch", "--scheduler", "slurm",
                    "--partition", "gpu", "--gpus", "1", "--wait")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Train")["batch_size"] == 64


FAILING = """
from molexp.workflow import Task

class Explode(Task):
    def execute(self, ctx):
        raise RuntimeError("node says no")
"""


def test_failing_task_is_failed(project):
    write(project[0] / "fail.py", FAILING)
    result = molexp(project, "run", "fail.py", "--scheduler", "slurm", "--wait")
    assert result.returncode == 1
    (run_dir,) = run_dirs(project[0] / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert "node says no" in record["error"]
    assert "node says no" in (run_dir / "error.log").read_text()


LONG = """
import time
from molexp.workflow import Task

class Long(Task):
    def execute(self, ctx):
        time.sleep(120)
        return "too late"
"""


@pytest.mark.parametrize("how", ["molexp cancel", "scancel"])
def test_cancelled_long_job(project, how):
    write(project[0] / "long.py", LONG)
    result = molexp(project, "run", "long.py", "--scheduler", "slurm")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    wait_status(project, run_dir, {"running"})
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    if how == "scancel":
        import subprocess

        subprocess.run(["scancel", job_id], env=dict(os.environ, **project[1]), check=True)
    else:
        cancelled = molexp(project, "cancel", run_dir.name)
        assert cancelled.returncode == 0, cancelled.stderr
    assert wait_status(project, run_dir, {"cancelled", "failed", "succeeded"}) == "cancelled"
    assert read_record(run_dir)["status"] == "cancelled"
    # Slurm itself must have ended the job: a cancel that only wrote run.json fails here
    assert slurm_state(project, job_id, {"CANCELLED"}) == "CANCELLED"
    again = molexp(project, "cancel", run_dir.name)
    assert again.returncode == 1 and "already cancelled" in again.stderr


def slurm_state(project, job_id, wanted, timeout=60):
    import subprocess

    slurm, deadline = dict(os.environ, **project[1]), time.time() + timeout
    while True:
        state = subprocess.run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"],
                               env=slurm, capture_output=True, text=True).stdout.strip()
        if state in wanted or time.time() > deadline:
            return state
        time.sleep(0.5)


def test_time_limit_is_failed_with_the_slurm_state(project):
    """At its time limit a job gets SIGTERM and records `cancelled`; Slurm's TIMEOUT
    must win: failed, with the state recorded, and --wait exits 1."""
    write(project[0] / "long.py", LONG)
    result = molexp(project, "run", "long.py", "--scheduler", "slurm", "--time", "0:05",
                    "--wait", timeout=240)
    assert result.returncode == 1, result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert record["scheduler"]["state"] == "TIMEOUT"
    assert "ended TIMEOUT (TimeLimit)" in record["error"]
    assert "failed: slurm job" in result.stderr and "TIMEOUT" in result.stderr


def test_cancel_of_a_job_that_already_ended_keeps_its_outcome(project):
    """The job fails to launch (its log directory does not exist), so the run never
    records anything; `molexp cancel` must learn that from Slurm, not scancel it."""
    result = molexp(project, "run", "echo.py", "--scheduler", "slurm",
                    "--sbatch-arg=--output=/nonexistent/dir/x.out")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    assert slurm_state(project, job_id, {"FAILED"}) == "FAILED"
    cancelled = molexp(project, "cancel", run_dir.name)
    assert cancelled.returncode == 1
    assert "already failed" in cancelled.stderr and "ended FAILED" in cancelled.stderr
    record = read_record(run_dir)
    assert record["status"] == "failed" and record["scheduler"]["state"] == "FAILED"


def test_jobs_slurm_no_longer_knows_show_as_lost_in_one_call(project, tmp_path):
    """Purged jobs (or another cluster's): one squeue call for all of them, no sacct
    where slurm.conf says accounting is off, no per-job scontrol; never written."""
    workdir, env = project
    assert molexp(project, "run", "echo.py", "--scheduler", "slurm", "--wait").returncode == 0
    (template,) = run_dirs(workdir / "runs")
    record = read_record(template)
    for n in range(20):
        run_dir = template.parent / f"29990101-000000-{n:06d}-dead"
        run_dir.mkdir()
        record.update(run_id=run_dir.name, status="submitted", tasks={},
                      scheduler={"name": "slurm", "job_id": str(9_000_000 + n)})
        (run_dir / "run.json").write_text(json.dumps(record))
    log = counting_wrappers(tmp_path, env)
    wrapped = dict(env, PATH=f"{log.parent / 'wrappers'}:{os.environ['PATH']}")
    from conftest import run_molexp

    rows = json.loads(run_molexp("runs", "--json", cwd=workdir, env=wrapped).stdout)
    assert sorted(r["status"] for r in rows) == ["lost"] * 20 + ["succeeded"]
    assert log.read_text().split() == ["squeue"]
    assert read_record(template.parent / "29990101-000000-000000-dead")["status"] == "submitted"


def test_runs_dir_with_percent_sign_keeps_its_log(project):
    runs = project[0] / "runs 100%j %x"
    result = molexp(project, "run", "echo.py", "--scheduler", "slurm", "--runs-dir", runs,
                    "--wait")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(runs)
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    assert (run_dir / f"slurm-{job_id}.out").exists()
    assert f"log:     {run_dir / f'slurm-{job_id}.out'}" in result.stdout


def test_runs_dir_with_a_newline_is_refused_and_nothing_runs(project):
    runs = project[0] / "runs\ntouch PWNED_NL"
    result = molexp(project, "run", "echo.py", "--scheduler", "slurm", "--runs-dir", runs)
    assert result.returncode == 1
    assert "cannot carry" in result.stderr and "Traceback" not in result.stderr
    (run_dir,) = run_dirs(runs)
    assert read_record(run_dir)["status"] == "failed"  # kept, with the reason
    assert not (run_dir / "job.sbatch").exists()
    dry = molexp(project, "run", "echo.py", "--scheduler", "slurm", "--runs-dir",
                 project[0] / "dry\ntouch PWNED_DRY", "--dry-run")
    assert dry.returncode == 2 and "cannot carry" in dry.stderr
    assert "#SBATCH" not in dry.stdout  # no batch script printed to copy and run
    time.sleep(1)
    assert list(project[0].rglob("PWNED_*")) == []


@pytest.mark.parametrize("native,status", [
    ("PENDING", "submitted"), ("REQUEUED", "submitted"), ("RUNNING", "running"),
    ("COMPLETING", "running"), ("STOPPED", "running"), ("SUSPENDED", "running"),
    ("COMPLETED", "succeeded"), ("FAILED", "failed"), ("NODE_FAIL", "failed"),
    ("OUT_OF_MEMORY", "failed"), ("TIMEOUT", "failed"), ("CANCELLED", "cancelled"),
    ("CANCELLED+", "cancelled"), ("CANCELLED by 0", "cancelled"),
    ("PREEMPTED", "cancelled"),
])
def test_slurm_state_map(native, status):
    from molexp_plugins.slurm_scheduler import molexp_status

    assert molexp_status(native) == status


def test_bad_partition_exits_1_and_keeps_the_run(project):
    result = molexp(project, "run", "echo.py", "-p", "smoke", "--scheduler", "slurm",
                    "--partition", "no_such_partition")
    assert result.returncode == 1
    assert "invalid partition" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert "invalid partition" in record["error"].lower()
    assert record["config"] == SMOKE
    assert "job_id" not in record["scheduler"]
    assert (run_dir / "job.sbatch").exists()
    assert "submitted" not in result.stdout


def test_bad_time_format_exits_1(project):
    result = molexp(project, "run", "echo.py", "--scheduler", "slurm", "--time", "soon")
    assert result.returncode == 1
    assert "slurm submission failed" in result.stderr
    (run_dir,) = run_dirs(project[0] / "runs")
    assert read_record(run_dir)["status"] == "failed"


FLAKY = """
from pathlib import Path
from molexp.workflow import Task

class First(Task):
    def execute(self, ctx):
        with open("first.count", "a") as handle:
            handle.write("x")
        return 1

class Second(Task):
    def execute(self, ctx):
        if Path("fail.flag").exists():
            raise RuntimeError("flaky")
        return 2
"""


def test_resume_of_failed_slurm_run_resubmits_and_succeeds(project):
    workdir = project[0]
    write(workdir / "flaky.py", FLAKY)
    (workdir / "fail.flag").touch()
    first = molexp(project, "run", "flaky.py", "-p", "smoke", "--scheduler", "slurm", "--wait")
    assert first.returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    first_job = read_record(run_dir)["scheduler"]["job_id"]
    (workdir / "fail.flag").unlink()
    second = molexp(project, "run", "flaky.py", "-p", "smoke", "--scheduler", "slurm",
                    "--resume", "--wait")
    assert second.returncode == 0, second.stderr
    assert run_dirs(workdir / "runs") == [run_dir]  # same run id
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 2
    assert record["scheduler"]["job_id"] != first_job
    assert (workdir / "first.count").read_text() == "x"  # First was not re-run


def counting_wrappers(tmp_path: Path, env: dict) -> Path:
    """squeue/sacct/scontrol wrappers first on PATH that log each call."""
    bin_dir = tmp_path / "wrappers"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in ("squeue", "sacct", "scontrol"):
        real = shutil.which(name, path=env.get("PATH", os.environ["PATH"]))
        assert real, f"{name} not found"
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return log


def test_fifty_runs_reconciled_with_bounded_calls(project, tmp_path):
    workdir, env = project
    for _ in range(50):
        result = molexp(project, "run", "echo.py", "-p", "dry-run", "--scheduler", "slurm",
                        "--quiet")
        assert result.returncode == 0, result.stderr
    log = counting_wrappers(tmp_path, env)
    wrapped = dict(env, PATH=f"{log.parent / 'wrappers'}:{os.environ['PATH']}")
    deadline, refreshes = time.time() + 240, 0
    while True:
        log.write_text("")
        from conftest import run_molexp

        rows = json.loads(run_molexp("runs", "--json", cwd=workdir, env=wrapped).stdout)
        refreshes += 1
        calls = log.read_text().split()
        assert len(rows) == 50
        assert len(calls) <= 2, calls  # one squeue (+ one sacct), whatever the job count
        assert "scontrol" not in calls
        if all(r["status"] == "succeeded" for r in rows) or time.time() > deadline:
            break
        time.sleep(2)
    assert all(r["status"] == "succeeded" for r in rows), [r["status"] for r in rows]
    # once every run has recorded its outcome, a refresh asks Slurm nothing at all
    log.write_text("")
    run_molexp("runs", "--json", cwd=workdir, env=wrapped)
    assert log.read_text().split() == []


CANARY = "$(touch PWNED_A); `touch PWNED_B`; touch PWNED_C; ' \" \n $HOME"


def test_injection_canary_never_fires(project):
    workdir, env = project
    write(workdir / "canary.yaml", "version: 1\ndefaults:\n  evil: " + json.dumps(CANARY)
          + "\nprofiles:\n  plain: {}\n")
    runs = workdir / "runs $(touch PWNED_D) `touch PWNED_E`"
    result = molexp(project, "run", "echo.py", "--config", "canary.yaml", "-p", "plain",
                    "-o", "also=$(touch PWNED_F);`touch PWNED_G`", "--scheduler", "slurm",
                    "--job-name", "$(touch PWNED_H)`touch PWNED_I`;x", "--runs-dir", runs,
                    "--wait")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(runs)
    seen = task_result(run_dir, "Echo")["config"]
    assert seen["evil"] == CANARY and seen["also"] == "$(touch PWNED_F);`touch PWNED_G`"
    dry = molexp(project, "run", "echo.py", "--config", "canary.yaml", "-p", "plain",
                 "--scheduler", "slurm", "--job-name", "$(touch PWNED_J)", "--dry-run")
    assert dry.returncode == 0 and "PWNED_J" in dry.stdout
    bad_profile = molexp(project, "run", "echo.py", "--config", "canary.yaml",
                         "-p", "$(touch PWNED_K)", "--scheduler", "slurm")
    assert bad_profile.returncode == 2
    newline_name = molexp(project, "run", "echo.py", "--scheduler", "slurm",
                          "--job-name", "x\ntouch PWNED_L")
    assert newline_name.returncode == 2
    time.sleep(1)
    assert list(workdir.rglob("PWNED_*")) == []  # jobs run with cwd = workdir


def test_dry_run_prints_batch_script_and_submits_nothing(project):
    result = molexp(project, "run", "echo.py", "-p", "smoke", "--scheduler", "slurm",
                    "--partition", "gpu", "--gpus", "1", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "#!/bin/bash" in result.stdout and "#SBATCH --gpus=1" in result.stdout
    assert "epochs: 3" in result.stdout and "config_hash" in result.stdout
    assert not (project[0] / "runs").exists()


def test_slurm_option_without_slurm_scheduler_is_refused(project):
    result = molexp(project, "run", "echo.py", "--partition", "debug")
    assert result.returncode == 2
    assert "--partition is an option of scheduler slurm" in result.stderr
    assert not (project[0] / "runs").exists()


REQUEUE = """
import time
from pathlib import Path
from molexp.workflow import Task

class First(Task):
    def execute(self, ctx):
        with open("first.count", "a") as handle:
            handle.write("x")
        return "one"

class Slow(Task):
    def execute(self, ctx):
        Path(f"slow-started-{ctx.attempt}").touch()
        if ctx.attempt == 1:
            time.sleep(120)
        return f"attempt {ctx.attempt}"
"""


def test_requeued_job_resumes_itself(project):
    """Each step waits for a state (the file attempt 1 writes, Slurm's PENDING,
    attempt 1's process gone, the run's status), never for a fixed time: the
    deadlines are only backstops against a hang, so the test holds under load."""
    import subprocess

    workdir, env = project
    write(workdir / "requeue.py", REQUEUE)
    result = molexp(project, "run", "requeue.py", "--scheduler", "slurm")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    until("attempt 1 to start", lambda: (workdir / "slow-started-1").exists())
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    slurm = dict(os.environ, **env)
    subprocess.run(["scontrol", "requeue", job_id], env=slurm, check=True)
    until("the job to be pending again", lambda: subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T"], env=slurm, capture_output=True,
        text=True).stdout.strip() == "PENDING")
    # Releasing the job while the first launch's processes still end (the supervisor
    # and its task child, under load) lets slurmd fail the new launch of the same job
    # id before molexp starts: wait until the pid attempt 1 recorded is gone.
    first_pid = read_record(run_dir)["pid"]
    until(f"attempt 1 (pid {first_pid}) to end", lambda: not process_alive(first_pid))
    # whether attempt 1 recorded its SIGTERM (cancelled) or not (still `running`),
    # a job Slurm holds for a rerun is `submitted`, counted once, with no resume hint
    row = json.loads(molexp(project, "status", run_dir, "--json").stdout)
    assert row["status"] == "submitted" and row["resume_command"] is None, row
    # Slurm delays a requeued job's start (BeginTime); let it go now
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=slurm,
                   check=True, capture_output=True)
    assert wait_status(project, run_dir, {"succeeded", "failed"}, timeout=600) == "succeeded"
    record = read_record(run_dir)
    assert record["attempts"] == 2 and record["scheduler"]["requeued"] == 1
    assert task_result(run_dir, "Slow") == "attempt 2"
    assert (workdir / "first.count").read_text() == "x"  # First was not re-run


def until(what: str, check, backstop: float = 600) -> None:
    """Wait for a state; the backstop only ends a hang."""
    deadline = time.time() + backstop
    while not check():
        assert time.time() < deadline, f"still waiting for {what} after {backstop:.0f}s"
        time.sleep(0.3)
