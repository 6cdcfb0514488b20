"""Executing a prepared run directory: tasks in order, every step recorded.

A task that already succeeded in an earlier attempt is not run again: its stored
result is handed to later tasks (``ctx.results``).  Ctrl-C and SIGTERM leave the
run ``cancelled``; an exception leaves the task and the run ``failed`` with the
traceback in ``error.log``.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core import process, timings
from molexp_core.version import __version__
from molexp_core.runs import processes
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError
from molexp_core.config.profile_config import ProfileConfig, freeze
from molexp_core.runs.integrity import check_run
from molexp_core.runs.log import RunLog
from molexp_core.runs.result_files import (  # noqa: F401  (re-exported)
    RESULTS_DIR, ResultRefused, ResultUnavailable, load_result, result_name, store_result,
    stored_result)
from molexp_core.runs.results import NO_VALUE, NotJSONData, Unreadable, to_json_data
from molexp_core.runs.fingerprint import task_fingerprint
from molexp_core.runs.reuse import ReusePlan, drop_vanished
from molexp_core.runs import code_of_record, job_guard
from molexp_core.runs import child as child_process
from molexp_core.runs import failures, supervisor, teardown
from molexp_core.runs.workflow import TaskContext, Workflow, load_script

ERROR_FILE = "error.log"
SCRIPT_COPY = code_of_record.SCRIPT_COPY


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives (e.g. ``scancel``)."""


class RunOutcome:
    """How an execution ended; ``already_done``: the run had succeeded before, and
    nothing ran."""

    def __init__(self, run_dir: Path, status: str, summary: str = "", exit_code: int = 0,
                 already_done: bool = False):
        self.run_dir = run_dir
        self.status = status
        self.summary = summary
        self.exit_code = exit_code
        self.already_done = already_done


def execute_run(
    run_dir: Path,
    workflow: Optional[Workflow] = None,
    quiet: bool = False,
    lock: Optional[runstore.ExecutionLock] = None,
    in_process: Optional[bool] = None,
    current_script: bool = False,
    job_id: Optional[str] = None,
    submission: Optional[str] = None,
) -> RunOutcome:
    """Execute ``run_dir`` under its execution lock; return how it ended.

    ``lock``: the lock when the caller already holds it (it is released here).
    The tasks run in a supervised child process (``runs/supervisor.py``) unless
    ``in_process`` (default: ``$MOLEXP_IN_PROCESS``) says to run them here.
    Without ``workflow`` the run's stored snapshot is imported (``current_script``:
    the file at the recorded path, as it is now, snapshotted first).
    ``job_id``/``submission``: the scheduler job executing it and its submission
    token (``runs/job_guard.py``): a job that is not the run's ends with status
    ``skipped`` and nothing written; the attempt records ``job_id``.
    """
    run_dir = Path(run_dir).absolute()
    runstore.read_run(run_dir)  # a clear error for a directory that is no run
    try:
        lock = lock or job_guard.acquire(run_dir, job_id, submission)
    except job_guard.NotThisJob as refused:
        return RunOutcome(run_dir, "skipped", refused.format_message())
    try:
        record = runstore.read_run(run_dir)  # fresh, now that we hold the lock
        if record.get("status") == "succeeded":
            return RunOutcome(run_dir, "succeeded", "already succeeded; nothing to do",
                              already_done=True)
        check_run(run_dir, record)  # never execute values the config_hash does not describe
        if supervisor.in_process(in_process):
            return _Execution(run_dir, record, workflow, quiet, "in-process",
                              current_script=current_script, job_id=job_id).run()
        method = supervisor.start_method()
        execution = _Execution(run_dir, record, workflow if method == "fork" else None,
                               quiet, method, os.getpid(), current_script, job_id)

        def body() -> tuple:
            outcome = execution.run()
            return outcome.status, outcome.summary, outcome.exit_code

        def spawn_args() -> list:
            return [sys.executable, "-c", "from molexp_core.runs.executor import "
                    "spawned_child; spawned_child()", str(run_dir), "1" if quiet else "0",
                    "1" if current_script else "0", job_id or ""]

        status, summary, code = supervisor.supervise(
            run_dir, record.get("run_id", run_dir.name), body, spawn_args, method,
            int(record.get("attempts") or 0))
        return RunOutcome(run_dir, status, summary, code)
    finally:
        lock.release()


