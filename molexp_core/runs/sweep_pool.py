"""Executing a sweep's points on this machine, ``jobs`` at a time, each in its own process.

The parent has already imported the script and prepared every point's run
directory.  It forks ``jobs`` workers (no interpreter start, no re-import); a
worker takes one point at a time and executes its run directory as ``molexp
execute`` would, supervised (``runs/supervisor.py``): the tasks run in a child
forked for that point, so a point that crashes, calls ``os._exit`` or leaks
state (module globals, the working directory) ends only its own process, and the
supervisor records how it died.  A worker that dies itself is replaced, and what
its point could not record is recorded here.  One fork per point, not one
interpreter start.

The points skip their own fsyncs; the parent makes all their writes durable with
one ``sync`` when the points end (after a power cut mid-sweep, ``--resume`` runs
again the points whose outcome did not reach the disk).  Ctrl-C or SIGTERM to the
parent reach the running points (they record ``cancelled``) and the points not
started yet are marked cancelled.  A Ctrl-C that reached only the parent (``kill
-INT PID``, a driver's ``send_signal``) is passed on as :data:`PASS_ON_INT`, which
a worker turns into a Ctrl-C for its point unless one already reached it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from molexp_core.runs import child as child_process
from molexp_core.runs import safe_files, supervisor
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError

POINT_OUTPUT = "job.out"  # a point's stdout and stderr (print() in its tasks)
NOT_STARTED = "the sweep was stopped before this point started"
PASS_ON_INT = signal.SIGUSR1  # parent -> worker: "Ctrl-C, unless you got it already"


class Stopped(BaseException):
    """SIGTERM reached the sweep's parent process (e.g. `molexp cancel SWEEP`)."""


class _Worker:
    __slots__ = ("pid", "tasks", "results", "current")

    def __init__(self, pid: int, tasks: int, results: int) -> None:
        self.pid, self.tasks, self.results = pid, tasks, results
        self.current: Optional[int] = None


def run_points(run_dirs: List[Path], workflow: Any, jobs: int,
               on_done: Optional[Callable[[int, str], None]] = None) -> Dict[int, str]:
    """Execute ``run_dirs`` (positions -> final status), ``jobs`` at a time.

    ``on_done(position, status)`` is called as each point ends.  Returns the
    final status of every point; raises KeyboardInterrupt (Ctrl-C) or
    :class:`Stopped` (SIGTERM) once the running points have recorded it.
    """
    import gc

    statuses: Dict[int, str] = {}
    queue = list(range(len(run_dirs)))
    queue.reverse()
    workers: List[_Worker] = []
    interrupted: Optional[BaseException] = None

    def done(position: int, status: str) -> None:
        statuses[position] = status
        if on_done is not None:
            on_done(position, status)

    def assign(worker: _Worker) -> None:
        if queue and interrupted is None:
            worker.current = queue.pop()
            os.write(worker.tasks, f"{worker.current}\n".encode())
        else:
            worker.current = None
            _close(worker, "tasks")  # EOF: the worker exits

    gc.freeze()  # fewer pages copied into the forked workers
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        for _ in range(min(max(1, jobs), len(queue))):
            worker = _start_worker(run_dirs, workflow)
            workers.append(worker)
            assign(worker)
        while any(w.current is not None for w in workers):
            busy = [w for w in workers if w.current is not None]
            try:
                ready = _readable([w.results for w in busy])
            except (KeyboardInterrupt, Stopped) as exc:
                interrupted = exc
                for worker in workers:
                    _close(worker, "tasks")
                    if worker.current is not None:  # its supervisor forwards it once
                        _signal(worker.pid, signal.SIGTERM if isinstance(exc, Stopped)
                                else PASS_ON_INT)
                continue
            for worker in [w for w in busy if w.results in ready]:
                data = os.read(worker.results, 256)
                if data:
                    position, _, status = data.decode().strip().partition(" ")
                    done(int(position), status or "failed")
                    assign(worker)
                    continue
                # the worker died with its point: record that, and replace it
                position = worker.current
                status = _reap(worker)
                done(position, _settle(run_dirs[position], status, interrupted is not None))
                workers.remove(worker)
                if queue and interrupted is None:
                    replacement = _start_worker(run_dirs, workflow)
                    workers.append(replacement)
                    assign(replacement)
    finally:
        for worker in workers:
            _close(worker, "tasks")
            _reap(worker)
        signal.signal(signal.SIGTERM, previous)
        gc.unfreeze()
        runstore.sync_all()  # the points' writes, durable together
    for position in queue:  # never started: interrupted
        done(position, _cancel_unstarted(run_dirs[position]))
    if interrupted is not None:
        raise KeyboardInterrupt() if isinstance(interrupted, KeyboardInterrupt) else interrupted
    return statuses


