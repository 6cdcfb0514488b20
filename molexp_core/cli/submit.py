"""Handing a prepared run to its scheduler, and telling the user what happened."""

from __future__ import annotations

import json
from typing import Any, Dict

import click

from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError
from molexp_core.runs.prepared import PreparedRun
from molexp_core.scheduling.interface import Scheduler, SubmissionFailed


def submit_and_report(
    scheduler: Scheduler, run: PreparedRun, options: Dict[str, Any], quiet: bool,
    wait: bool = False,
) -> int:
    """Submit ``run``; record the outcome in run.json; return the exit code."""
    try:
        submission = scheduler.submit(run, options)
    except SubmissionFailed as exc:
        reason = exc.format_message()
        _record_failure(run, scheduler, reason)
        raise MolexpError(
            f"{scheduler.name} submission failed: {reason} "
            f"(run {run.run_id} kept as failed in {run.run_dir})"
        ) from None
    except Exception as exc:  # a plugin's bug: named, and the run kept with the reason
        if run.lock is not None:
            run.lock.release()
        if isinstance(exc, click.ClickException):
            raise
        from molexp_core.plugin_host.manager import describe

        if _raised_in_molexp(exc, scheduler):  # molexp's own bug, not the scheduler's
            _record_failure(run, scheduler, f"internal error in molexp: {describe(exc)}",
                            prefix=False)
            raise
        reason = f"scheduler {scheduler.name!r} failed to submit: {describe(exc)}"
        _record_failure(run, scheduler, reason, prefix=False)
        raise MolexpError(f"{reason} (run {run.run_id} kept as failed in {run.run_dir})") \
            from exc
    except BaseException:
        if run.lock is not None:
            run.lock.release()
        raise
    if submission.status == "unknown" and submission.job_id is None:
        record_unknown(run, scheduler, submission)
        click.echo(f"run {run.run_id}: submission unknown ({submission.message}); the "
                   f"{scheduler.name} job may be queued: molexp looks it up by its name "
                   f"at each refresh (molexp status {run.run_id})", err=True)
        if wait:
            return wait_for(run.run_dir, scheduler, quiet)
        return 0
    if submission.job_id is not None:
        record_submission(run, scheduler, submission)
        click.echo(f"run {run.run_id} submitted to {scheduler.name} as job {submission.job_id}")
        if not quiet:
            click.echo(f"  run dir: {run.run_dir}")
            if submission.log_path:
                click.echo(f"  log:     {submission.log_path}")
        if wait:
            return wait_for(run.run_dir, scheduler, quiet)
        return submission.exit_code
    return report_outcome(run.run_dir, submission.status, submission.message,
                          submission.exit_code, quiet)


def _raised_in_molexp(exc: BaseException, scheduler: Scheduler) -> bool:
    """Whether the code nearest the failure that is either molexp's or the
    scheduler plugin's is molexp's (the local scheduler calls back into molexp)."""
    plugin = type(scheduler).__module__
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):  # innermost first
        module = frame.f_globals.get("__name__") or ""
        if module == plugin or frame.f_locals.get("self") is scheduler:
            return False  # the plugin's code, or a method it inherited
        if module == "molexp_core" or module.startswith("molexp_core."):
            return True
    return False


def wait_for(run_dir, scheduler: Scheduler, quiet: bool) -> int:
    """Poll (with back-off) until the run ends; a progress line on stderr."""
    import os
    import sys
    import time

    longest = float(os.environ.get("MOLEXP_POLL_MAX", "10"))
    try:
        return _poll(run_dir, scheduler, quiet, 0.25, longest, sys.stderr.isatty(),
                     time.time())
    except KeyboardInterrupt:
        record = runstore.read_run(run_dir)
        job = (record.get("scheduler") or {}).get("job_id")
        click.echo(f"\nstopped waiting; {scheduler.name} job {job} of run "
                   f"{record['run_id']} goes on (molexp status {record['run_id']}, "
                   f"molexp cancel {record['run_id']})", err=True)
        return 130


# how long a run that recorded only a SIGTERM waits for the scheduler's final word
# (TIMEOUT, CANCELLED, PREEMPTED, or pending again after a requeue)
SIGTERM_GRACE = 120.0


def _poll(run_dir, scheduler: Scheduler, quiet: bool, delay: float, longest: float,
          tty: bool, started: float) -> int:
    import time

    from molexp_core.cli.refresh import refresh
    from molexp_core.scheduling.reconcile import FINAL, TERMINATED

    last, terminated_at = None, None
    while True:
        record = runstore.read_run(run_dir)
        pairs = [(run_dir, record)]
        refresh(pairs, {scheduler.name: scheduler})
        record = pairs[0][1]
        status = runstore.display_status(record, run_dir)
        tasks = record.get("tasks") or {}
        done = sum(1 for t in tasks.values() if t.get("status") == "succeeded")
        progress = f", tasks {done}/{len(tasks)}" if tasks else ""
        line = f"run {record['run_id']}: {status}{progress}, {time.time() - started:.0f}s"
        if not quiet and (tty or status != last):
            click.echo(("\r" + line.ljust(70)) if tty else line, err=True, nl=not tty)
        last = status
        if status == "cancelled" and record.get("error") == TERMINATED:
            terminated_at = terminated_at or time.time()
            if time.time() - terminated_at < SIGTERM_GRACE:
                time.sleep(min(delay, 2.0))
                continue  # the scheduler has not said why yet
        if status in FINAL or status in ("interrupted", "lost"):
            if tty and not quiet:
                click.echo("", err=True)
            exit_code = 0 if status == "succeeded" else (130 if status == "cancelled" else 1)
            return report_outcome(run_dir, status, record.get("error") or status,
                                  exit_code, quiet)
        time.sleep(delay)
        delay = min(delay * 1.5, longest)


