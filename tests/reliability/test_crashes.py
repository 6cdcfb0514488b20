"""Tasks that kill their process: the supervisor records each death; --resume continues.

Real processes throughout: the installed `molexp`, real signals, real forks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, task_result, write

SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from molexp.workflow import Task

class Before(Task):
    def execute(self, ctx):
        with open("before.count", "a") as handle:
            handle.write("x")
        return [1, 2, 3]

class Train(Task):
    def execute(self, ctx):
        Path("train.pid").write_text(str(os.getpid()))
        if Path("crash").exists():
            {body}
        return {{"before": ctx.results["Before"].to_list()}}

class After(Task):
    def execute(self, ctx):
        Path("after.ran").touch()
        return "after"
"""

CRASHES = {
    "os_exit_0": ("os._exit(0)",
                  "task Train: the process exited with code 0 before the task returned"),
    "os_exit_3": ("os._exit(3)",
                  "task Train: the process exited with code 3 before the task returned"),
    "sigsegv": ("os.kill(os.getpid(), signal.SIGSEGV)", "task Train: killed by SIGSEGV"),
    "sys_exit_0": ("sys.exit(0)", "task Train called sys.exit(0)"),
    # the task's process exits; the copy it forked returns from execute() alone
    "fork_and_exit": ("if os.fork() != 0:\n                os._exit(0)\n"
                      "            time.sleep(0.5)",
                      "task Train: the process exited with code 0 before the task returned"),
}


