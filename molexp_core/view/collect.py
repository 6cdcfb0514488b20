"""The page's data: one row per run (status, profile, sweep point, results,
duration, provenance, varying config), the common config, and each sweep.

Statuses, times and provenance come from the per-profile run index (one or two
files per profile directory, however many runs); runs waiting on a scheduler
are reconciled with one call per scheduler, as ``molexp runs`` does.  A sweep
point's config is its sweep's config with the point applied, taken from one
``run.json`` per kind of point and used only where the point's recorded
``config_hash`` matches its run's; every other run's config is read from its
own ``run.json``.  Task results are read through ``load_result`` (capped, never
through a link).  Everything returned is plain JSON data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.runs import index as run_index
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_store
from molexp_core.view import configs
from molexp_core.view.select import Selection

MAX_FIELDS = 200  # result fields per page; more are named in a note
FIELD_DEPTH = 4


class Row:
    """One run while the page is built: where it is, its summary and full record."""

    def __init__(self, run_dir: Optional[Path], summary: Optional[Dict[str, Any]],
                 point: Optional[Dict[str, Any]] = None, sweep: Optional[str] = None) -> None:
        self.run_dir = run_dir
        self.summary = summary
        self.point = point  # the sweep's point entry (index, point, config_hash, ...)
        self.sweep = sweep
        self.record: Optional[Dict[str, Any]] = None
        self.flat: Optional[Dict[str, Any]] = None
        self.results: Dict[str, Any] = {}
        self.profile: Optional[str] = None  # a missing point's, from its sweep
        self.script: Optional[str] = None

    def read(self) -> Optional[Dict[str, Any]]:
        if self.record is None and self.run_dir is not None:
            try:
                self.record = runstore.read_run(self.run_dir)
            except runstore.RunStoreError:
                self.record = {}
        return self.record or None


def sweep_rows(root: Path, record: Dict[str, Any]) -> List[Row]:
    points = record.get("points") if isinstance(record.get("points"), list) else []
    dirs = [sweep_store.run_dir_of(root, p) if isinstance(p, dict) else None for p in points]
    by_parent: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for run_dir in dirs:
        if run_dir is not None and str(run_dir.parent) not in by_parent:
            by_parent[str(run_dir.parent)] = dict(run_index.profile_summaries(run_dir.parent))
    rows = []
    for point, run_dir in zip(points, dirs):
        summary = None
        if run_dir is not None:
            summary = by_parent.get(str(run_dir.parent), {}).get(str(run_dir))
        row = Row(run_dir if summary else None, summary,
                  point if isinstance(point, dict) else {}, record.get("sweep_id"))
        row.profile, row.script = record.get("profile"), record.get("script")
        rows.append(row)
    return rows


def loose_rows(run_dirs: List[Path]) -> List[Row]:
    rows = []
    for run_dir in run_dirs:
        row = Row(run_dir, None)
        try:
            row.record = runstore.read_run(run_dir)
            row.summary = run_index.summary_of(row.record)
        except runstore.CorruptRecord as exc:
            row.record = {}
            row.summary = run_index.corrupt_summary(run_dir, exc.reason)
        sweep = row.record.get("sweep") if row.record else None
        if isinstance(sweep, dict):
            row.sweep = sweep.get("id")
            row.point = {"index": sweep.get("index"), "point": sweep.get("point")}
        rows.append(row)
    return rows


def refresh_statuses(rows: List[Row]) -> None:
    """Ask schedulers about queued and running runs (one call each), then decide
    what each run shows (``interrupted``, ``lost``)."""
    from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

    live = [(r.run_dir, r.summary) for r in rows if r.run_dir is not None and r.summary]
    if any(needs_scheduler(s) for _, s in live):
        from molexp_core.plugin_host.manager import get_plugin_host

        reconcile(live, get_plugin_host().schedulers())
    for row in rows:
        if row.summary is not None and row.run_dir is not None:
            row.summary["_shown"] = runstore.display_status(row.summary, row.run_dir)


def fill_configs(rows: List[Row]) -> None:
    """Each row's flattened config (see the module docstring)."""
    reps: Dict[Tuple[str, ...], Optional[Dict[str, Any]]] = {}
    for row in rows:
        if row.run_dir is None:
            continue
        point = (row.point or {}).get("point")
        recorded = (row.summary or {}).get("config_hash")
        planned = (row.point or {}).get("config_hash")
        if row.sweep and isinstance(point, dict) and row.record is None and \
                recorded is not None and recorded == planned:
            kind = (row.sweep or "",) + tuple(sorted(point))
            if kind not in reps:
                record = row.read()
                reps[kind] = configs.flatten((record or {}).get("config") or {})
                row.flat = reps[kind]
                continue
            row.flat = configs.with_point(reps[kind], point)
        else:
            record = row.read()
            row.flat = configs.flatten((record or {}).get("config") or {}) if record else {}