def _readable(fds: List[int]) -> List[int]:
    """The fds of ``fds`` ready to read, waiting until one is: ``poll``, which has
    no limit on fd numbers (``select`` fails above 1,023, e.g. when molexp
    inherited many open files)."""
    import selectors

    kind = getattr(selectors, "PollSelector", selectors.DefaultSelector)
    with kind() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        return [key.fd for key, _ in selector.select()]


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stopped()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _close(worker: _Worker, which: str) -> None:
    fd = getattr(worker, which)
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
        setattr(worker, which, -1)


def _reap(worker: _Worker) -> Optional[int]:
    _close(worker, "results")
    if worker.pid <= 0:
        return None
    try:
        _, status = os.waitpid(worker.pid, 0)
    except ChildProcessError:
        status = None
    worker.pid = -1
    return status


def _start_worker(run_dirs: List[Path], workflow: Any) -> _Worker:
    task_r, task_w = os.pipe()
    result_r, result_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        os.close(task_r)
        os.close(result_w)
        return _Worker(pid, task_w, result_r)
    code = 0
    try:  # the worker: never returns into the CLI
        # killed with the sweep's process (kill -9 included), and its point with it:
        # a point never runs on with no process left to own the sweep
        child_process._die_with_parent(parent)
        os.close(task_w)
        os.close(result_r)
        _serve(run_dirs, workflow, task_r, result_w)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - the parent records the point as failed
        code = 70
    finally:
        os._exit(code)


def _serve(run_dirs: List[Path], workflow: Any, task_r: int, result_w: int) -> None:
    from molexp_core.runs.executor import execute_run

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # idle: SIGTERM just ends the worker
    signal.signal(PASS_ON_INT, _pass_on_interrupt(os.getpid()))
    runstore.defer_sync()  # the parent syncs every point's writes at once
    _preimport(workflow)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    while True:
        line = os.read(task_r, 64).decode().strip()
        if not line:
            return  # EOF: no more points
        position = int(line)
        _redirect(run_dirs[position])
        try:
            # always supervised, whatever $MOLEXP_IN_PROCESS says: each point gets a
            # fresh process, so no module state passes from one point to the next
            status = execute_run(run_dirs[position], workflow, quiet=True,
                                 in_process=False).status
        except MolexpError as exc:  # e.g. its lock is held: it was not ours to run
            print(f"Error: {exc.format_message()}", file=sys.stderr)
            status = _status_of(run_dirs[position])
        os.write(result_w, f"{position} {status}\n".encode())


def _pass_on_interrupt(worker_pid: int) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != worker_pid or supervisor.request_stop(signal.SIGINT):
            return  # the point's supervisor stops it: cancelled, interrupted (Ctrl-C)
        raise KeyboardInterrupt()  # no point supervised yet: the parent settles it

    return handler


def _preimport(workflow: Any) -> None:
    """Import once, here, what each point's process would otherwise import afresh:
    the supervised child's own modules, and asyncio when a task is a coroutine."""
    import importlib
    import inspect

    names = ["faulthandler", "inspect", "traceback"]
    if sys.platform.startswith("linux"):
        names.append("ctypes")  # the child's PR_SET_PDEATHSIG
    try:
        if any(inspect.iscoroutinefunction(getattr(task, "execute", None))
               for _, task in workflow.named_tasks()):
            names.append("asyncio")
    except Exception:  # noqa: BLE001 - only an optimisation
        pass
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _status_of(run_dir: Path) -> str:
    try:
        return runstore.read_run(run_dir).get("status") or "failed"
    except MolexpError:
        return "failed"


def _redirect(run_dir: Path) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    out = safe_files.open_append(Path(run_dir) / POINT_OUTPUT)  # never through a link
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)


def _settle(run_dir: Path, wait_status: Optional[int], stopping: bool = False) -> str:
    """The point's final status; what its process could not record, recorded here."""
    try:
        record = runstore.read_run(run_dir)
    except MolexpError:
        return "failed"
    if record.get("status") in ("succeeded", "failed", "cancelled"):
        return record["status"]
    final = "cancelled" if stopping else "failed"
    if wait_status is None:
        reason = "the point's process vanished (its exit status is unknown)"
    elif stopping:
        reason = NOT_STARTED if not (record.get("history")) else "the sweep was stopped"
    elif os.WIFSIGNALED(wait_status):
        reason = ("the point's process was killed by "
                  f"{supervisor.signal_name(os.WTERMSIG(wait_status))}")
    else:
        reason = (f"the point's process exited with code {os.WEXITSTATUS(wait_status)} "
                  "before the run finished")

    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") in ("succeeded", "failed", "cancelled"):
            return
        rec["status"] = final
        rec["finished_at"] = runstore.now_iso()
        rec["error"] = reason
        for name, task in (rec.get("tasks") or {}).items():
            if task.get("status") == "running":
                task["status"] = final
                task["error"] = reason
                task["finished_at"] = rec["finished_at"]
        if rec.get("history"):
            rec["history"][-1].update(status=final, finished_at=rec["finished_at"])

    try:
        return runstore.update_run(run_dir, mark)["status"]
    except MolexpError:
        return final


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
