"""A supervised task's process ends as `python script.py` would, and only it records the run.

Real processes of the installed molexp: module-level files, atexit handlers and
non-daemon threads under the supervisor (fork and spawn, run, execute, a sweep's
point, --in-process), processes a task forks that exit or raise later, and
SIGINT inherited as ignored (a background job of a non-interactive shell).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

# Everything a plain `python script.py` keeps at its end: a module-level file's
# buffer (written at import and by the task), a gzip file's trailer, atexit handlers
# registered at import and by the task (each exactly once), a non-daemon thread.
ENDING = '''
import atexit, gzip, os, sys, threading, time
from pathlib import Path
from molexp.workflow import Task

HERE = Path(__file__).resolve().parent
LOG = open(HERE / "out.txt", "w")
LOG.write("import\\n")
PACKED = gzip.open(HERE / "packed.gz", "wt")

def _say(what):
    with open(HERE / "atexit.txt", "a") as handle:
        handle.write(f"{what} {os.getpid()}\\n")

atexit.register(_say, "import-time")

class Work(Task):
    def execute(self, ctx):
        LOG.write("task\\n")
        PACKED.write("x" * 10000)
        atexit.register(_say, "task-time")
        def late():
            time.sleep(0.5)
            (HERE / "thread.txt").write_text("done")
        threading.Thread(target=late).start()
        return "ok"

if __name__ == "__main__":
    Work().execute(None)
'''


def _check_ending(workdir: Path) -> None:
    assert (workdir / "out.txt").read_text() == "import\ntask\n"
    with gzip.open(workdir / "packed.gz", "rt") as handle:  # the trailer was written
        assert handle.read() == "x" * 10000
    said = (workdir / "atexit.txt").read_text().split()
    assert sorted(said[0::2]) == ["import-time", "task-time"], said  # each once
    assert len(set(said[1::2])) == 1  # in one process: the one that ran the task
    assert (workdir / "thread.txt").read_text() == "done"


def test_plain_python_keeps_everything(workdir):
    """The yardstick: what `python script.py` does with the same script."""
    script = write(workdir / "ending.py", ENDING)
    subprocess.run([sys.executable, str(script)], cwd=workdir, check=True, timeout=60)
    _check_ending(workdir)


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("how", ["run", "execute", "sweep", "in-process"])
def test_a_supervised_task_ends_as_python_would(workdir, method, how):
    script = write(workdir / "ending.py", ENDING)
    args = {"run": [], "in-process": ["--in-process"], "sweep": ["--sweep", "x=1"],
            "execute": ["--detach"]}[how]  # --detach: `molexp execute` in the background
    result = run_molexp("run", script, *args, cwd=workdir,
                        env={"MOLEXP_START_METHOD": method})
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    deadline = time.time() + 60
    while read_record(run_dir)["status"] != "succeeded" and time.time() < deadline:
        time.sleep(0.05)
    record = read_record(run_dir)
    assert record["status"] == "succeeded"
    deadline = time.time() + 30  # `molexp execute` itself ends a moment later
    while how == "execute" and _alive(record["pid"]) and time.time() < deadline:
        time.sleep(0.05)
    _check_ending(workdir)
    said = (workdir / "atexit.txt").read_text().split()
    if how != "in-process":  # in the task's process, not in the supervising molexp
        assert str(record["pid"]) not in said[1::2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


STUCK_THREAD = '''
import threading
from molexp.workflow import Task

class Work(Task):
    def execute(self, ctx):
        threading.Thread(target=threading.Event().wait, name="stuck-writer").start()
        return 1
'''


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_thread_that_never_ends_is_waited_for_only_the_grace_period(workdir, method):
    script = write(workdir / "stuck.py", STUCK_THREAD)
    started = time.monotonic()
    result = run_molexp("run", script, cwd=workdir, timeout=60,
                        env={"MOLEXP_STOP_GRACE": "1", "MOLEXP_START_METHOD": method})
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert took < 30
    assert "thread 'stuck-writer' still running 1s after the tasks ended" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["status"] == "succeeded"
    assert "'stuck-writer' still running" in (run_dir / "run.log").read_text()


# -- processes a task forks ---------------------------------------------------
HELPER = '''
import os, signal, sys, time
from pathlib import Path
from molexp.workflow import Task

HERE = Path(__file__).resolve().parent

class Work(Task):
    def execute(self, ctx):
        if os.fork() == 0:  # a helper: outlives the run, then ends badly
            (HERE / "helper.pid").write_text(str(os.getpid()))
            while not (HERE / "go").exists():
                time.sleep(0.05)
            ENDING
        return "main"
'''
ENDINGS = {
    "sys_exit": "sys.exit(3)",
    "raises": "raise RuntimeError('the helper failed')",
    "returns": "return 'helper'",
    "ctrl_c": "raise KeyboardInterrupt()",
    "sigterm": "os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)",
}


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"helper {pid} still running")


@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("mode", ["fork", "spawn", "in-process"])
def test_a_forked_helper_never_rewrites_the_finished_run(workdir, ending, mode):
    script = write(workdir / "helper.py", HELPER.replace("ENDING", ENDINGS[ending]))
    args = ["run", str(script)] + (["--in-process"] if mode == "in-process" else [])
    env = dict(os.environ, MOLEXP_START_METHOD="spawn" if mode == "spawn" else "fork")
    with open(workdir / "molexp.out", "w") as out:  # the helper keeps its own copy
        code = subprocess.run(molexp_command() + args, cwd=workdir, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=120).returncode
    assert code == 0, (workdir / "molexp.out").read_text()
    (run_dir,) = run_dirs(workdir / "runs")
    before = (run_dir / "run.json").read_bytes()
    assert read_record(run_dir)["status"] == "succeeded"
    helper = int((workdir / "helper.pid").read_text())
    (workdir / "go").touch()
    _wait_gone(helper)
    assert (run_dir / "run.json").read_bytes() == before  # not even rewritten
    assert not (run_dir / "error.log").exists()
    assert "ERROR" not in (run_dir / "run.log").read_text()
    assert len(run_dirs(workdir / "runs")) == 1


def test_a_process_forked_at_import_does_not_run_the_run_again(workdir):
    script = write(workdir / "forks.py", '''
        import os
        from pathlib import Path
        from molexp.workflow import Task

        if os.fork() == 0:
            Path("helper.pid").write_text(str(os.getpid()))  # then the script ends for it

        class Work(Task):
            def execute(self, ctx):
                return 1
    ''')
    with open(workdir / "molexp.out", "w") as out:
        code = subprocess.run(molexp_command() + ["run", str(script)], cwd=workdir,
                              stdout=out, stderr=subprocess.STDOUT, timeout=120).returncode
    text = (workdir / "molexp.out").read_text()
    assert code == 0, text
    _wait_gone(int((workdir / "helper.pid").read_text()))
    assert len(run_dirs(workdir / "runs")) == 1, text
    assert text.count("succeeded") == 1 and "Error" not in text


# -- SIGINT inherited as ignored --------------------------------------------
SLEEPER = '''
import time
from pathlib import Path
from molexp.workflow import Task

class Sleep(Task):
    def execute(self, ctx):
        Path(f"started-{ctx.run_id}").touch()
        time.sleep(60)
'''


def _ignoring_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `molexp ... &` from a script


@pytest.mark.parametrize("args, points", [
    (["--sweep", "x=1,2,3", "-j", "2"], 2),
    (["--in-process"], 1),
    ([], 1),
])
def test_kill_int_stops_molexp_started_with_sigint_ignored(workdir, args, points):
    script = write(workdir / "sleeper.py", SLEEPER)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)] + args, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignoring_sigint)
    try:
        deadline = time.time() + 60
        while len(list(workdir.glob("started-*"))) < points and time.time() < deadline:
            time.sleep(0.05)
        assert len(list(workdir.glob("started-*"))) == points
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    statuses = {read_record(d)["status"] for d in run_dirs(workdir / "runs")}
    assert statuses == {"cancelled"}, statuses