def fill_results(rows: List[Row]) -> List[str]:
    """Each row's scalar result fields (``Task.path``); the fields in first-seen order."""
    from molexp_core.runs.result_files import RESULTS_DIR, ResultUnavailable, load_result
    from molexp_core.runs.result_files import result_name

    fields: Dict[str, None] = {}
    for row in rows:
        tasks = (row.summary or {}).get("tasks")
        if row.run_dir is None or not isinstance(tasks, dict):
            continue
        for task, info in tasks.items():
            if not isinstance(info, dict) or info.get("status") != "succeeded":
                continue
            try:
                value = load_result(row.run_dir, task,
                                    {"result_file": f"{RESULTS_DIR}/{result_name(task)}"})
            except ResultUnavailable:
                continue
            for path, leaf in _scalars(value, task, 0):
                row.results[path] = leaf
                fields.setdefault(path, None)
    return list(fields)


def _scalars(value: Any, prefix: str, depth: int):
    if isinstance(value, dict) and depth < FIELD_DEPTH:
        for key, item in value.items():
            yield from _scalars(item, f"{prefix}.{key}", depth + 1)
    elif isinstance(value, (str, int, float, bool)) or value is None:
        yield (prefix if depth else f"{prefix}.result"), value


def row_data(row: Row, root: Path, varying: Dict[str, Any]) -> Dict[str, Any]:
    summary = row.summary or {}
    point = row.point or {}
    status = summary.get("_shown") or summary.get("status") or "missing"
    if row.run_dir is None:
        status = "missing"
    git = summary.get("git") if isinstance(summary.get("git"), dict) else {}
    tasks = summary.get("tasks") if isinstance(summary.get("tasks"), dict) else {}
    return {
        "id": summary.get("run_id") or point.get("run_id"),
        "dir": _relative(row.run_dir, root),
        "status": status,
        "profile": summary.get("profile") if summary else row.profile,
        "script": Path(str(summary.get("script") or row.script or "?")).name,
        "sweep": row.sweep,
        "index": point.get("index") if isinstance(point.get("index"), int) else None,
        "point": configs.jsonable(point.get("point")) if isinstance(point.get("point"),
                                                                     dict) else None,
        "created": summary.get("created_at"),
        "duration": _duration(summary),
        "results": configs.jsonable(row.results),
        "config": configs.jsonable(varying),
        "prov": {"script": summary.get("script_sha256"), "git": git.get("commit"),
                 "dirty": git.get("dirty"), "env": summary.get("environment_sha256")},
        "tasks": {str(k): (v or {}).get("status") if isinstance(v, dict) else None
                  for k, v in tasks.items()},
        "error": summary.get("error") if isinstance(summary.get("error"), str) else None,
    }


def _duration(summary: Dict[str, Any]) -> Optional[float]:
    if not summary.get("started_at"):
        return None
    try:
        if not summary.get("finished_at"):
            return None  # unfinished: its clock is still running
        return round(runstore.elapsed(summary), 3)
    except (TypeError, ValueError):
        return None


def _relative(run_dir: Optional[Path], root: Path) -> Optional[str]:
    if run_dir is None:
        return None
    try:
        return run_dir.relative_to(root).as_posix()
    except ValueError:
        return str(run_dir)


def sweep_data(root: Path, directory: Path, record: Dict[str, Any], rows: List[Row]
               ) -> Dict[str, Any]:
    from molexp_core.view.resume import hole_filling

    axes: Dict[str, Dict[Any, Any]] = {}  # key -> value identity -> value
    for row in rows:
        point = (row.point or {}).get("point")
        for key, value in (point.items() if isinstance(point, dict) else ()):
            axes.setdefault(key, {}).setdefault(configs.identity(value), value)
    keys = list(axes)
    return {
        "id": record.get("sweep_id"),
        "name": record.get("name"),
        "script": Path(str(record.get("script") or "?")).name,
        "profile": record.get("profile"),
        "size": len(rows),
        "keys": keys,
        "axes": {k: configs.jsonable(list(v.values())) for k, v in axes.items()},
        "created": record.get("created_at"),
        "record": str(directory / sweep_store.SWEEP_FILE),
        "resume": hole_filling(root, record, [r.summary for r in rows]),
    }


def collect(selection: Selection) -> Tuple[List[Row], Dict[str, Any]]:
    """The rows (for the run panel's details) and the page's data."""
    root = selection.root
    rows: List[Row] = []
    sweep_rows_of: List[Tuple[Path, Dict[str, Any], List[Row]]] = []
    for directory, record in selection.sweeps:
        these = sweep_rows(root, record)
        sweep_rows_of.append((directory, record, these))
        rows += these
    rows += loose_rows(selection.runs)
    refresh_statuses(rows)
    fill_configs(rows)
    fields = fill_results(rows)
    notes = []
    if len(fields) > MAX_FIELDS:
        notes.append(f"{len(fields) - MAX_FIELDS} more result field(s) not shown: "
                     + ", ".join(fields[MAX_FIELDS:MAX_FIELDS + 20]))
        for row in rows:
            row.results = {k: v for k, v in row.results.items() if k in fields[:MAX_FIELDS]}
        fields = fields[:MAX_FIELDS]
    present = [r for r in rows if r.flat is not None]
    common, varying, per_run = configs.split([r.flat for r in present])
    diff = {id(r): d for r, d in zip(present, per_run)}
    data = {
        "runs": [row_data(r, root, diff.get(id(r), {})) for r in rows],
        "fields": fields,
        "varying": varying,
        "common": configs.jsonable(common),
        "sweeps": [sweep_data(root, d, rec, these) for d, rec, these in sweep_rows_of],
        "notes": notes,
    }
    return rows, data
