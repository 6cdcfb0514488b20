"""Handing a sweep's prepared points to a scheduler that queues them.

A scheduler with job arrays (``Scheduler.submit_array``) gets every point in one
call, through a manifest in the sweep record; any other gets one ``submit`` per
point.  Job ids go into each point's ``run.json`` and into the sweep record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from molexp_core.cli.submit import record_submission, record_unknown
from molexp_core.errors import MolexpError
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_store
from molexp_core.runs.prepared import PreparedRun
from molexp_core.scheduling.interface import SubmissionFailed


def submit_points(root: Path, sweep_dir: Path, todo: List[int], run_dirs: List[Path],
                  scheduler: Any, options: Dict[str, Any], max_parallel: Optional[int],
                  quiet: bool, prepared: Optional[Dict[int, PreparedRun]] = None) -> None:
    """``prepared``: the points just prepared (their records in memory), by index."""
    prepared = prepared or {}
    runs = [prepared[i] if i in prepared else PreparedRun(d, runstore.read_run(d))
            for i, d in zip(todo, run_dirs)]
    for run in runs:
        run.quiet = quiet
    if scheduler.supports_arrays():
        _submit_array(sweep_dir, todo, runs, scheduler, options, max_parallel)
    else:
        _submit_each(sweep_dir, todo, runs, scheduler, options)


def _submit_array(sweep_dir: Path, todo: List[int], runs: List[PreparedRun], scheduler: Any,
                  options: Dict[str, Any], max_parallel: Optional[int]) -> None:
    record = sweep_store.read_sweep(sweep_dir)
    number = len(record.get("arrays") or [])
    manifest = sweep_store.write_manifest(sweep_dir, number, [r.run_dir for r in runs])
    try:
        submissions = scheduler.submit_array(runs, options, manifest, max_parallel)
    except SubmissionFailed as exc:
        reason = f"{scheduler.name} submission failed: {exc.format_message()}"
        for run in runs:
            _record_failure(run.run_dir, reason)
        raise MolexpError(f"{reason} (sweep {sweep_dir.name}: {len(runs)} point(s) kept as "
                          "failed; --resume submits them again)") from None
    if len(submissions) != len(runs):
        raise MolexpError(f"scheduler {scheduler.name!r} answered {len(submissions)} "
                          f"submission(s) for {len(runs)} point(s)")
    held = all(sub.details.get("held") for sub in submissions)
    for run, submission in zip(runs, submissions):
        if held:  # no job can start yet: write what we know, without re-reading it
            _record_held(run, scheduler, submission)
        else:
            record_submission(run, scheduler, submission, sync=False)
    runstore.sync_all()
    arrays = _arrays_of(submissions, todo)

    def note(rec: Dict[str, Any]) -> None:
        for index, submission in zip(todo, submissions):
            rec["points"][index]["job_id"] = submission.job_id
        for array in arrays:
            array.update(manifest=manifest.name, submitted_at=runstore.now_iso(),
                         max_parallel=max_parallel)
        rec.setdefault("arrays", []).extend(arrays)

    sweep_store.update_sweep(sweep_dir, note)
    if held:
        scheduler.release_array([a["job_id"] for a in arrays])
    jobs = ", ".join(str(a["job_id"]) for a in arrays)
    click.echo(f"sweep {sweep_dir.name}: {len(runs)} point(s) submitted to {scheduler.name} "
               f"as {len(arrays)} job array(s): {jobs}")
    click.echo(f"  follow: molexp runs --sweep {sweep_dir.name} (or --watch); "
               f"cancel: molexp cancel {sweep_dir.name}")


def _arrays_of(submissions: List[Any], todo: List[int]) -> List[Dict[str, Any]]:
    """Group the points by array job (the part of ``<array>_<index>`` before ``_``)."""
    arrays: Dict[str, Dict[str, Any]] = {}
    for index, submission in zip(todo, submissions):
        base = str(submission.job_id).split("_")[0]
        array = arrays.setdefault(base, {"job_id": base, "points": []})
        array["points"].append(index)
    for array in arrays.values():
        array["size"] = len(array["points"])
    return list(arrays.values())


def _submit_each(sweep_dir: Path, todo: List[int], runs: List[PreparedRun], scheduler: Any,
                 options: Dict[str, Any]) -> None:
    job_ids: Dict[int, Any] = {}
    failures = 0
    for index, run in zip(todo, runs):
        try:
            submission = scheduler.submit(run, options)
        except SubmissionFailed as exc:
            _record_failure(run.run_dir, f"{scheduler.name} submission failed: "
                                         f"{exc.format_message()}")
            failures += 1
            continue
        if submission.job_id is not None:
            record_submission(run, scheduler, submission, sync=False)
            job_ids[index] = submission.job_id
        elif submission.status == "unknown":  # each refresh looks its job up by name
            record_unknown(run, scheduler, submission)

    def note(rec: Dict[str, Any]) -> None:
        for index, job in job_ids.items():
            rec["points"][index]["job_id"] = job

    sweep_store.update_sweep(sweep_dir, note)
    click.echo(f"sweep {sweep_dir.name}: {len(job_ids)} point(s) submitted to "
               f"{scheduler.name}" + (f", {failures} refused" if failures else ""))
    if failures:
        raise MolexpError(f"sweep {sweep_dir.name}: {failures} point(s) could not be "
                          "submitted (kept as failed; --resume submits them again)")


def _record_held(run: PreparedRun, scheduler: Any, submission: Any) -> None:
    """The job is held until every point is recorded: nothing else writes this run.json."""
    record = run.record
    info = record.setdefault("scheduler", {})
    details = {k: v for k, v in submission.details.items() if k != "held"}
    info.update(name=scheduler.name, job_id=submission.job_id,
                submitted_at=runstore.now_iso(), **details)
    if submission.log_path:
        info["log"] = str(submission.log_path)
    record.update(status="submitted", error=None, finished_at=None)
    runstore.write_json_atomic(run.run_dir / runstore.RUN_FILE, record, False, False)


def _record_failure(run_dir: Path, reason: str) -> None:
    def mark(rec: Dict[str, Any]) -> None:
        rec["status"] = "failed"
        rec["error"] = reason
        rec["finished_at"] = runstore.now_iso()

    runstore.update_run(run_dir, mark)


def array_preview(plan: Any, scheduler: Any, options: Dict[str, Any],
                  max_parallel: Optional[int], runs_dir: Optional[Path]) -> Optional[str]:
    """For ``--dry-run``: the batch script(s) of the job array(s) the sweep would be,
    with placeholders for the sweep id and run ids nothing has made yet."""
    root = runstore.runs_root(runs_dir)
    manifest = sweep_store.sweeps_dir(root) / "<sweep id>" / "manifest-0.json"
    profile_dir = root / runstore.script_dir_name(plan.script) / (
        plan.base.profile or runstore.DEFAULT_PROFILE_DIR)
    runs = [PreparedRun(profile_dir / "<run id>",
                        {"run_id": "<run id>", "script": str(plan.script),
                         "profile": plan.base.profile, "config": resolved.config,
                         "config_hash": resolved.config_hash})
            for resolved in plan.resolved]
    return scheduler.preview_array(runs, options, manifest, max_parallel)
