"""``run --sweep ... --resume``: which sweep, and which of its points run again.

A sweep's state is computed from its points, each judged by its own run's record
(``runs/sweep_members.py``), never from what the sweep record claims: a point
succeeded only when its run is its own, its ``run.json`` is intact (schema,
``run_id``, ``config_hash``) and every task of it succeeded.  A point that was
never prepared (molexp was killed while preparing the sweep), whose run is gone,
corrupt or another's gets a new run; an unfinished one is resumed as ``--resume``
resumes a run: same run directory, the current script snapshotted as the code of
record, results reused only where the fingerprints say so.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from molexp_core.errors import MolexpUsageError
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_members, sweep_store


def find_resumable(root: Path, plan: Any) -> Optional[Tuple[Path, Dict[str, Any]]]:
    """The sweep ``--resume`` continues: of the sweeps of this script, profile and
    points (newest first), the newest that has a point left to run, else the
    newest; None when there is none.  A sweep of the same points whose configs
    differ (other overrides, an edited config file) is refused, naming the keys."""
    script, wanted = str(plan.script), plan.definition_hash
    hashes = [r.config_hash for r in plan.resolved]
    same_points: List[Tuple[Path, Dict[str, Any]]] = []
    other_config: Optional[Tuple[Path, Dict[str, Any]]] = None
    for directory in sweep_store.list_sweeps(root):  # newest first, by creation
        try:
            record = sweep_store.read_sweep(directory)
        except sweep_store.SweepStoreError as exc:
            click.echo(f"warning: {exc.format_message()}", err=True)
            continue
        if (record.get("script") != script or record.get("profile") != plan.base.profile
                or record.get("definition_hash") != wanted):
            continue
        if [p.get("config_hash") for p in record["points"]] == hashes:
            same_points.append((directory, record))
        elif other_config is None:
            other_config = (directory, record)
    for directory, record in same_points:
        if not sweep_members.all_succeeded(root, record):
            return directory, record
    if same_points:
        return same_points[0]
    if other_config is not None:
        _refuse_other_config(root, plan, *other_config)
    return None


def _refuse_other_config(root: Path, plan: Any, directory: Path,
                         record: Dict[str, Any]) -> None:
    """The newest sweep of these points has other configs: name the keys."""
    from molexp_core.config.overrides import diff_keys, show_value

    index = next(i for i, (p, r) in enumerate(zip(record["points"], plan.resolved))
                 if p.get("config_hash") != r.config_hash)
    old = _point_config(root, record, index)
    shown = ""
    if old is not None:
        rows = diff_keys(old, plan.resolved[index].config)
        shown = "; ".join(f"{key}: {show_value(a)} in the sweep, {show_value(b)} now"
                          for key, a, b in rows[:10])
        if len(rows) > 10:
            shown += f"; and {len(rows) - 10} more"
        shown = f" ({shown})" if shown else ""
    given = " ".join(f"-o {shlex.quote(o)}" for o in record.get("overrides") or [])
    hint = (f"the sweep was started with {given}: give the same overrides" if given
            else "the sweep was started without overrides: drop them")
    raise MolexpUsageError(
        f"--resume would change the config of sweep {record['sweep_id']}'s points "
        f"(point {index}{shown}); resume never reinterprets a sweep: {hint}, or start "
        "a new sweep without --resume")


def _point_config(root: Path, record: Dict[str, Any], index: int) -> Optional[Dict]:
    run_dir = sweep_store.run_dir_of(root, record["points"][index])
    try:
        config = runstore.read_run(run_dir).get("config") if run_dir else None
    except runstore.RunStoreError:
        return None
    return config if isinstance(config, dict) else None


def resume_points(root: Path, plan: Any, scheduler: Any, record_scheduler: Dict[str, Any],
                  workflow: Any, quiet: bool, prepared: Dict[int, Any]
                  ) -> Tuple[Optional[Path], List[int]]:
    """The sweep to continue and the indices of its points to run; (None, []) when
    there is none.  New runs are made for the points that need one (their
    ``PreparedRun`` into ``prepared``); unfinished runs are marked for resuming."""
    from molexp_core.cli.sweep_prepare import point_extra, run_dir_text
    from molexp_core.runs import prepare

    found = find_resumable(root, plan)
    if found is None:
        click.echo(f"no earlier sweep of {plan.script.name} with these points under profile "
                   f"{plan.base.profile or '(none)'}; starting a new sweep", err=True)
        return None, []
    sweep_dir, record = found
    if sweep_members.owner_alive(record):
        raise runstore.RunBusy(f"sweep {record['sweep_id']} is still running (pid "
                               f"{record.get('pid')}); it will not be resumed a second time")
    code = _current_code(plan, workflow)
    plans: Dict[int, Tuple[str, Any]] = {}
    pending: List[Tuple[Path, Dict[str, Any]]] = []
    for member in sweep_members.members(root, record):
        what, run, why = sweep_members.outcome(root, record, member)
        if what == "succeeded":
            continue
        if what == "resume":
            prepare.check_resume(member.run_dir, run, plan.resolved[member.index])
            prepare.check_not_alive(member.run_dir, run)
            pending.append((member.run_dir, run))
            if member.problem is not None and not quiet:
                click.echo(f"point {member.index}: {member.problem}; its own run "
                           f"{member.run_dir.name} (found by its own record) is resumed",
                           err=True)
        elif member.run_dir is not None and not quiet:
            click.echo(f"point {member.index}: {why}; a new run replaces it", err=True)
        plans[member.index] = (what, member)
    _refuse_if_queued(pending, scheduler)
    size = len(record["points"])
    changed: Dict[int, Dict[str, Any]] = {}
    try:
        for index, (what, member) in sorted(plans.items()):
            if what == "resume":
                _mark_resumed(member.run_dir, record_scheduler, plan.script, code)
                text = run_dir_text(root, member.run_dir)
                if member.point.get("run_dir") != text:  # found by its own record
                    changed[index] = {"run_id": member.run_dir.name, "run_dir": text}
                continue
            made = prepare.prepare_new_run(
                root, plan.script, plan.resolved[index], workflow, record_scheduler,
                point_extra(record["sweep_id"], plan, index, size), sync=False,
                script_bytes=code)
            prepared[index] = made
            fields: Dict[str, Any] = {"run_id": made.run_id, "reused": False,
                                      "run_dir": run_dir_text(root, made.run_dir),
                                      "job_id": None}
            old = member.point.get("run_id")
            if isinstance(old, str) and old != made.run_id:
                fields["replaced"] = list(member.point.get("replaced") or []) + [old]
            changed[index] = fields
    finally:
        runstore.sync_all()
        todo = sorted(plans)

        def note(rec: Dict[str, Any]) -> None:
            for index, fields in changed.items():
                rec["points"][index].update(fields)
            if todo:
                rec.setdefault("resumes", []).append(
                    {"at": runstore.now_iso(), "points": list(todo),
                     "scheduler": record_scheduler["name"]})

        sweep_store.update_sweep(sweep_dir, note)
    if todo and not quiet:
        click.echo(f"resuming sweep {sweep_dir.name}: {len(todo)} of {size} point(s) did "
                   "not succeed", err=True)
    return sweep_dir, todo


def _current_code(plan: Any, workflow: Any) -> bytes:
    """The script as it is now: what every resumed point executes (its code of record)."""
    if workflow is not None and getattr(workflow, "source", None) is not None:
        return workflow.source
    try:
        return plan.script.read_bytes()
    except OSError as exc:
        raise runstore.RunStoreError(f"cannot read {plan.script}: {exc.strerror or exc}")


def _mark_resumed(run_dir: Path, record_scheduler: Dict[str, Any], script: Path,
                  code: bytes) -> None:
    """As ``--resume`` of one run: the scheduler it goes to now, and the current
    script snapshotted as the code its next attempt executes (a job runs it)."""
    from molexp_core.runs.code_of_record import prepare_snapshot

    def mark(rec: Dict[str, Any]) -> None:
        rec["scheduler"] = dict(record_scheduler)
        prepare_snapshot(run_dir, rec, script, code, "resume")

    runstore.update_run(run_dir, mark, sync=False)


def _refuse_if_queued(pairs: List[Tuple[Path, Dict[str, Any]]], fallback: Any) -> None:
    """Points whose job is still queued or running are not resumed: ONE scheduler
    query for all of them (not one per point)."""
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.scheduling.reconcile import refuse_if_queued

    schedulers = dict(get_plugin_host().schedulers())
    schedulers.setdefault(fallback.name, fallback)
    refuse_if_queued(pairs, schedulers)
