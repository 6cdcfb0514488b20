"""A queued Slurm job runs the code it was submitted with (real cluster)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

from conftest import read_record, run_dirs, run_molexp, task_result, write

MARKER = '''
from molexp.workflow import Task


class Which(Task):
    def execute(self, ctx):
        return {"version": "as submitted"}
'''


def test_a_held_job_runs_the_snapshot_after_the_script_was_edited(workdir, slurm_env):
    env = dict(slurm_env, MOLEXP_POLL_MAX="1")
    script = write(workdir / "marker.py", MARKER)
    submitted_sha = hashlib.sha256(script.read_bytes()).hexdigest()
    done = run_molexp("run", "marker.py", "--scheduler", "slurm", "--partition", "debug",
                      "--cpus", "1", "--sbatch-arg=--hold", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    job_id = read_record(run_dir)["scheduler"]["job_id"]
    slurm = dict(os.environ, **slurm_env)
    state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], env=slurm,
                           capture_output=True, text=True).stdout
    assert state.startswith("PENDING"), state  # held: it cannot have started
    script.write_text(MARKER.replace("as submitted", "edited while queued"))
    subprocess.run(["scontrol", "release", job_id], env=slurm, check=True)
    deadline = time.time() + 120
    while True:
        status = json.loads(run_molexp("status", run_dir.name, "--json", cwd=workdir,
                                       env=env).stdout)["status"]
        if status in ("succeeded", "failed", "cancelled", "lost"):
            break
        assert time.time() < deadline, f"job {job_id} still {status}"
        time.sleep(0.5)
    assert status == "succeeded", (run_dir / "run.log").read_text()
    result = task_result(run_dir, "Which")
    assert result == {"version": "as submitted"}
    record = read_record(run_dir)
    assert record["script_sha256"] == submitted_sha
    assert record["history"][0]["script_sha256"] == submitted_sha
    assert record["history"][0]["script_origin"] == "snapshot"
    log = (run_dir / "run.log").read_text()
    edited = hashlib.sha256(script.read_bytes()).hexdigest()
    assert f"has changed (sha256 {edited[:16]}) since the run was prepared; executing the " \
        f"stored snapshot script.py (sha256 {submitted_sha[:16]})" in log
