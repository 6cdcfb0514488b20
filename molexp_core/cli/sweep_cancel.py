"""``molexp cancel SWEEP_ID``: stop every unfinished point, and say what ended.

molexp asks once: one cancel per job array (one ``scancel``), one per other job,
and SIGTERM to the local sweep's process (which stops its points), or, when that
process is gone, to each point's own process that is still running (checked by
pid and start time, as ``molexp cancel RUN`` checks it).  Then it waits, up to
``--timeout`` seconds, for each of those points to end, and reports what it saw:
a point is counted cancelled only once it has ended cancelled; a point that
finished first is reported with its own status; one still running is named and
the exit code is 1.  A point is marked ``cancelled`` here only once nothing runs
it any more (its process is gone, its job left the queue), so no point reported
cancelled can succeed afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from molexp_core.cli.sweep_report import point_pairs, shown_status
from molexp_core.errors import MolexpError
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_members, sweep_store

OPEN = ("created", "submitted", "running", "lost")  # lost: its job is cancelled too
FINAL = ("succeeded", "failed", "cancelled")


def sweep_cancel(root: Path, ref: str, timeout: float = 15.0, force: bool = False) -> None:
    from molexp_core.cli.sweep_report import counts, counts_text

    directory = sweep_store.find_sweep(root, ref)
    record = sweep_store.read_sweep(directory)
    pairs = point_pairs(root, record)
    points = [(p, d) for p, d, s in pairs
              if d is not None and not s.get("_synthetic")
              and (shown_status(s) in OPEN or _queued_job(s))]
    owner = _local_owner(record)
    if not points and owner is None:
        raise MolexpError(f"sweep {record['sweep_id']}: no unfinished point "
                          f"({counts_text(counts(pairs))}); nothing to cancel")
    arrays = _cancel_jobs(pairs, points)
    signum = signal.SIGKILL if force else signal.SIGTERM
    if owner is not None:
        _kill(owner[0], owner[1], signum)  # the sweep's process stops its points
    else:
        for _, run_dir in points:  # its process is gone: the points' own, if any
            target = _point_process(run_dir)
            if target is not None:
                _kill(target[0], target[1], signum)
    still = _wait(root, record, points, owner, time.monotonic() + timeout)
    ended: Dict[str, int] = {}
    for _, run_dir in points:
        if run_dir in still:
            continue
        status = _settle(run_dir)
        ended[status] = ended.get(status, 0) + 1
    line = f"sweep {record['sweep_id']}: {ended.pop('cancelled', 0)} point(s) cancelled"
    if arrays:
        line += f" (job array {', '.join(arrays)})"
    if ended:
        line += "; " + ", ".join(f"{n} {s} before it stopped" for s, n in sorted(ended.items()))
    if still:
        names = ", ".join(d.name for d in list(still)[:5])
        raise MolexpError(f"{line}; {len(still)} still running after {timeout:g}s ({names}"
                          + (" ..." if len(still) > 5 else "") + ")"
                          + ("" if force else f"; `molexp cancel --force {record['sweep_id']}`"
                             " sends SIGKILL"))
    click.echo(line)


def _local_owner(record: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """(pid, start) of the process running this sweep here, if it still runs."""
    if (record.get("scheduler") or {}).get("name") != "local":
        return None
    if not sweep_members.owner_alive(record) or record.get("pid") == os.getpid():
        return None
    return record["pid"], record["pid_start"]


def _cancel_jobs(pairs, points: List[Tuple[Dict[str, Any], Path]]) -> List[str]:
    """One cancel per array (or job) of the open points; returns the arrays' ids."""
    from molexp_core.plugin_host.manager import get_plugin_host

    wanted = {str(d) for _, d in points}
    by_job: Dict[Tuple[str, str], None] = {}
    for _, run_dir, summary in pairs:
        info = summary.get("scheduler") or {}
        job = info.get("job_id")
        if str(run_dir) in wanted and job and info.get("name") not in (None, "local"):
            by_job[(info["name"], str(job).split("_")[0])] = None
    schedulers = get_plugin_host().schedulers()
    for name, job in by_job:
        scheduler = schedulers.get(name)
        if scheduler is None:
            raise MolexpError(f"sweep points run under scheduler {name!r}, which is not "
                              "installed here; nothing was cancelled")
        scheduler.cancel(job)  # a whole array in one call
    return sorted({job for _, job in by_job})


def _point_process(run_dir: Path) -> Optional[Tuple[int, int]]:
    """The local process executing a point, if it is still that process."""
    from molexp_core.runs import processes

    try:
        rec = runstore.read_run(run_dir)
    except runstore.RunStoreError:
        return None
    if ((rec.get("scheduler") or {}).get("name") != "local" or rec.get("status") != "running"
            or rec.get("host") != runstore.hostname()):
        return None
    pid, start = rec.get("pid"), rec.get("pid_start")
    if pid == os.getpid() or not processes.same_process(pid, start):
        return None
    return pid, start


def _kill(pid: int, start: int, signum: int) -> None:
    from molexp_core.runs import processes

    if processes.same_process(pid, start):  # checked just now: one process, never a group
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _wait(root: Path, record: Dict[str, Any], points, owner, deadline: float) -> set:
    """Poll until every point has ended (or the deadline); the run dirs still going."""
    from molexp_core.runs import processes

    delay = 0.05
    while True:
        going = set()
        fresh = {str(d): (d, s) for _, d, s in point_pairs(root, record)
                 if d is not None and not s.get("_synthetic")}
        for _, run_dir in points:
            summary = fresh.get(str(run_dir), (None, None))[1]
            if summary is None:
                continue
            status = shown_status(summary)
            if _queued_job(summary) or (not _job_of(summary) and (
                    status == "running" or (status in ("created", "submitted")
                                            and owner is not None))):
                going.add(run_dir)
        if owner is not None and not processes.same_process(*owner):
            owner = None
        if not going and owner is None:
            return going
        if time.monotonic() >= deadline:
            return going
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _job_of(summary: Dict[str, Any]) -> bool:
    info = summary.get("scheduler") or {}
    return bool(info.get("job_id")) and info.get("name") not in (None, "local")


def _queued_job(summary: Dict[str, Any]) -> bool:
    """A point whose scheduler job is still pending or running, by the scheduler's
    word (reconciled): whatever the record shows meanwhile (a job that has just
    started but not yet written its start shows ``interrupted``)."""
    info = summary.get("scheduler") or {}
    return (_job_of(summary) and summary.get("status") in ("submitted", "running")
            and info.get("state") != runstore.LOST_STATE)


def _settle(run_dir: Path) -> str:
    """A point that has ended: its own status, or ``cancelled`` written now when it
    ended without recording one (never started, or killed)."""
    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") not in FINAL:
            now = runstore.now_iso()
            rec["status"] = "cancelled"
            rec["finished_at"] = now
            rec["error"] = rec.get("error") or "cancelled by user"
            for task in (rec.get("tasks") or {}).values():
                if task.get("status") == "running":
                    task.update(status="cancelled", finished_at=now)
        if rec.get("status") == "cancelled":  # it was open: this cancel ended it
            rec["error"] = "cancelled by user"

    try:
        return runstore.update_run(run_dir, mark).get("status") or "cancelled"
    except MolexpError:
        return "missing"
