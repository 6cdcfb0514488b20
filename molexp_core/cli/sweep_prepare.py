"""Preparing a sweep: its record and its points' run directories, new or resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_store


def _run_dir_text(root: Path, run_dir: Path) -> str:
    return Path(run_dir).relative_to(root).as_posix()


def new_sweep(root: Path, plan: Any, workflow: Any, record_scheduler: Dict[str, Any],
              skip_succeeded: bool, quiet: bool,
              prepared_runs: Optional[Dict[int, Any]] = None) -> Tuple[Path, List[int]]:
    """Write the sweep record, then prepare every point's run directory.

    The record comes first (with no run ids yet) so that a sweep interrupted
    while preparing is still listed; it is completed in one update at the end.
    Returns the sweep directory and the indices of the points to run
    (``prepared_runs``, if given, receives each new point's ``PreparedRun``).
    """
    from molexp_core.runs import prepare

    size = len(plan.points)
    record = {
        "sweep_id": None,
        "name": plan.name,
        "script": str(plan.script),
        "profile": plan.base.profile,
        "config_file": str(plan.base.config_file) if plan.base.config_file else None,
        "overrides": list(plan.base.overrides),
        "inline": list(plan.inline),
        "definition": plan.definition,
        "definition_hash": plan.definition_hash,
        "size": size,
        "created_at": runstore.now_iso(),
        "scheduler": record_scheduler,
        "points": [{"index": i, "point": p, "run_id": None, "run_dir": None,
                    "config_hash": r.config_hash, "job_id": None}
                   for i, (p, r) in enumerate(zip(plan.points, plan.resolved))],
        "arrays": [],
    }
    sweep_dir = sweep_store.create_sweep(root, record)
    sweep_id = sweep_dir.name
    existing = _succeeded_runs(root, plan) if skip_succeeded else {}
    try:
        content = plan.script.read_bytes()  # once for every point: copy and hash agree
    except OSError as exc:
        raise runstore.RunStoreError(f"cannot read {plan.script}: {exc.strerror or exc}")
    made: Dict[int, Dict[str, Any]] = {}
    todo: List[int] = []
    try:
        for index, (point, resolved) in enumerate(zip(plan.points, plan.resolved)):
            found = existing.get(resolved.config_hash)
            if found is not None:
                made[index] = {"run_id": Path(found).name, "reused": True,
                               "run_dir": _run_dir_text(root, Path(found))}
                continue
            extra = {"sweep": {"id": sweep_id, "name": plan.name, "index": index,
                               "size": size, "point": point}}
            prepared = prepare.prepare_new_run(root, plan.script, resolved, workflow,
                                               record_scheduler, extra, sync=False,
                                               script_bytes=content)
            made[index] = {"run_id": prepared.run_id,
                           "run_dir": _run_dir_text(root, prepared.run_dir)}
            if prepared_runs is not None:
                prepared_runs[index] = prepared
            todo.append(index)
    finally:
        runstore.sync_all()  # every point's run dir durable at once, not one by one

        def fill(rec: Dict[str, Any]) -> None:
            for index, fields in made.items():
                rec["points"][index].update(fields)

        sweep_store.update_sweep(sweep_dir, fill)
    return sweep_dir, todo


def _succeeded_runs(root: Path, plan: Any) -> Dict[str, str]:
    """config hash -> the newest succeeded run of this script (same content) and profile."""
    from molexp_core.config.hashing import file_sha256
    from molexp_core.runs import index as run_index

    sha = file_sha256(plan.script)
    profile_dir = root / runstore.script_dir_name(plan.script) / (
        plan.base.profile or runstore.DEFAULT_PROFILE_DIR)
    script = str(plan.script)

    def want(status: str, profile: Optional[str], run_script: Optional[str]) -> bool:
        return status == "succeeded" and profile == plan.base.profile and run_script == script

    found: Dict[str, str] = {}
    for run_dir, summary in run_index.profile_summaries(profile_dir, want):  # newest first
        if summary.get("script_sha256") == sha and summary.get("config_hash"):
            found.setdefault(summary["config_hash"], run_dir)
    return found


def resume_points(root: Path, plan: Any, scheduler: Any, record_scheduler: Dict[str, Any],
                  quiet: bool) -> Tuple[Optional[Path], List[int]]:
    """The newest sweep of this script, profile and definition, and the points of it
    that did not succeed (each checked as an ordinary resume); (None, []) if none."""
    from molexp_core.runs import prepare

    sweep_dir = _find_resumable(root, plan)
    if sweep_dir is None:
        click.echo(f"no earlier sweep of {plan.script.name} with these points under profile "
                   f"{plan.base.profile or '(none)'}; starting a new sweep", err=True)
        return None, []
    record = sweep_store.read_sweep(sweep_dir)
    todo: List[int] = []
    pending: List[Tuple[Path, Dict[str, Any]]] = []
    for point in record["points"]:
        index = point.get("index")
        run_dir = sweep_store.run_dir_of(root, point)
        if not isinstance(index, int) or not 0 <= index < len(plan.resolved):
            continue
        if run_dir is None or point.get("reused"):
            continue
        try:
            run = runstore.read_run(run_dir)
        except runstore.RunStoreError:
            continue
        if run.get("status") == "succeeded":
            continue
        prepare.check_resume(run_dir, run, plan.resolved[index])
        prepare.check_not_alive(run_dir, run)
        pending.append((run_dir, run))
        todo.append(index)
    _refuse_if_queued(pending, scheduler)
    for index in todo:
        run_dir = sweep_store.run_dir_of(root, record["points"][index])

        def mark(rec: Dict[str, Any]) -> None:
            rec["scheduler"] = dict(record_scheduler)

        runstore.update_run(run_dir, mark)
    if todo:
        def note(rec: Dict[str, Any]) -> None:
            rec.setdefault("resumes", []).append(
                {"at": runstore.now_iso(), "points": list(todo),
                 "scheduler": record_scheduler["name"]})

        sweep_store.update_sweep(sweep_dir, note)
        if not quiet:
            click.echo(f"resuming sweep {sweep_dir.name}: {len(todo)} of "
                       f"{len(record['points'])} point(s) did not succeed", err=True)
    return sweep_dir, todo


def _find_resumable(root: Path, plan: Any) -> Optional[Path]:
    script, wanted = str(plan.script), plan.definition_hash
    for directory in sweep_store.list_sweeps(root):  # newest first
        try:
            record = sweep_store.read_sweep(directory)
        except sweep_store.SweepStoreError:
            continue
        if (record.get("script") == script and record.get("profile") == plan.base.profile
                and record.get("definition_hash") == wanted):
            return directory
    return None


def _refuse_if_queued(pairs: List[Tuple[Path, Dict[str, Any]]], fallback: Any) -> None:
    """Points whose job is still queued or running are not resumed: ONE scheduler
    query for all of them (not one per point)."""
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.scheduling.reconcile import refuse_if_queued

    schedulers = dict(get_plugin_host().schedulers())
    schedulers.setdefault(fallback.name, fallback)
    refuse_if_queued(pairs, schedulers)
