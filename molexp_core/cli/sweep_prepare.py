"""Preparing a sweep: its record and its points' run directories, new or resumed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.runs import processes
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_store


def run_dir_text(root: Path, run_dir: Path) -> str:
    return Path(run_dir).relative_to(root).as_posix()


def point_extra(sweep_id: str, plan: Any, index: int, size: int) -> Dict[str, Any]:
    """The ``sweep`` field of a point's ``run.json``: its membership, as its own
    record states it (what ``runs/sweep_members.py`` checks)."""
    return {"sweep": {"id": sweep_id, "name": plan.name, "index": index, "size": size,
                      "point": plan.points[index]}}


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
        "host": runstore.hostname(),  # the process preparing (then running) the points
        "pid": os.getpid(),
        "pid_start": processes.own_start_time(),
        "warnings": list(plan.warnings),
        "points": [{"index": i, "point": p, "run_id": None, "run_dir": None,
                    "config_hash": r.config_hash, "job_id": None}
                   for i, (p, r) in enumerate(zip(plan.points, plan.resolved))],
        "arrays": [],
    }
    try:
        content = (workflow.source if getattr(workflow, "source", None) is not None
                   else plan.script.read_bytes())  # once for every point: copy and hash agree
    except OSError as exc:
        raise runstore.RunStoreError(f"cannot read {plan.script}: {exc.strerror or exc}")
    wanted = {r.config_hash for r in plan.resolved}
    existing = _reusable_runs(root, plan, workflow, content, wanted) if skip_succeeded else {}
    sweep_dir = sweep_store.create_sweep(root, record)
    sweep_id = sweep_dir.name
    made: Dict[int, Dict[str, Any]] = {}
    todo: List[int] = []
    try:
        for index, (point, resolved) in enumerate(zip(plan.points, plan.resolved)):
            found = existing.get(resolved.config_hash)
            if found is not None:
                made[index] = {"run_id": Path(found).name, "reused": True,
                               "run_dir": run_dir_text(root, Path(found))}
                continue
            extra = point_extra(sweep_id, plan, index, size)
            prepared = prepare.prepare_new_run(root, plan.script, resolved, workflow,
                                               record_scheduler, extra, sync=False,
                                               script_bytes=content)
            made[index] = {"run_id": prepared.run_id,
                           "run_dir": run_dir_text(root, prepared.run_dir)}
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


def _reusable_runs(root: Path, plan: Any, workflow: Any, content: bytes,
                   wanted: set) -> Dict[str, str]:
    """config hash -> the newest run of this script and profile with that config
    whose results ``--skip-succeeded`` may reuse: intact (``run_id``, config hash),
    succeeded, and every result reusable under the code the sweep runs now
    (``runs/reuse.py``: by the fingerprints ``--resume`` checks when the script is
    loaded here, else only results that came from exactly these bytes)."""
    import hashlib

    from molexp_core.runs import index as run_index
    from molexp_core.runs.integrity import RunCorrupt, check_run
    from molexp_core.runs.reuse import results_reusable

    profile_dir = root / runstore.script_dir_name(plan.script) / (
        plan.base.profile or runstore.DEFAULT_PROFILE_DIR)
    script = str(plan.script)
    sha = hashlib.sha256(content).hexdigest()

    def want(status: str, profile: Optional[str], run_script: Optional[str]) -> bool:
        return status == "succeeded" and profile == plan.base.profile and run_script == script

    found: Dict[str, str] = {}
    for run_dir, summary in run_index.profile_summaries(profile_dir, want):  # newest first
        digest = summary.get("config_hash")
        if digest not in wanted or digest in found:
            continue
        try:
            run = runstore.read_run(Path(run_dir))
            check_run(Path(run_dir), run)
        except (runstore.RunStoreError, RunCorrupt):
            continue
        if run.get("status") != "succeeded":
            continue
        reusable, _ = results_reusable(run, workflow, script_sha256=sha, run_dir=Path(run_dir))
        if reusable:
            found[digest] = run_dir
    return found
