"""Supervising a run: its tasks execute in a child process, the parent records how it ended.

Scientific code dies in ways Python cannot catch: a segfault in a native
extension, the kernel's OOM killer, ``os._exit`` in a library.  So ``molexp run``
and ``molexp execute`` fork a child that executes the run (the executor's own
bookkeeping and the tasks) and wait for it.  The child reports its outcome on a
pipe as it ends; when it ends without one, the parent records what happened: the
task that was running and the run are ``failed`` with the cause ("task Train:
killed by SIGSEGV"), earlier tasks stay ``succeeded`` (``--resume`` continues
from the failed task), and a segfault's Python stack (``faulthandler``) goes to
``error.log``.

Ctrl-C and SIGTERM reach the child (forwarded once; a child that does not stop
within ``$MOLEXP_STOP_GRACE`` seconds, default 10, or at a second Ctrl-C, is
killed) and the run ends ``cancelled``.  A child never outlives its parent: on
Linux the kernel kills it when the parent dies (``PR_SET_PDEATHSIG``), elsewhere
a thread polls the parent.

Fork where the platform has it and it is safe (Linux and the BSDs): the parent
has already imported molexp and the script.  Spawn on macOS and where there is
no fork: a fresh interpreter imports the script itself.  ``$MOLEXP_START_METHOD``
(``fork`` or ``spawn``) overrides the choice.  See docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from molexp_core import timings
from molexp_core.runs import child as child_process
from molexp_core.runs import teardown
from molexp_core.runs import safe_files
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError, MolexpUsageError

IN_PROCESS_ENV = "MOLEXP_IN_PROCESS"
START_METHOD_ENV = "MOLEXP_START_METHOD"
GRACE_ENV = teardown.GRACE_ENV
DEFAULT_GRACE = teardown.DEFAULT_GRACE
CRASH_FILE = ".crash.tmp"  # faulthandler's output while the child runs
ERROR_FILE = "error.log"
MAX_REPORT = 64 * 1024
STOPS = {signal.SIGINT: ("interrupted (Ctrl-C)", 130),
         signal.SIGTERM: ("terminated (SIGTERM)", 143)}

Outcome = Tuple[str, str, int]  # status, summary, exit code


def in_process(flag: Optional[bool] = None) -> bool:
    """``--in-process`` when given, else ``$MOLEXP_IN_PROCESS``."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(IN_PROCESS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def start_method() -> str:
    chosen = os.environ.get(START_METHOD_ENV, "").strip().lower()
    if chosen:
        if chosen not in ("fork", "spawn") or (chosen == "fork" and not hasattr(os, "fork")):
            raise MolexpUsageError(
                f"${START_METHOD_ENV} is {chosen!r}; use fork or spawn"
                + ("" if hasattr(os, "fork") else " (this platform has no fork)"))
        return chosen
    if hasattr(os, "fork") and sys.platform != "darwin":
        return "fork"
    return "spawn"  # macOS: system libraries are not fork-safe (as multiprocessing decides)


_ACTIVE: Optional["_Guard"] = None  # the run this process is supervising now


def request_stop(signum: int) -> bool:
    """Stop the run this process supervises as ``signum`` would, unless it is already
    stopping or that signal is pending here (a group Ctrl-C reached it too): the
    sweep parent's way to pass on a Ctrl-C that reached only itself, without
    it counting as a second Ctrl-C.  False when no run is being supervised."""
    guard = _ACTIVE
    if guard is None or guard.child is None:
        return False
    if guard.stop is None and not set(signal.sigpending()) & set(STOPS):
        guard._on_stop(signum, None)
    return True


def supervise(run_dir: Path, run_id: str, body: Callable[[], Outcome],
              spawn_args: Callable[[], list], method: str,
              attempts: Optional[int] = None) -> Outcome:
    """Execute ``body`` (the run) in a child process; return how the run ended.

    ``body`` runs in a forked child; with ``spawn``, ``spawn_args()`` is the
    command line of a fresh interpreter that does the same (``child.main``).
    """
    run_dir = Path(run_dir)
    guard = _Guard(run_dir, run_id, attempts)
    return guard.run(body, spawn_args, method)


