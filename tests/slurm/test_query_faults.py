"""What molexp reads from Slurm when Slurm misbehaves, against the real cluster
(issue 19): a silent squeue, odd bytes, arrays squeue has forgotten, and how many
queries a resumed sweep costs."""

from __future__ import annotations

import json
import os

import pytest

from conftest import read_record, run_dirs, write
from slurm_faults import (LONG, QUICK, SILENT_SQUEUE, calls, job_state, molexp, slurm,
                          wait_until, wrappers)

HANGING_SQUEUE = '''if [ -e "{switch}" ]; then exec sleep 600; fi
exec "$REAL" "$@"'''

# the real answer, then a job whose name has a Latin-1 byte (0xe9: é) as squeue prints it
LATIN1_SQUEUE = '''"$REAL" "$@"; code=$?
printf '4242|PENDING|caf\\xe9|2026-01-01T00:00:00\\n'
exit $code'''

FORGETFUL_SQUEUE = '''if [ -e "{switch}" ]; then
  echo "slurm_load_jobs error: Invalid job id specified" >&2
  exit 1
fi
exec "$REAL" "$@"'''


def held_run(workdir, env):
    """A run whose job waits, held, in the real queue."""
    write(workdir / "quick.py", QUICK)
    result = molexp(workdir, env, "run", "quick.py", "--scheduler", "slurm",
                    "--sbatch-arg=--hold")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    return run_dir


@pytest.mark.parametrize("fault", ["fails", "hangs"])
def test_a_silent_squeue_is_said_once_on_stderr(workdir, slurm_env, fault):
    switch = workdir / "squeue-silent"
    body = (SILENT_SQUEUE if fault == "fails" else HANGING_SQUEUE).format(switch=switch)
    tools = wrappers(workdir / "bin", {"squeue": body})
    env = dict(slurm_env, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    impatient = dict(env, MOLEXP_SLURM_TIMEOUT="1")  # how long a hanging squeue is waited for
    run_dir = held_run(workdir, env)
    try:
        switch.touch()
        for args in (["runs"], ["status", run_dir.name], ["runs", "--json"]):
            shown = molexp(workdir, impatient, *args)
            assert shown.returncode == 0, shown.stderr
            warnings = [line for line in shown.stderr.splitlines() if line.strip()]
            assert len(warnings) == 1, shown.stderr
            assert warnings[0].startswith("warning: scheduler slurm did not answer (")
            assert "may be stale" in warnings[0]
            assert "submitted" in shown.stdout  # what run.json says, shown as such
        assert json.loads(molexp(workdir, impatient, "runs", "--json").stdout)[0][
            "status"] == "submitted"
        switch.unlink()
        assert molexp(workdir, env, "runs").stderr == ""  # answered: nothing to say
    finally:
        switch.unlink(missing_ok=True)
        assert molexp(workdir, env, "cancel", run_dir.name).returncode == 0


def test_odd_bytes_from_squeue_are_decoded_leniently(workdir, slurm_env):
    tools = wrappers(workdir / "bin", {"squeue": LATIN1_SQUEUE})
    env = dict(slurm_env, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    run_dir = held_run(workdir, env)
    try:
        for args in (["runs"], ["status", run_dir.name], ["runs", "--json"]):
            shown = molexp(workdir, env, *args)
            assert shown.returncode == 0, shown.stderr
            assert "Traceback" not in shown.stderr and "Error" not in shown.stderr
            assert "submitted" in shown.stdout
    finally:
        assert molexp(workdir, env, "cancel", run_dir.name).returncode == 0


def test_array_tasks_cancelled_before_they_started_stay_cancelled_once_squeue_forgets(
        workdir, slurm_env):
    """The array is cancelled outside molexp while only its first task runs; once
    squeue no longer lists the array, the jobcomp file's line for the array itself
    (JobState=CANCELLED, no task id) answers for the tasks that never started."""
    write(workdir / "long.py", LONG)
    forgot = workdir / "squeue-forgot"
    tools = wrappers(workdir / "bin", {"squeue": FORGETFUL_SQUEUE.format(switch=forgot)})
    env = dict(slurm_env, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = molexp(workdir, env, "run", "long.py", "--sweep", "point=1,2,3", "-o",
                    "sleep=120", "--scheduler", "slurm", "--max-parallel", "1")
    assert result.returncode == 0, result.stderr
    (sweep,) = (workdir / "runs" / ".sweeps").glob("sw-*/sweep.json")
    record = json.loads(sweep.read_text())
    (array,) = record["arrays"]
    wait_until("the first point to start", lambda: (workdir / "long-started-1").exists())
    slurm(slurm_env, "scancel", array["job_id"])  # by hand, not through molexp
    for index in range(3):
        wait_until(f"task {index} CANCELLED",
                   lambda i=index: job_state(slurm_env, f"{array['job_id']}_{i}")
                   == "CANCELLED")
    first = workdir / "runs" / record["points"][0]["run_dir"]
    wait_until("point 0 to record its SIGTERM",
               lambda: read_record(first)["status"] == "cancelled")
    forgot.touch()  # squeue no longer knows the array (MinJobAge passed)
    rows = json.loads(molexp(workdir, env, "runs", "--sweep", record["sweep_id"],
                             "--json").stdout)
    assert [r["status"] for r in rows] == ["cancelled"] * 3, rows
    for point in record["points"][1:]:
        written = read_record(workdir / "runs" / point["run_dir"])
        assert written["status"] == "cancelled" and written["attempts"] == 0
        assert written["scheduler"]["state"] == "CANCELLED"
        assert f"job {point['job_id']} ended CANCELLED" in written["error"]


CONFIG = """
version: 1
defaults:
  batch_size: 32
sweeps:
  twelve:
    grid:
      lr: [0.0001, 0.001, 0.01]
      batch_size: [1, 2, 3, 4]
"""


def test_resuming_a_slurm_sweep_asks_the_scheduler_once(workdir, slurm_env):
    """Twelve points whose jobs ended without running (the array was cancelled by
    hand while pending): --resume checks them with ONE squeue, not one per point."""
    write(workdir / "molcfg.yaml", CONFIG)
    write(workdir / "quick.py", QUICK)
    tools = wrappers(workdir / "bin", {})
    env = dict(slurm_env, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = molexp(workdir, env, "run", "quick.py", "--sweep", "twelve", "--scheduler",
                    "slurm", "--sbatch-arg=--begin=now+1hour")
    assert result.returncode == 0, result.stderr
    (sweep,) = (workdir / "runs" / ".sweeps").glob("sw-*/sweep.json")
    record = json.loads(sweep.read_text())
    (array,) = record["arrays"]
    slurm(slurm_env, "scancel", array["job_id"])
    wait_until("the array CANCELLED",
               lambda: job_state(slurm_env, f"{array['job_id']}_11") == "CANCELLED")
    before = len(calls(tools, "squeue"))
    resumed = molexp(workdir, env, "run", "quick.py", "--sweep", "twelve", "--scheduler",
                     "slurm", "--resume", "--sbatch-arg=--begin=now+1hour")
    try:
        assert resumed.returncode == 0, resumed.stderr
        assert "12 of 12 point(s) did not succeed" in resumed.stderr
        assert len(calls(tools, "squeue")) - before == 1, calls(tools, "squeue")[before:]
    finally:
        assert molexp(workdir, env, "cancel", record["sweep_id"]).returncode == 0