def report_outcome(run_dir, status: str, summary: str, exit_code: int, quiet: bool,
                   already_done: bool = False) -> int:
    record = runstore.read_run(run_dir)
    if already_done:
        click.echo(f"run {record['run_id']} already succeeded; nothing to do")
        return 0
    if status not in ("succeeded", "failed", "cancelled", "interrupted", "lost"):
        click.echo(f"run {record['run_id']} {status}" + (f": {summary}" if summary else ""))
        return exit_code  # e.g. a backend that only prepares the run directory
    if status == "succeeded":
        if not quiet:
            for name, task in record.get("tasks", {}).items():
                click.echo(f"  {name}: {_result_text(run_dir, name, task)}")
        hash_prefix = (record.get("config_hash") or "")[:12]
        click.echo(f"run {record['run_id']} succeeded "
                   f"(profile {record.get('profile') or '(none)'}, config {hash_prefix})")
        if not quiet:
            click.echo(f"  run dir: {run_dir}")
        return exit_code
    log = run_dir / "run.log"
    if status == "lost":
        summary = (record.get("scheduler") or {}).get("lost_reason") or summary
    click.echo(f"Error: run {record['run_id']} {status}: {summary} (log: {log})", err=True)
    from molexp_core.cli.formatting import resume_command

    command = resume_command(record, run_dir)
    if command:
        click.echo(f"to resume it: {command}", err=True)
    return exit_code or 1


def _result_text(run_dir, name: str, task: Dict[str, Any]) -> str:
    from molexp_core.runs.executor import ResultUnavailable, load_result

    if not task.get("result_file"):
        return task.get("status", "?")
    try:
        text = json.dumps(load_result(run_dir, name, task), ensure_ascii=False)
    except ResultUnavailable as exc:
        return f"(result not shown: {exc})"
    return text if len(text) <= 200 else text[:197] + "..."


def record_submission(run: PreparedRun, scheduler: Scheduler, submission,
                      sync: bool = True) -> None:
    """Record a job the scheduler accepted; ``sync=False`` when the caller syncs
    many runs at once (a sweep: ``runstore.sync_all``)."""
    def mark(rec: Dict[str, Any]) -> None:
        info = rec.setdefault("scheduler", {})
        if info.get("job_id") and info.get("identity") == submission.details.get(
                "identity") and info.get("job_id") != submission.job_id:
            return  # the job started and recorded its own id: it knows best
        info.update(name=scheduler.name, job_id=submission.job_id,
                    submitted_at=runstore.now_iso(), submission=None,
                    **submission.details)
        if submission.log_path:
            info["log"] = str(submission.log_path)
        # the job may already have started (and even ended): never step back over it
        if (rec.get("attempts") or 0) == (run.record.get("attempts") or 0):
            rec["status"] = "submitted"
            rec["error"] = None
            rec["finished_at"] = None

    runstore.update_run(run.run_dir, mark, sync=sync)


def record_unknown(run: PreparedRun, scheduler: Scheduler, submission) -> None:
    """The scheduler's answer was lost: ``submitted``, no job id, ``submission:
    unknown`` until a refresh finds the job by its name (scheduling/submissions.py)."""
    from molexp_core.scheduling.submissions import unknown_text

    def mark(rec: Dict[str, Any]) -> None:
        info = rec.setdefault("scheduler", {})
        if info.get("job_id"):
            return  # the job already started and recorded its own id
        info.update(name=scheduler.name, job_id=None, submitted_at=runstore.now_iso(),
                    submission="unknown", submission_error=submission.message,
                    **submission.details)
        if (rec.get("attempts") or 0) == (run.record.get("attempts") or 0):
            name = (submission.details.get("identity") or {}).get("name")
            rec["status"] = "submitted"
            rec["error"] = unknown_text(scheduler.name, submission.message, str(name))
            rec["finished_at"] = None

    runstore.update_run(run.run_dir, mark)


def _record_failure(run: PreparedRun, scheduler: Scheduler, reason: str,
                    prefix: bool = True) -> None:
    def mark(rec: Dict[str, Any]) -> None:
        rec["status"] = "failed"
        rec["error"] = f"{scheduler.name} submission failed: {reason}" if prefix else reason
        rec["finished_at"] = runstore.now_iso()
        (rec.get("scheduler") or {}).pop("submission", None)  # refused: nothing to look up

    runstore.update_run(run.run_dir, mark)
