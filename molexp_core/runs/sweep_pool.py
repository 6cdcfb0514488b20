"""Executing a sweep's points on this machine: each in its own forked process.

The parent has already imported the script and prepared every point's run
directory; each point forks from it (no interpreter start, no re-import) and
executes its run directory as ``molexp execute`` would.  A point that crashes,
calls ``os._exit`` or leaks state ends only its own process: the parent records
what the child could not (the exit code or signal) and goes on with the others,
``jobs`` at a time.  Ctrl-C or SIGTERM to the parent reach the running points
(they record ``cancelled``) and the points not started yet are marked cancelled.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from molexp_core.runs import safe_files
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError

POINT_OUTPUT = "job.out"  # a point's stdout and stderr (print() in its tasks)
NOT_STARTED = "the sweep was stopped before this point started"


class Stopped(BaseException):
    """SIGTERM reached the sweep's parent process (e.g. `molexp cancel SWEEP`)."""


def run_points(run_dirs: List[Path], workflow: Any, jobs: int,
               on_done: Optional[Callable[[int, str], None]] = None) -> Dict[int, str]:
    """Execute ``run_dirs`` (positions -> final status), ``jobs`` at a time.

    ``on_done(position, status)`` is called as each point ends.  Returns the
    final status of every point; raises KeyboardInterrupt after a Ctrl-C once
    the running points have recorded their cancellation.
    """
    statuses: Dict[int, str] = {}
    running: Dict[int, int] = {}  # pid -> position
    queue = list(range(len(run_dirs)))
    queue.reverse()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    interrupted: Optional[BaseException] = None
    try:
        while queue or running:
            try:
                while queue and len(running) < max(1, jobs) and interrupted is None:
                    position = queue.pop()
                    running[_fork(run_dirs[position], workflow)] = position
                if not running:
                    break
                pid, status = os.wait()
            except (KeyboardInterrupt, Stopped) as exc:
                interrupted = exc
                for pid in running:  # Ctrl-C reached them already; SIGTERM did not
                    if isinstance(exc, Stopped):
                        _signal(pid, signal.SIGTERM)
                continue
            except ChildProcessError:
                break
            position = running.pop(pid, None)
            if position is None:
                continue
            statuses[position] = _settle(run_dirs[position], status)
            if on_done is not None:
                on_done(position, statuses[position])
    finally:
        signal.signal(signal.SIGTERM, previous)
    for position in queue:  # never started: interrupted
        statuses[position] = _cancel_unstarted(run_dirs[position])
        if on_done is not None:
            on_done(position, statuses[position])
    if interrupted is not None:
        raise KeyboardInterrupt() if isinstance(interrupted, KeyboardInterrupt) else interrupted
    return statuses


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stopped()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _fork(run_dir: Path, workflow: Any) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:  # the child: never returns into the CLI
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _redirect(run_dir)
        from molexp_core.runs.executor import execute_run

        code = execute_run(run_dir, workflow, quiet=True).exit_code
    except BaseException:  # noqa: BLE001 - whatever happens, the parent records it
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _redirect(run_dir: Path) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out = safe_files.open_append(Path(run_dir) / POINT_OUTPUT)  # never through a link
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)


def _settle(run_dir: Path, wait_status: int) -> str:
    """The point's final status; what its process could not record, recorded here."""
    try:
        record = runstore.read_run(run_dir)
    except MolexpError:
        return "failed"
    if record.get("status") in ("succeeded", "failed", "cancelled"):
        return record["status"]
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        reason = f"the point's process was killed by {name}"
    else:
        reason = (f"the point's process exited with code {os.WEXITSTATUS(wait_status)} "
                  "before the run finished")

    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") in ("succeeded", "failed", "cancelled"):
            return
        rec["status"] = "failed"
        rec["finished_at"] = runstore.now_iso()
        rec["error"] = reason
        for name, task in (rec.get("tasks") or {}).items():
            if task.get("status") == "running":
                task["status"] = "failed"
                task["error"] = reason
                task["finished_at"] = rec["finished_at"]
        if rec.get("history"):
            rec["history"][-1].update(status="failed", finished_at=rec["finished_at"])

    try:
        return runstore.update_run(run_dir, mark)["status"]
    except MolexpError:
        return "failed"


def _cancel_unstarted(run_dir: Path) -> str:
    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") in ("created", "submitted"):
            rec["status"] = "cancelled"
            rec["finished_at"] = runstore.now_iso()
            rec["error"] = NOT_STARTED

    try:
        return runstore.update_run(run_dir, mark)["status"]
    except MolexpError:
        return "cancelled"
