"""``molexp cancel RUN``: stop a run's scheduler job, or the local process molexp started.

A record is input, so its pid is never trusted alone: molexp signals a local
process only when it still is the one the run recorded (same pid, same start
time, on this host), never a process group and never pid <= 1.  It says
``cancelled`` only once that process has ended.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import click

from molexp_core.cli.completion import complete_runs_and_sweeps
from molexp_core.cli.options import runs_dir_option

DEFAULT_TIMEOUT = 15.0  # longer than a supervised run's grace for its tasks (10 s)


@click.command()
@click.argument("run", shell_complete=complete_runs_and_sweeps)
@click.option("--force", is_flag=True,
              help="Send SIGKILL instead of SIGTERM to a local run's process.")
@click.option("--timeout", type=click.FloatRange(0), default=DEFAULT_TIMEOUT,
              show_default=True,
              help="Seconds to wait for a local run's process to end.")
@runs_dir_option
def cancel(run: str, force: bool, timeout: float, runs_dir: Optional[Path]) -> None:
    """Cancel a run: its scheduler job, or its local process (a sweep id,
    sw-...: every unfinished point; one scancel per job array).

    A run (or a sweep's point) is reported cancelled only once it has ended; if
    it is still running after --timeout seconds, molexp says so (exit 1) and
    --force sends SIGKILL.  For a sweep, points that finished first are
    reported with their own status.
    """
    from molexp_core.errors import MolexpError
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.runs import store as runstore
    from molexp_core.runs.sweep_store import is_sweep_ref

    if is_sweep_ref(run):
        from molexp_core.cli.sweep_cancel import sweep_cancel

        sweep_cancel(runstore.runs_root(runs_dir), run, timeout, force)
        return
    run_dir = runstore.find_run(runstore.runs_root(runs_dir), run)
    record = runstore.read_run(run_dir)
    run_id = record["run_id"]
    shown = runstore.display_status(record, run_dir)
    if shown in ("succeeded", "failed", "cancelled"):
        raise MolexpError(f"run {run_id} already {shown}; nothing to cancel")
    info = record.get("scheduler") or {}
    scheduler = get_plugin_host().schedulers().get(info.get("name") or "local")
    if scheduler is not None and scheduler.name != "local" and (
            info.get("job_id") or info.get("submission")):
        from molexp_core.cli.refresh import refresh
        from molexp_core.scheduling.reconcile import FINAL

        pairs = [(run_dir, record)]
        refresh(pairs, {scheduler.name: scheduler})  # scancel of an ended job says 0
        shown = runstore.display_status(pairs[0][1], run_dir)
        info = pairs[0][1].get("scheduler") or {}
        if shown in FINAL or shown == "lost":
            why = info.get("lost_reason") or pairs[0][1].get("error") or shown
            raise MolexpError(f"run {run_id} already {shown} ({why}); nothing to cancel")
        if info.get("job_id"):  # else its job was never found: the token is withdrawn
            scheduler.cancel(str(info["job_id"]))
    elif info.get("name") not in (None, "local") and shown in ("submitted", "running"):
        raise MolexpError(f"run {run_id} is {shown} under scheduler {info.get('name')!r}, "
                          "which is not installed here (or has no job id); not cancelled")
    else:
        target = _local_process(record, shown)
        if target is not None:
            _stop(run_id, record, target, force, timeout)

    final = runstore.update_run(run_dir, _mark_cancelled)
    if final["status"] != "cancelled":
        raise MolexpError(f"run {run_id} was not cancelled: it ended {final['status']} "
                          "before it stopped")
    click.echo(f"run {run_id} cancelled")


def _local_process(record: Dict[str, Any], shown: str) -> Optional[Tuple[int, Any]]:
    """(pid, start time) of the local process executing the run, or None when
    none was started or it is gone (then there is nothing to signal)."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs import store as runstore

    info = record.get("scheduler") or {}
    if shown == "running":
        pid, start = record.get("pid"), record.get("pid_start")
    elif shown == "submitted" and info.get("job_id") is not None:  # --detach
        job = info.get("job_id")
        pid = int(job) if str(job).isdigit() else job
        start = info.get("pid_start")
    else:  # created (nothing started yet) or interrupted (its process is gone)
        return None
    here = runstore.hostname()
    if record.get("host") != here:
        raise MolexpError(
            f"run {record['run_id']} runs on host {record.get('host')!r}, not on this one "
            f"({here}): molexp signals only processes on its own host; run "
            f"`molexp cancel {record['run_id']}` there")
    import os

    if type(pid) is not int or pid <= 1 or pid == os.getpid():
        raise MolexpError(f"run {record['run_id']}: its record names pid {pid!r}, which "
                          "molexp never signals (not a single process it started); "
                          "not cancelled")
    if start is None:
        raise MolexpError(f"run {record['run_id']}: its record has no start time for pid "
                          f"{pid}, so molexp cannot tell that it is still the run's "
                          "process; not signalled (stop it yourself if it is)")
    return pid, start


def _stop(run_id: str, record: Dict[str, Any], target: Tuple[int, Any], force: bool,
          timeout: float) -> None:
    import os
    import signal

    from molexp_core.errors import MolexpError
    from molexp_core.runs import processes

    pid, start = target
    if not processes.same_process(pid, start):
        return  # it ended (and the pid may now be another process's): nothing to signal
    signum = signal.SIGKILL if force else signal.SIGTERM
    try:
        os.kill(pid, signum)  # one process, checked just now: never a group
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise MolexpError(f"run {run_id}: cannot signal pid {pid}: {exc.strerror}") from None
    deadline = time.monotonic() + timeout
    while processes.same_process(pid, start):
        if time.monotonic() >= deadline:
            raise MolexpError(
                f"run {run_id} still stopping: pid {pid} has not ended {timeout:g}s after "
                f"{signal.Signals(signum).name}"
                + ("" if force else f"; `molexp cancel --force {run_id}` sends SIGKILL"))
        time.sleep(0.05)


def _mark_cancelled(rec: Dict[str, Any]) -> None:
    from molexp_core.runs import store as runstore
    from molexp_core.scheduling.reconcile import TERMINATED

    if rec.get("status") not in ("succeeded", "failed", "cancelled"):
        now = runstore.now_iso()
        rec["status"] = "cancelled"
        rec["finished_at"] = now
        rec["error"] = rec.get("error") or "cancelled by user"
        for task in (rec.get("tasks") or {}).values():
            if task.get("status") == "running":  # killed: it could not say so itself
                task.update(status="cancelled", finished_at=now)
    if rec.get("status") == "cancelled" and rec.get("error") == TERMINATED:
        rec["error"] = "cancelled by user"  # the SIGTERM was ours: no requeue to await
    info = rec.get("scheduler") or {}
    if info.get("submission") and isinstance(info.get("identity"), dict):
        # no job id: a job of this submission that turns up later must not run it
        info["identity"]["token"] = None
        info["submission"] = None