def spawned_child() -> None:
    """A spawned supervised child (``$MOLEXP_START_METHOD=spawn``, macOS): run the run."""
    process.own_process()
    run_dir, quiet = Path(sys.argv[1]), sys.argv[2] == "1"
    current_script = sys.argv[3:4] == ["1"]
    job_id = (sys.argv[4:5] or [""])[0] or None

    def body() -> tuple:
        record = runstore.read_run(run_dir)
        outcome = _Execution(run_dir, record, None, quiet, "spawn", os.getppid(),
                             current_script, job_id).run()
        return outcome.status, outcome.summary, outcome.exit_code

    child_process.main(body)


class _Execution:
    def __init__(self, run_dir: Path, record: Dict[str, Any], workflow, quiet: bool,
                 mode: str = "in-process", supervisor_pid: Optional[int] = None,
                 current_script: bool = False, job_id: Optional[str] = None):
        self.mode = mode  # recorded in the attempt's history: fork, spawn or in-process
        self.job_id = job_id  # the scheduler job executing this attempt, if it said
        self.supervisor_pid = supervisor_pid  # the process that records a crash
        self.current_script = current_script
        self.code: Optional[code_of_record.Code] = None  # what this attempt executes
        self.run_dir = run_dir
        self.record = record
        self.workflow = workflow
        self.quiet = quiet
        self.log = RunLog(run_dir, record.get("run_id", run_dir.name), quiet)
        # a task's success is written together with the next write (the next task's
        # start, or the run's end), a moment later: one write per task, not two
        self._pending: Optional[tuple] = None
        self._names: list = []  # the workflow's task names, in order, once loaded
        self._loop = None
        self.owner: Optional[int] = None  # the process executing the run: it alone records

    def run(self) -> RunOutcome:
        self.owner = os.getpid()
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_terminated)
        cwd = os.getcwd()
        try:
            self.code = code_of_record.choose(self.run_dir, self.record, self.workflow,
                                              self.current_script, self.log)
            self._start()
            timings.mark("attempt")
            if self.workflow is None:
                _enter(self.record.get("cwd") or cwd)
                self.workflow = load_script(Path(self.record["script"]), self.code.data)
                for note in self.workflow.notes:  # classes discovery did not run
                    self.log.note(f"note: {note}")
                timings.mark("script")
            return self._run_tasks()
        except MolexpError as exc:  # script could not be loaded on the node
            message = failures.long_error(self.run_dir, exc.format_message())
            self._finish("failed", error=message)
            return RunOutcome(self.run_dir, "failed", message, 1)
        except KeyboardInterrupt:
            self._finish("cancelled", error="interrupted (Ctrl-C)")
            return RunOutcome(self.run_dir, "cancelled", "interrupted (Ctrl-C)", 130)
        except Terminated:
            self._finish("cancelled", error="terminated (SIGTERM)")
            return RunOutcome(self.run_dir, "cancelled", "terminated (SIGTERM)", 143)
        finally:
            signal.signal(signal.SIGTERM, previous)
            os.chdir(cwd)
            if self._loop is not None:
                self._loop.close()
            self.log.close()

    # -- bookkeeping -------------------------------------------------------
    def _start(self) -> None:
        captured = code_of_record.capture_attempt(self.run_dir, self.record, self.code)

        def mark(rec: Dict[str, Any]) -> None:
            rec["attempts"] = int(rec.get("attempts") or 0) + 1
            rec["status"] = "running"
            rec["started_at"] = rec.get("started_at") or runstore.now_iso()
            rec["finished_at"] = None
            rec["error"] = None
            rec["host"] = runstore.hostname()
            rec["pid"] = self.supervisor_pid or os.getpid()
            rec["pid_start"] = processes.start_time(rec["pid"])
            rec["python"] = platform.python_version()
            rec["python_executable"] = sys.executable
            rec["molexp_version"] = __version__
            info = rec.get("scheduler") or {}
            for stale in ("state", "reason", "submission"):  # an earlier attempt's word
                info.pop(stale, None)
            if self.job_id is not None and info:  # the job executing it is the run's job
                info["job_id"] = self.job_id
            rec.setdefault("history", []).append(
                {"attempt": rec["attempts"], "started_at": runstore.now_iso(),
                 "host": rec["host"], "pid": rec["pid"], "execution": self.mode,
                 "job_id": self.job_id or info.get("job_id")}
            )
            code_of_record.record_attempt(self.run_dir, rec, self.code, captured)

        # not durable: after a power cut the run is still `created`, and resumable
        self.record = self._update(mark, durable=False)
        failures.retire_error_log(self.run_dir, int(self.record.get("attempts") or 1) - 1)

    def _apply_pending(self, rec: Dict[str, Any]) -> None:
        if self._pending is not None:
            name, fields = self._pending
            rec.setdefault("tasks", {}).setdefault(name, {}).update(fields)

    def _finish(self, status: str, error: Optional[str] = None) -> None:
        def mark(rec: Dict[str, Any]) -> None:
            self._apply_pending(rec)
            rec["status"] = status
            rec["finished_at"] = runstore.now_iso()
            rec["error"] = error
            for task in rec.get("tasks", {}).values():
                if task.get("status") == "running":
                    task["status"] = status if status != "succeeded" else "failed"
                    task["finished_at"] = rec["finished_at"]
            if rec.get("history"):
                rec["history"][-1].update(status=status, finished_at=rec["finished_at"])

        self.record = self._update(mark)
        self._pending = None

    def _set_task(self, name: str, **fields: Any) -> None:
        def mark(rec: Dict[str, Any]) -> None:
            self._apply_pending(rec)
            tasks = rec.get("tasks") or {}
            names = self._names
            if list(tasks)[:len(names)] != names:  # every task, in order: progress is i/N
                rec["tasks"] = tasks = {
                    **{n: tasks.get(n, {"status": "pending"}) for n in names},
                    **{n: t for n, t in tasks.items() if n not in names}}
            tasks.setdefault(name, {}).update(fields)

        self.record = self._update(mark, durable=False)
        self._pending = None

    # -- tasks -------------------------------------------------------------
    def _run_tasks(self) -> RunOutcome:
        process.mark_tasks_ran_here()  # the CLI then exits the ordinary way
        config = ProfileConfig(self.record.get("config") or {})
        results: Dict[str, Any] = {}  # read-only (frozen) results of earlier tasks
        home = self.record.get("cwd") or os.getcwd()
        stored = self.record.get("tasks", {})
        named = self.workflow.named_tasks()
        self._names = [name for name, _ in named]
        self.record = drop_vanished(self.run_dir, self.record, stored, self._names,
                                    self.log) or self.record
        plan = ReusePlan(stored)
        resumed = int(self.record.get("attempts") or 1) > 1  # say why each task runs
        for index, (name, task) in enumerate(named, 1):
            step = f"[{index}/{len(named)}] task {name}"
            previous = stored.get(name, {})
            fingerprint = task_fingerprint(task, self.workflow)
            timings.mark("fingerprint")
            reuse, why = plan.decide(name, fingerprint)
            if reuse:
                loaded = _load_result(self.run_dir, name, previous)
                if loaded is not _MISSING:
                    results[name] = freeze(loaded)
                    self.log.notice(f"{step}: reused (succeeded in attempt "
                                    f"{previous.get('attempt') or '?'}; {why})")
                    continue
                why = "its stored result is missing or damaged"
            plan.ran(name)
            if resumed:
                self.log.notice(f"{step}: runs ({why})")
            ctx = TaskContext(
                config=config, run_dir=self.run_dir, run_id=self.record["run_id"],
                profile=self.record.get("profile"), task_name=name,
                make_logger=lambda name=name: self.log.task_logger(name),
                results=ProfileConfig(results),
                attempt=int(self.record.get("attempts") or 1),
            )
            self._set_task(name, status="running", started_at=runstore.now_iso(),
                           finished_at=None, error=None)
            self.log.progress(f"{step}: started")
            _enter(home)  # every task starts where the run was started, fresh or resumed
            began = time.monotonic()
            try:
                value = self._call(task, ctx)
            except (KeyboardInterrupt, Terminated):
                raise
            except BaseException as exc:
                return self._task_failed(name, exc)
            timings.mark("task")
            try:
                data = to_json_data(value)
                result_file = store_result(self.run_dir, name, data)
            except Unreadable as exc:
                return self._task_failed(name, exc, f"task {name} returned a value molexp "
                                         f"cannot store: {exc}", value)
            except NotJSONData as exc:
                return self._task_failed(
                    name, exc, f"task {name} returned a value that is not JSON data: {exc}; "
                    "return numbers, strings, lists and mappings (save other objects "
                    f"under ctx.run_dir); its repr is in {ERROR_FILE}", value)
            except ResultRefused as exc:
                return self._task_failed(name, None, exc.format_message(), value)
            except MolexpError as refused:  # e.g. a link planted where the result goes
                return self._task_failed(name, None, f"task {name}: its result was not "
                                         f"stored: {refused.format_message()}", value)
            except Exception as exc:  # noqa: BLE001 - the value's own methods (.items(), ...)
                return self._task_failed(name, exc, f"task {name}: converting its result "
                                         f"raised {failures.exception_text(exc)}", value)
            results[name] = freeze(data)
            self._pending = (name, {"status": "succeeded", "finished_at": runstore.now_iso(),
                                    "result_file": result_file,
                                    **fingerprint.record(),
                                    "script_sha256": self.code.sha256 if self.code else None,
                                    "attempt": int(self.record.get("attempts") or 1),
                                    **self._artifact_index(name)})
            self.log.progress(f"{step}: succeeded in {time.monotonic() - began:.1f}s")
        self._finish("succeeded")
        timings.mark("record")
        return RunOutcome(self.run_dir, "succeeded", f"{len(results)} task(s) succeeded")

    def _artifact_index(self, name: str) -> Dict[str, Any]:
        """The index of what the task left in its artifacts folder (runs/artifacts.py),
        as fields of its record; most runs have no folder: one stat, no import."""
        if not os.path.lexists(self.run_dir / "artifacts"):
            return {}
        from molexp_core.runs.artifacts import index_task

        fields = index_task(self.run_dir, name, int(self.record.get("attempts") or 1))
        error = (fields.get("artifacts") or {}).get("error")
        if error:
            self.log.notice(f"task {name}: artifacts {error}")
        return fields

    def _call(self, task: Any, ctx: TaskContext) -> Any:
        import inspect

        pid = os.getpid()
        try:
            value = task.execute(ctx)
            if inspect.isawaitable(value):
                if self._loop is None:
                    import asyncio

                    self._loop = asyncio.new_event_loop()
                value = self._loop.run_until_complete(value)
        except BaseException as exc:
            if os.getpid() != pid:  # a process the task forked: it never writes the record
                _stray(exc)
            raise
        if os.getpid() != pid:  # ... nor carries on with the run
            _stray(None)
        return value

    def _update(self, mark: Any, **how: Any) -> Dict[str, Any]:
        """Write the record, from the process executing the run and no other."""
        if self.owner is not None and os.getpid() != self.owner:
            _stray(sys.exc_info()[1])
        return runstore.update_run(self.run_dir, mark, **how)

    def _task_failed(self, name: str, exc: Optional[BaseException], summary: str = "",
                     value: Any = NO_VALUE) -> RunOutcome:
        summary = failures.record_task_failure(
            self.run_dir, name, exc, summary or failures.task_summary(name, exc), value,
            self.log)
        self._set_task(name, status="failed", finished_at=runstore.now_iso(), error=summary,
                       **self._artifact_index(name))
        self._finish("failed", error=summary)
        return RunOutcome(self.run_dir, "failed", summary, 1)


_MISSING = object()


def _load_result(run_dir: Path, name: str, task_record: Dict[str, Any]) -> Any:
    try:
        return load_result(run_dir, name, task_record)
    except ResultUnavailable:
        return _MISSING  # missing or damaged: the task runs again


def _enter(directory: str) -> None:
    """Work from the directory the run was started in, as the run recorded."""
    try:
        os.chdir(directory)
    except OSError as exc:
        raise MolexpError(
            f"cannot enter the run's working directory {directory} "
            f"({exc.strerror or exc}); the run's relative paths depend on it"
        ) from exc


def _stray(exc: Optional[BaseException]) -> None:
    """End a process a task forked that came back here (``runs/teardown.py``)."""
    teardown.stray_exit(exc, signal.SIGTERM if isinstance(exc, Terminated) else None)


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the run is being stopped
    raise Terminated()
