"""Preparing run directories: new runs, and the run ``--resume`` continues."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.version import __version__
from molexp_core.runs import processes, safe_files
from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpUsageError
from molexp_core.runs import code_of_record
from molexp_core.config.overrides import diff_keys, show_value
from molexp_core.config.resolution import ResolvedConfig
from molexp_core.runs.prepared import PreparedRun
from molexp_core.runs.workflow import Workflow


def new_record(
    run_id: str,
    script: Path,
    resolved: ResolvedConfig,
    workflow: Optional[Workflow],
    scheduler: Dict[str, Any],
    script_sha256: Optional[str] = None,
) -> Dict[str, Any]:
    tasks = {}
    if workflow is not None:
        tasks = {name: {"status": "pending"} for name, _ in workflow.named_tasks()}
    return {
        "run_id": run_id,
        "script": str(script),
        "script_sha256": script_sha256,  # the prepared snapshot's, set with it
        "profile": resolved.profile,
        "config": resolved.config,
        "config_hash": resolved.config_hash,
        "overrides": list(resolved.overrides),
        "config_file": str(resolved.config_file) if resolved.config_file else None,
        "cwd": os.getcwd(),
        "status": "created",
        "created_at": runstore.now_iso(),
        "started_at": None,
        "finished_at": None,
        "attempts": 0,
        "tasks": tasks,
        "scheduler": scheduler,
        "host": runstore.hostname(),
        "pid": os.getpid(),
        "pid_start": processes.own_start_time(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "molexp_version": __version__,
        "error": None,
        "warnings": list(getattr(resolved, "warnings", None) or []),
    }


def prepare_new_run(
    root: Path,
    script: Path,
    resolved: ResolvedConfig,
    workflow: Optional[Workflow],
    scheduler: Dict[str, Any],
    extra: Optional[Dict[str, Any]] = None,
    sync: bool = True,
    script_bytes: Optional[bytes] = None,
    code: Optional[bytes] = None,
) -> PreparedRun:
    """Create the run directory with its ``run.json`` (status ``created``).

    ``sync=False`` skips the fsyncs: a caller preparing many runs (a sweep)
    makes them durable at once with :func:`runstore.sync_all` (atomic either way);
    ``script_bytes``: the script's content, read once for many runs (the copy and
    ``script_sha256`` are then made from exactly those bytes).

    The directory appears complete or not at all (see ``runstore.create_run``).
    ``code``: the bytes the run executes (default: those the workflow was loaded
    from, else the file's); stored as the run's snapshot ``script.py``.
    """
    if code is None and workflow is not None:
        code = workflow.source
    if code is None:
        code = script_bytes
    made: Dict[str, Any] = {}

    digest = None
    if script_bytes is not None:
        import hashlib

        digest = hashlib.sha256(script_bytes).hexdigest()

    def fill(directory: Path, run_id: str) -> None:
        record = new_record(run_id, script, resolved, workflow, scheduler, digest)
        record.update(extra or {})
        try:
            record["script_sha256"] = code_of_record.prepare_snapshot(
                directory, record, script, code, "prepared")
            record["git"] = record["snapshots"][record["script_sha256"]].get("git")
        except OSError as exc:
            raise runstore.RunStoreError(
                f"cannot prepare a run directory under {root}: {exc.strerror or exc}"
            ) from exc
        problem = runstore.new_record_problem(record)
        if problem:  # what read_run would refuse is never written: nothing is made
            raise MolexpUsageError(f"cannot record this run: {problem}")
        runstore.write_record(directory / runstore.RUN_FILE, record, sync, sync)
        made["record"] = record

    run_dir = runstore.create_run(root, script, resolved.profile, fill, sync)
    record = made["record"]
    return PreparedRun(run_dir, record, workflow)


def find_resumable(root: Path, script: Path, profile: Optional[str]) -> Optional[Path]:
    """The newest run of ``script`` under ``profile`` whose status is not succeeded."""
    from molexp_core.runs import index as run_index

    profile_dir = root / runstore.script_dir_name(script) / (
        profile or runstore.DEFAULT_PROFILE_DIR)
    def want(status: str, run_profile: Optional[str], run_script: Optional[str]) -> bool:
        return status != "succeeded" and run_profile == profile and run_script == str(script)

    found = run_index.profile_summaries(profile_dir, want)
    return Path(found[0][0]) if found else None


def check_resume(run_dir: Path, record: Dict[str, Any], resolved: ResolvedConfig) -> None:
    """Refuse a resume that would reinterpret the run under another config."""
    if record.get("config_hash") == resolved.config_hash:
        return
    rows = diff_keys(record.get("config") or {}, resolved.config)
    shown = "; ".join(f"{key}: {show_value(old)} in the run, {show_value(new)} now"
                      for key, old, new in rows[:10])
    if len(rows) > 10:
        shown += f"; and {len(rows) - 10} more"
    given = " ".join(f"-o {shlex.quote(o)}" for o in record.get("overrides") or [])
    hint = (f"the run was started with {given}: give the same overrides"
            if given else "the run was started without overrides: drop them")
    same = _unfinished_with_hash(run_dir.parent, record.get("script"), resolved.config_hash)
    other = (f"; run {same} has exactly this config: --resume {same}" if same
             else "; to continue another run, name it: --resume RUN")
    raise MolexpUsageError(
        f"--resume would change the config of run {record.get('run_id')} ({shown}); "
        f"resume never reinterprets a run: {hint}, or start a new run without --resume"
        + other
    )


def _unfinished_with_hash(profile_dir: Path, script: Any, config_hash: str) -> Optional[str]:
    """The newest unfinished run in ``profile_dir`` of ``script`` with this config."""
    from molexp_core.runs import index as run_index

    def want(status: str, run_profile: Optional[str], run_script: Optional[str]) -> bool:
        return status != "succeeded" and run_script == script

    for _, summary in run_index.profile_summaries(profile_dir, want):
        if summary.get("config_hash") == config_hash:
            return summary.get("run_id")
    return None


def check_named_resume(run_dir: Path, record: Dict[str, Any], script: Path,
                       resolved: ResolvedConfig) -> None:
    """``--resume RUN``: RUN must be an unfinished run of this script and profile."""
    from molexp_core.errors import MolexpError

    run_id = record.get("run_id")
    if record.get("script") != str(script):
        raise MolexpUsageError(
            f"--resume {run_id}: that run is of {record.get('script')}, not {script}; "
            "resume it with its own script")
    if record.get("profile") != resolved.profile:
        wanted = record.get("profile")
        raise MolexpUsageError(
            f"--resume {run_id}: that run is of profile {wanted or '(none)'}, not "
            f"{resolved.profile or '(none)'}; "
            + (f"add -p {wanted}" if wanted else "drop -p"))
    if record.get("status") == "succeeded":
        raise MolexpError(f"run {run_id} already succeeded; nothing to resume")
    check_resume(run_dir, record, resolved)


def check_not_alive(run_dir: Path, record: Dict[str, Any]) -> None:
    """A run that a process here is still executing is not resumed a second time
    (its scheduler's word: ``scheduling.reconcile.refuse_if_queued``)."""
    if runstore.is_locked(run_dir):
        raise runstore.RunBusy(
            f"run {record.get('run_id')} is still running "
            f"({safe_files.read_small_text(run_dir / runstore.EXEC_LOCK).strip() or 'locked'}); "
            "it will not be resumed a second time"
        )
