"""Tasks that raise, exit, return junk or hang: each leaves a truthful record and log."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

FAULTS = {
    "raises": ("raise KeyError('missing column')", 1, "failed",
               "task Fault failed: KeyError: 'missing column'"),
    "sys_exit": ("import sys; sys.exit(3)", 1, "failed", "task Fault called sys.exit(3)"),
    "not_json": ("return {1, 2, 3}", 1, "failed", "returned a value that is not JSON data"),
    # NaN is a result (a diverged loss), stored: tests/test_integrity_and_results.py
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_task_fault_is_recorded_truthfully(workdir, kind):
    body, code, status, message = FAULTS[kind]
    script = write(workdir / "fault.py", f"""
        from molexp.workflow import Task

        class Before(Task):
            def execute(self, ctx):
                ctx.logger.info("before ran")
                return "ok"

        class Fault(Task):
            def execute(self, ctx):
                {body}
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == status
    assert record["tasks"]["Before"]["status"] == "succeeded"
    assert record["tasks"]["Fault"]["status"] == "failed"
    assert message in record["error"]
    log = (run_dir / "run.log").read_text()
    assert "before ran" in log and message in log
    assert "Traceback" in (run_dir / "error.log").read_text()


HANG = """
import time
from pathlib import Path
from molexp.workflow import Task

class Hang(Task):
    def execute(self, ctx):
        Path("started").touch()
        time.sleep(60)
"""


@pytest.mark.parametrize("sig,code,reason", [
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
])
def test_hanging_task_stopped_by_signal_is_cancelled(workdir, sig, code, reason):
    script = write(workdir / "hang.py", HANG)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not (workdir / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    started = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert time.time() - started < 5
    assert proc.returncode == code, err
    assert "Traceback" not in err
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "cancelled"
    assert record["tasks"]["Hang"]["status"] == "cancelled"
    assert record["error"] == reason
    assert "[1/1] task Hang: started" in (run_dir / "run.log").read_text()
