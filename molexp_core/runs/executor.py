"""Executing a prepared run directory: tasks in order, every step recorded.

A task that already succeeded in an earlier attempt is not run again: its stored
result is handed to later tasks (``ctx.results``).  Ctrl-C and SIGTERM leave the
run ``cancelled``; an exception leaves the task and the run ``failed`` with the
traceback in ``error.log``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import sys
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, Optional

from molexp_core.version import __version__
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError
from molexp_core.config.hashing import file_sha256
from molexp_core.config.profile_config import ProfileConfig, plain
from molexp_core.runs.log import RunLog
from molexp_core.runs.workflow import TaskContext, Workflow, load_script

ERROR_FILE = "error.log"
RESULTS_DIR = "results"
SCRIPT_COPY = "script.py"


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives (e.g. ``scancel``)."""


class RunOutcome:
    def __init__(self, run_dir: Path, status: str, summary: str = "", exit_code: int = 0):
        self.run_dir = run_dir
        self.status = status
        self.summary = summary
        self.exit_code = exit_code


def execute_run(
    run_dir: Path,
    workflow: Optional[Workflow] = None,
    quiet: bool = False,
    lock: Optional[runstore.ExecutionLock] = None,
) -> RunOutcome:
    """Execute ``run_dir`` under its execution lock; return how it ended.

    ``lock``: the lock when the caller already holds it (it is released here).
    """
    run_dir = Path(run_dir).absolute()
    runstore.read_run(run_dir)  # a clear error for a directory that is no run
    lock = lock or runstore.ExecutionLock(run_dir).acquire()
    try:
        record = runstore.read_run(run_dir)  # fresh, now that we hold the lock
        if record.get("status") == "succeeded":
            return RunOutcome(run_dir, "succeeded", "already succeeded; nothing to do")
        return _Execution(run_dir, record, workflow, quiet).run()
    finally:
        lock.release()