def check_failed_then_resumed(workdir: Path, script: Path, result, message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    time.sleep(1)  # a forked copy that outlived the task must not have written anything
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert record["error"] == message
    assert record["tasks"]["Before"]["status"] == "succeeded"
    assert record["tasks"]["Train"]["status"] == "failed"
    assert record["tasks"]["Train"]["error"] == message
    assert record["tasks"]["After"]["status"] == "pending"
    assert record["history"][-1]["execution"] == "fork"
    assert task_result(run_dir, "Before") == [1, 2, 3]
    assert not (workdir / "after.ran").exists()
    assert (run_dir / "error.log").read_text().strip()
    assert message in (run_dir / "run.log").read_text()
    assert not list(run_dir.glob(".crash*"))
    listed = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert listed[0]["status"] == "failed" and listed[0]["error"] == message

    (workdir / "crash").unlink()
    resumed = run_molexp("run", script, "--resume", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 2
    assert (workdir / "before.count").read_text() == "x"  # not run again
    assert task_result(run_dir, "Train") == {"before": [1, 2, 3]}
    assert task_result(run_dir, "After") == "after"


@pytest.mark.parametrize("kind", sorted(CRASHES))
def test_a_dying_task_fails_the_run_with_its_cause(workdir, kind):
    body, message = CRASHES[kind]
    script = write(workdir / "crashy.py", SCRIPT.format(body=body))
    (workdir / "crash").touch()
    result = run_molexp("run", script, cwd=workdir)
    check_failed_then_resumed(workdir, script, result, message)


def test_segfault_leaves_the_python_stack_in_error_log(workdir):
    script = write(workdir / "crashy.py", SCRIPT.format(
        body="os.kill(os.getpid(), signal.SIGSEGV)"))
    (workdir / "crash").touch()
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    text = (run_dir / "error.log").read_text()
    assert text.startswith("task Train: killed by SIGSEGV\n")
    assert "faulthandler" in text and f'File "{script}", line 15 in execute' in text
    assert "click" not in text  # molexp's own frames are left out


def test_sigkill_from_outside_is_recorded(workdir):
    script = write(workdir / "crashy.py", SCRIPT.format(body="time.sleep(60)"))
    (workdir / "crash").touch()
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = workdir / "train.pid"
    deadline = time.time() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the task never started"
        time.sleep(0.05)
    task_pid = int(pid_file.read_text())
    assert task_pid != proc.pid  # the task runs in the supervised child
    os.kill(task_pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)

    class Done:
        returncode, stdout, stderr = proc.returncode, out, err

    message = "task Train: killed by SIGKILL"
    check_failed_then_resumed(workdir, script, Done, message)
    assert "out of memory" not in err  # no OOM kill in this cgroup


HANG = """
import os, signal, time
from pathlib import Path
from molexp.workflow import Task

class Hang(Task):
    def execute(self, ctx):
        if os.environ.get("STUBBORN"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        Path("hang.pid").write_text(str(os.getpid()))
        time.sleep(60)
"""


def start_hanging(workdir: Path, env=None) -> subprocess.Popen:
    script = write(workdir / "hang.py", HANG)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            env=dict(os.environ, **(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    pid_file = workdir / "hang.pid"
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the task never started"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("sig,code,reason", [
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
])
def test_a_task_that_ignores_the_stop_is_killed_after_the_grace_period(workdir, sig, code,
                                                                        reason):
    proc = start_hanging(workdir, {"STUBBORN": "1", "MOLEXP_STOP_GRACE": "1"})
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "cancelled" and record["error"] == reason
    assert record["tasks"]["Hang"]["status"] == "cancelled"
    assert "killed after it did not stop" in (run_dir / "error.log").read_text()
    assert not alive(int((workdir / "hang.pid").read_text()))


def test_ctrl_c_to_the_whole_process_group_is_one_cancellation(workdir):
    # as a terminal does: SIGINT to molexp and its child at once
    script = write(workdir / "hang.py", HANG)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 30
    while not (workdir / "hang.pid").exists() or not (workdir / "hang.pid").read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "cancelled" and record["error"] == "interrupted (Ctrl-C)"
    assert "Traceback" not in err and "Traceback" not in (run_dir / "run.log").read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def test_killing_molexp_takes_the_task_with_it(workdir):
    proc = start_hanging(workdir)
    task_pid = int((workdir / "hang.pid").read_text())
    assert alive(task_pid)
    proc.kill()  # SIGKILL: the supervisor can record nothing
    proc.communicate(timeout=30)
    deadline = time.time() + 10
    while alive(task_pid):
        assert time.time() < deadline, "the task outlived molexp"
        time.sleep(0.1)
    (run_dir,) = run_dirs(workdir / "runs")
    listed = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert listed[0]["status"] == "interrupted"  # resumable, like any kill -9


IN_PROCESS = """
import os
from molexp.workflow import Task

class Where(Task):
    def execute(self, ctx):
        if os.environ.get("EXIT_NOW"):
            os._exit(0)
        return os.getpid()
"""


@pytest.mark.parametrize("how", [["--in-process"], []])
def test_in_process_runs_tasks_in_molexp_itself(workdir, how):
    script = write(workdir / "where.py", IN_PROCESS)
    env = {} if how else {"MOLEXP_IN_PROCESS": "1"}
    proc = subprocess.Popen(molexp_command() + ["run", str(script), *how], cwd=workdir,
                            env=dict(os.environ, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Where") == proc.pid
    record = read_record(run_dir)
    assert record["history"][-1]["execution"] == "in-process"
    assert record["pid"] == proc.pid


def test_in_process_behaves_as_before_on_os_exit(workdir):
    script = write(workdir / "where.py", IN_PROCESS)
    result = run_molexp("run", script, "--in-process", cwd=workdir, env={"EXIT_NOW": "1"})
    assert result.returncode == 0  # the task ended molexp itself: nothing recorded
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["status"] == "running"
    listed = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert listed[0]["status"] == "interrupted"


def test_supervised_task_runs_in_a_child_and_run_records_molexp(workdir):
    script = write(workdir / "where.py", IN_PROCESS)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Where") != proc.pid
    record = read_record(run_dir)
    assert record["pid"] == proc.pid  # the supervisor: what `molexp cancel` signals
    assert record["history"][-1]["execution"] == "fork"


@pytest.mark.parametrize("kind", ["sigsegv", "os_exit_3"])
def test_spawn_records_the_same_crash(workdir, kind):
    body, message = CRASHES[kind]
    script = write(workdir / "crashy.py", SCRIPT.format(body=body))
    (workdir / "crash").touch()
    result = run_molexp("run", script, cwd=workdir, env={"MOLEXP_START_METHOD": "spawn"})
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["error"] == message and record["history"][-1]["execution"] == "spawn"
    (workdir / "crash").unlink()
    resumed = run_molexp("run", script, "--resume", cwd=workdir,
                         env={"MOLEXP_START_METHOD": "spawn"})
    assert resumed.returncode == 0, resumed.stderr
    assert task_result(run_dir, "Train") == {"before": [1, 2, 3]}


def test_unknown_start_method_is_a_usage_error(workdir):
    script = write(workdir / "where.py", IN_PROCESS)
    result = run_molexp("run", script, cwd=workdir, env={"MOLEXP_START_METHOD": "thread"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "MOLEXP_START_METHOD" in result.stderr


def test_execute_supervises_too(workdir):
    script = write(workdir / "crashy.py", SCRIPT.format(body="os._exit(3)"))
    (workdir / "crash").touch()
    first = run_molexp("run", script, cwd=workdir)
    assert first.returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    again = run_molexp("execute", run_dir, cwd=workdir)
    assert again.returncode == 1
    assert "task Train: the process exited with code 3 before the task returned" \
        in again.stderr
    assert read_record(run_dir)["attempts"] == 2


def test_execute_run_from_a_thread_is_supervised(workdir):
    """The Python API may run a run from a worker thread, where signal handlers cannot be set."""
    import threading

    from molexp_core import execute_run

    script = write(workdir / "crashy.py", SCRIPT.format(body="os._exit(3)"))
    (workdir / "crash").touch()
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(execute_run(run_dir, quiet=True)))
    worker.start()
    worker.join(60)
    (outcome,) = outcomes
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.summary == "task Train: the process exited with code 3 before the task returned"
    (workdir / "crash").unlink()
    worker = threading.Thread(target=lambda: outcomes.append(execute_run(run_dir, quiet=True)))
    worker.start()
    worker.join(60)
    assert outcomes[-1].status == "succeeded", outcomes[-1].summary
    assert read_record(run_dir)["history"][-1]["execution"] == "fork"


def test_a_link_planted_as_the_crash_file_is_not_followed(workdir, tmp_path_factory):
    script = write(workdir / "crashy.py", SCRIPT.format(body="os._exit(3)"))
    (workdir / "crash").touch()
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    outside = tmp_path_factory.mktemp("outside") / "precious.txt"
    outside.write_text("keep me")
    (run_dir / ".crash.tmp").symlink_to(outside)
    (workdir / "crashy.py").write_text(SCRIPT.format(
        body="os.kill(os.getpid(), signal.SIGSEGV)"))
    again = run_molexp("execute", "--current-script", run_dir, cwd=workdir)
    assert again.returncode == 1
    assert "task Train: killed by SIGSEGV" in again.stderr
    assert outside.read_text() == "keep me"
    assert not (run_dir / ".crash.tmp").exists() and not (run_dir / ".crash.tmp").is_symlink()