class _Guard:
    def __init__(self, run_dir: Path, run_id: str, attempts: Optional[int] = None) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.attempts = attempts  # the record's count before this attempt, when known
        self.child: Optional[int] = None
        self.stop: Optional[int] = None  # the signal that asked the run to stop
        self.killed = False  # the child was killed after the grace period

    def run(self, body, spawn_args, method: str) -> Outcome:
        global _ACTIVE
        crash = self.run_dir / CRASH_FILE
        oom_before = oom_kills()
        read_fd, write_fd = os.pipe()
        stops = (signal.SIGINT, signal.SIGTERM)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            previous = {sig: signal.signal(sig, self._on_stop) for sig in stops}
            previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
        except ValueError:  # not the main thread (an API caller's): it handles signals
            previous = {}
        _ACTIVE = self
        try:
            try:
                timings.mark("supervise")
                if method == "fork":
                    self.child = child_process.fork(body, read_fd, write_fd, crash, blocked)
                else:
                    self.child = _spawn(spawn_args(), write_fd, crash)
                timings.mark(method)
            except OSError as exc:
                os.close(read_fd)
                raise MolexpError(f"cannot start the run's process ({method}): "
                                  f"{exc.strerror or exc}") from exc
            os.close(write_fd)
            write_fd = -1
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            status = _wait(self.child)
            timings.mark("child")
        finally:
            _ACTIVE = None
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if self.stop is not None:  # the grace timer was armed here
                signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if write_fd >= 0:
                os.close(write_fd)
        report = _read_report(read_fd, self.child)
        dump = _take(crash)
        if report is not None:
            return report
        return self._settle(status, dump, oom_before)

    # -- signals (the parent's) -------------------------------------------
    def _on_stop(self, signum: int, frame: Any) -> None:
        if self.child is None:
            return
        if self.stop is None:
            self.stop = signum
            _signal(self.child, signum)  # one forward; the child ignores repeats
            signal.setitimer(signal.ITIMER_REAL, _grace())
        else:  # asked again: stop now
            self.killed = True
            _signal(self.child, signal.SIGKILL)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self.child is not None and self.stop is not None:
            self.killed = True
            _signal(self.child, signal.SIGKILL)

    # -- what the child could not record ----------------------------------
    def _settle(self, wait_status: Optional[int], dump: str, oom_before: Optional[int]) -> Outcome:
        try:
            record = runstore.read_run(self.run_dir)
        except MolexpError as exc:
            return "failed", exc.format_message(), 1
        if self._ended(record):
            error = record.get("error") or ""
            code = {"succeeded": 0, "failed": 1}.get(
                record["status"], 143 if "SIGTERM" in error else 130)
            return record["status"], error, code
        tasks = record.get("tasks") or {}
        task = next((n for n, t in tasks.items() if (t or {}).get("status") == "running"), None)
        if self.stop is not None:
            reason, code = STOPS[self.stop]
            status = "cancelled"
            if self.killed:
                detail = f"{reason}; killed after it did not stop"
            else:
                detail = reason
        else:
            status, code = "failed", 1
            cause = describe(wait_status, task is not None, oom_before)
            if task:
                reason = detail = f"task {task}: {cause}"
            else:  # "the run's process exited with code 70 ...", "... was killed by SIGSEGV"
                cause = cause[len("the process "):] if cause.startswith("the process ") \
                    else f"was {cause}" if cause.startswith("killed") else cause
                reason = detail = f"the run's process {cause}"
        self._record(status, reason, task)
        text = detail
        if dump.strip():
            text += ("\n\nPython's stack when the process died (faulthandler):\n"
                     + _trim(dump).rstrip() + "\n")
        elif status == "failed":
            text += ("\n\nNo Python traceback: the process died outside Python's control "
                     "(a signal, or os._exit()).\n")
        try:
            safe_files.write_atomic(self.run_dir / ERROR_FILE, text.encode("utf-8", "replace"),
                                    durable=False)
        except (OSError, MolexpError):
            pass  # e.g. a link planted as error.log: run.json and run.log still say it
        from molexp_core.runs.log import RunLog

        try:
            RunLog(self.run_dir, self.run_id, True).failure(text.rstrip())
        except (OSError, MolexpError):
            pass
        return status, reason, code

    def _ended(self, record: Dict[str, Any]) -> bool:
        """The record says how this attempt ended (not an earlier attempt's end,
        left as it was because this one died before it started)."""
        if record.get("status") not in ("succeeded", "failed", "cancelled"):
            return False
        return self.attempts is None or int(record.get("attempts") or 0) > self.attempts

    def _record(self, status: str, reason: str, task: Optional[str]) -> None:
        def mark(rec: Dict[str, Any]) -> None:
            if self._ended(rec):
                return
            now = runstore.now_iso()
            rec["status"], rec["finished_at"], rec["error"] = status, now, reason
            for name, entry in (rec.get("tasks") or {}).items():
                if (entry or {}).get("status") == "running":
                    entry.update(status=status, finished_at=now, error=reason)
            if rec.get("history"):
                rec["history"][-1].update(status=status, finished_at=now)

        try:
            runstore.update_run(self.run_dir, mark)
        except MolexpError:
            pass


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 99`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe(wait_status: Optional[int], in_task: bool, oom_before: Optional[int]) -> str:
    """How a process ended, in words: "killed by SIGSEGV", "exited with code 3 ..."."""
    if wait_status is None:
        return "vanished (its exit status is unknown)"
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        text = f"killed by {signal_name(number)}"
        if number == signal.SIGKILL:
            after = oom_kills()
            if after is not None and oom_before is not None and after > oom_before:
                text += " (out of memory?)"
        return text
    code = os.waitstatus_to_exitcode(wait_status)
    what = "the task returned" if in_task else "the run finished"
    return f"the process exited with code {code} before {what}"


def oom_kills() -> Optional[int]:
    """The OOM killer's count for this process's cgroup (v2, or v1's memory controller)."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            lines = handle.read(4096).splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            candidate = f"/sys/fs/cgroup{path}/memory.events"
        elif "memory" in controllers.split(","):
            candidate = f"/sys/fs/cgroup/memory{path}/memory.oom_control"
        else:
            continue
        try:
            with open(candidate, encoding="utf-8") as handle:
                for field in handle.read(4096).splitlines():
                    key, _, value = field.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit():
                        return int(value)
        except OSError:
            continue
    return None


def _spawn(argv: list, write_fd: int, crash: Path) -> int:
    import subprocess

    env = dict(os.environ, MOLEXP_SUPERVISOR_FD=str(write_fd),
               MOLEXP_SUPERVISOR_PID=str(os.getpid()), MOLEXP_CRASH_FILE=str(crash))
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.Popen(argv, pass_fds=(write_fd,), env=env).pid


# -- the parent --------------------------------------------------------------
def _wait(pid: int) -> Optional[int]:
    while True:
        try:
            _, status = os.waitpid(pid, 0)  # retried after a signal (PEP 475)
            return status
        except ChildProcessError:
            return None


def _read_report(read_fd: int, child: Optional[int]) -> Optional[Outcome]:
    """The child's outcome, if it reported one (a process it forked may hold the pipe)."""
    try:
        os.set_blocking(read_fd, False)
        data = os.read(read_fd, MAX_REPORT)
    except (BlockingIOError, OSError):
        data = b""
    finally:
        os.close(read_fd)
    try:
        message = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("pid") != child:
        return None
    status, summary, code = message.get("status"), message.get("summary"), message.get("code")
    if status not in runstore.STATUSES or not isinstance(summary, str) \
            or not isinstance(code, int):
        return None
    return status, summary, code


def _take(path: Path) -> str:
    """The child's faulthandler output (its start), and the scratch file gone."""
    text = ""
    try:
        fd = safe_files.open_regular(path, os.O_RDONLY)
        try:
            text = os.read(fd, MAX_REPORT).decode("utf-8", "replace")
        finally:
            os.close(fd)
    except (OSError, MolexpError):
        pass
    try:
        os.unlink(path)  # a link planted there is removed, never followed
    except OSError:
        pass
    return text


def _trim(dump: str) -> str:
    """faulthandler's stack without the frames of molexp and the CLI under the task."""
    lines, skipping = [], False
    for line in dump.splitlines():
        if not line.startswith("  File "):
            skipping = False
        elif skipping or f"{os.sep}molexp_core{os.sep}runs{os.sep}executor.py" in line:
            if not skipping:
                lines.append("  ... (molexp's own frames)")
            skipping = True
            continue
        lines.append(line)
    return "\n".join(lines)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _grace() -> float:
    return teardown.stop_grace()