class _Execution:
    def __init__(self, run_dir: Path, record: Dict[str, Any], workflow, quiet: bool):
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

    def run(self) -> RunOutcome:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_terminated)
        cwd = os.getcwd()
        try:
            self._start()
            if self.workflow is None:
                _enter(self.record.get("cwd") or cwd)
                self.workflow = load_script(self._script_path())
            return self._run_tasks()
        except MolexpError as exc:  # script could not be loaded on the node
            self._finish("failed", error=exc.format_message())
            return RunOutcome(self.run_dir, "failed", exc.format_message(), 1)
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
        script = self._script_path()

        def mark(rec: Dict[str, Any]) -> None:
            rec["attempts"] = int(rec.get("attempts") or 0) + 1
            rec["status"] = "running"
            rec["started_at"] = rec.get("started_at") or runstore.now_iso()
            rec["finished_at"] = None
            rec["error"] = None
            rec["host"] = runstore.hostname()
            rec["pid"] = os.getpid()
            rec["python"] = platform.python_version()
            rec["python_executable"] = sys.executable
            rec["molexp_version"] = __version__
            for stale in ("state", "reason"):  # the scheduler's word on an earlier attempt
                (rec.get("scheduler") or {}).pop(stale, None)
            if script.is_file():
                rec["script_sha256"] = file_sha256(script)
            rec.setdefault("history", []).append(
                {"attempt": rec["attempts"], "started_at": runstore.now_iso(),
                 "host": rec["host"], "pid": rec["pid"],
                 "job_id": (rec.get("scheduler") or {}).get("job_id")}
            )

        # not durable: after a power cut the run is still `created`, and resumable
        self.record = runstore.update_run(self.run_dir, mark, durable=False)

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

        self.record = runstore.update_run(self.run_dir, mark)
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

        self.record = runstore.update_run(self.run_dir, mark, durable=False)
        self._pending = None

    def _script_path(self) -> Path:
        """The script as recorded; its snapshot if the original is gone."""
        script = Path(self.record["script"])
        if script.is_file():
            return script
        return self.run_dir / SCRIPT_COPY

    # -- tasks -------------------------------------------------------------
    def _run_tasks(self) -> RunOutcome:
        config = ProfileConfig(self.record.get("config") or {})
        results: Dict[str, Any] = {}
        stored = self.record.get("tasks", {})
        named = self.workflow.named_tasks()
        self._names = [name for name, _ in named]
        for index, (name, task) in enumerate(named, 1):
            step = f"[{index}/{len(named)}] task {name}"
            previous = stored.get(name, {})
            if previous.get("status") == "succeeded":
                loaded = _load_result(self.run_dir, previous)
                if loaded is not _MISSING:
                    results[name] = loaded
                    self.log.progress(f"{step}: succeeded earlier; result reused")
                    continue
            ctx = TaskContext(
                config=config, run_dir=self.run_dir, run_id=self.record["run_id"],
                profile=self.record.get("profile"), task_name=name,
                make_logger=lambda name=name: self.log.task_logger(name),
                results=MappingProxyType(dict(results)),
                attempt=int(self.record.get("attempts") or 1),
            )
            self._set_task(name, status="running", started_at=runstore.now_iso(),
                           finished_at=None, error=None)
            self.log.progress(f"{step}: started")
            began = time.monotonic()
            try:
                value = self._call(task, ctx)
            except (KeyboardInterrupt, Terminated):
                raise
            except BaseException as exc:
                return self._task_failed(name, exc)
            try:
                text = json.dumps(value, default=plain, allow_nan=False)
            except (TypeError, ValueError) as exc:
                return self._task_failed(
                    name, exc, f"task {name} returned a value that is not JSON data ({exc})"
                )
            result_file = _result_name(name)
            (self.run_dir / RESULTS_DIR).mkdir(exist_ok=True)
            runstore.write_json_atomic(self.run_dir / RESULTS_DIR / result_file,
                                       {"task": name, "result": json.loads(text)},
                                       durable=False, sync=False)  # unreadable -> re-run
            results[name] = json.loads(text)
            self._pending = (name, {"status": "succeeded", "finished_at": runstore.now_iso(),
                                    "result_file": f"{RESULTS_DIR}/{result_file}"})
            self.log.progress(f"{step}: succeeded in {time.monotonic() - began:.1f}s")
        self._finish("succeeded")
        return RunOutcome(self.run_dir, "succeeded", f"{len(results)} task(s) succeeded")

    def _call(self, task: Any, ctx: TaskContext) -> Any:
        import inspect

        value = task.execute(ctx)
        if inspect.isawaitable(value):
            if self._loop is None:
                import asyncio

                self._loop = asyncio.new_event_loop()
            value = self._loop.run_until_complete(value)
        return value

    def _task_failed(self, name: str, exc: BaseException, summary: str = "") -> RunOutcome:
        if not summary and isinstance(exc, SystemExit):
            summary = f"task {name} called sys.exit({exc.code})"
        elif not summary:
            summary = f"task {name} failed: {type(exc).__name__}: {exc}"
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (self.run_dir / ERROR_FILE).write_text(text, encoding="utf-8")
        self.log.failure(f"{summary}\n{text.rstrip()}")
        self._set_task(name, status="failed", finished_at=runstore.now_iso(), error=summary)
        self._finish("failed", error=summary)
        return RunOutcome(self.run_dir, "failed", summary, 1)


_MISSING = object()


def _load_result(run_dir: Path, task_record: Dict[str, Any]) -> Any:
    path = task_record.get("result_file")
    if not path:
        return _MISSING
    try:
        with open(run_dir / path, encoding="utf-8") as handle:
            return json.load(handle)["result"]
    except (OSError, ValueError, KeyError, TypeError):
        return _MISSING  # missing or damaged: the task runs again


def stored_result(run_dir: Path, task_record: Dict[str, Any]) -> Any:
    """A task's stored result, or ``None`` when there is none."""
    value = _load_result(Path(run_dir), task_record)
    return None if value is _MISSING else value


def _result_name(task_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", task_name).lstrip(".") + ".json"


def _enter(directory: str) -> None:
    """Work from the directory the run was started in, as the run recorded."""
    try:
        os.chdir(directory)
    except OSError as exc:
        raise MolexpError(
            f"cannot enter the run's working directory {directory} "
            f"({exc.strerror or exc}); the run's relative paths depend on it"
        ) from exc


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()
