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

import os
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
    """One run while the page is built: where it is, its summary and full record.
    Directories are kept as text (a Path per point costs more than reading it)."""

    def __init__(self, directory: Optional[str], summary: Optional[Dict[str, Any]],
                 point: Optional[Dict[str, Any]] = None, sweep: Optional[str] = None,
                 relative: Optional[str] = None) -> None:
        self.directory = directory
        self.relative = relative  # to the runs root, as the sweep record has it
        self.summary = summary
        self.point = point  # the sweep's point entry (index, point, config_hash, ...)
        self.sweep = sweep
        self.record: Optional[Dict[str, Any]] = None
        self.flat: Optional[Dict[str, Any]] = None
        self.results: Dict[str, Any] = {}
        self.profile: Optional[str] = None  # a missing point's, from its sweep
        self.script: Optional[str] = None

    @property
    def run_dir(self) -> Optional[Path]:
        return Path(self.directory) if self.directory is not None else None

    def read(self) -> Optional[Dict[str, Any]]:
        if self.record is None and self.directory is not None:
            try:
                self.record = runstore.read_run(Path(self.directory))
            except runstore.RunStoreError:
                self.record = {}
        return self.record or None


def _point_dir(point: Any) -> Optional[str]:
    """A point's run directory relative to the runs root, only if it is a safe one
    (the rule of ``sweep_store.run_dir_of``, without making a Path per point)."""
    relative = point.get("run_dir") if isinstance(point, dict) else None
    if not isinstance(relative, str):
        return None
    parts = relative.split("/")
    if len(parts) != 3 or any(not p or p.startswith(".") for p in parts):
        return None
    return relative


def sweep_rows(root: Path, record: Dict[str, Any]) -> List[Row]:
    points = record.get("points") if isinstance(record.get("points"), list) else []
    base = str(root)
    relatives = [_point_dir(p) for p in points]
    by_parent: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for relative in relatives:
        parent = relative.rsplit("/", 1)[0] if relative else None
        if parent is not None and parent not in by_parent:
            by_parent[parent] = dict(run_index.profile_summaries(Path(f"{base}/{parent}")))
    rows = []
    for point, relative in zip(points, relatives):
        summary = directory = None
        if relative is not None:
            directory = f"{base}/{relative}"
            summary = by_parent[relative.rsplit("/", 1)[0]].get(directory)
        row = Row(directory if summary else None, summary,
                  point if isinstance(point, dict) else {}, record.get("sweep_id"), relative)
        row.profile, row.script = record.get("profile"), record.get("script")
        rows.append(row)
    return rows


def loose_rows(run_dirs: List[Path]) -> List[Row]:
    rows = []
    for run_dir in run_dirs:
        row = Row(str(run_dir), None)
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


FINAL = ("succeeded", "failed", "cancelled", runstore.CORRUPT)


def refresh_statuses(rows: List[Row]) -> None:
    """Ask schedulers about queued and running runs (one call each), then decide
    what each run shows (``interrupted``, ``lost``), as ``molexp runs`` does."""
    from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

    live = [(r.run_dir, r.summary) for r in rows
            if r.directory is not None and r.summary and needs_scheduler(r.summary)]
    if live:
        from molexp_core.plugin_host.manager import get_plugin_host

        reconcile(live, get_plugin_host().schedulers())
    for row in rows:
        if row.summary is not None and row.directory is not None:
            status = row.summary.get("status")
            row.summary["_shown"] = (status if status in FINAL and not (
                row.summary.get("scheduler") or {}).get("state") else
                runstore.display_status(row.summary, row.run_dir))


def fill_configs(rows: List[Row]) -> None:
    """Each row's flattened config (see the module docstring)."""
    reps: Dict[Tuple[str, ...], Optional[Dict[str, Any]]] = {}
    leaves: Dict[Tuple[str, ...], bool] = {}
    for row in rows:
        if row.directory is None:
            continue
        point = (row.point or {}).get("point")
        recorded = (row.summary or {}).get("config_hash")
        planned = (row.point or {}).get("config_hash")
        if row.sweep and isinstance(point, dict) and row.record is None and \
                recorded is not None and recorded == planned:
            kind = (row.sweep or "",) + tuple(sorted(point))
            if kind not in reps:
                record = row.read()
                flat = configs.flatten((record or {}).get("config") or {})
                reps[kind] = flat
                # the point's keys are leaves of this config: setting them is enough
                leaves[kind] = all(k in flat and not any(o.startswith(k + ".") for o in flat)
                                   for k in point)
                row.flat = flat
                continue
            if leaves[kind] and not any(isinstance(v, dict) for v in point.values()):
                row.flat = dict(reps[kind])
                row.flat.update(point)
            else:
                row.flat = configs.with_point(reps[kind], point)
        else:
            record = row.read()
            row.flat = configs.flatten((record or {}).get("config") or {}) if record else {}


def fill_results(rows: List[Row]) -> List[str]:
    """Each row's scalar result fields (``Task.path``); the fields in first-seen order."""
    fields: Dict[str, None] = {}
    reader = _ResultReader()
    try:
        for row in rows:
            tasks = (row.summary or {}).get("tasks")
            if row.directory is None or not isinstance(tasks, dict):
                continue
            for task, info in tasks.items():
                if not isinstance(info, dict) or info.get("status") != "succeeded":
                    continue
                value = reader.read(row.directory, task)
                if value is _NONE:
                    continue
                for path, leaf in _scalars(value, task, 0):
                    row.results[path] = leaf
                    fields.setdefault(path, None)
    finally:
        reader.close()
    return list(fields)


_NONE = object()


class _ResultReader:
    """Task results as ``load_result`` reads them (``results/<name>`` of the run,
    capped, no link followed anywhere on the way, naming that task), through one
    open descriptor per profile directory instead of a path walk per result."""

    def __init__(self) -> None:
        self.parents: Dict[str, Optional[int]] = {}
        self.names: Dict[str, str] = {}

    def read(self, directory: str, task: str) -> Any:
        import json

        from molexp_core.runs import safe_files
        from molexp_core.runs.result_files import RESULTS_DIR, result_name

        parent, _, run_id = directory.rpartition("/")
        if parent not in self.parents:
            try:
                self.parents[parent] = safe_files.open_dir(parent, follow=False)
            except (OSError, safe_files.RunStoreError):
                self.parents[parent] = None
        parent_fd = self.parents[parent]
        if parent_fd is None:
            return _NONE
        name = self.names.get(task) or self.names.setdefault(task, result_name(task))
        run_fd = results_fd = None
        try:
            run_fd = safe_files.open_subdir(parent_fd, run_id, directory)
            results_fd = safe_files.open_subdir(run_fd, RESULTS_DIR, directory)
            stored = json.loads(safe_files.read_bytes(f"{directory}/{RESULTS_DIR}/{name}",
                                                      safe_files.RESULT_CAP, "result file",
                                                      dir_fd=results_fd, name=name))
        except (OSError, ValueError, RecursionError, safe_files.RunStoreError):
            return _NONE
        finally:
            for fd in (results_fd, run_fd):
                if fd is not None:
                    os.close(fd)
        if not isinstance(stored, dict) or stored.get("task") != task or "result" not in stored:
            return _NONE
        return stored["result"]

    def close(self) -> None:
        for fd in self.parents.values():
            if fd is not None:
                os.close(fd)


def _scalars(value: Any, prefix: str, depth: int):
    if isinstance(value, dict) and depth < FIELD_DEPTH:
        for key, item in value.items():
            yield from _scalars(item, f"{prefix}.{key}", depth + 1)
    elif isinstance(value, (str, int, float, bool)) or value is None:
        yield (prefix if depth else f"{prefix}.result"), value


class Provenances:
    """Each distinct (script hash, git commit, dirty, environment hash) once: a run
    refers to its entry by number (10,000 runs of one code carry one copy)."""

    def __init__(self) -> None:
        self.numbers: Dict[Tuple[Any, ...], int] = {}

    def number(self, values: Tuple[Any, ...]) -> int:
        values = tuple(v if isinstance(v, (str, bool)) else None for v in values)
        return self.numbers.setdefault(values, len(self.numbers))

    def table(self) -> List[Dict[str, Any]]:
        return [dict(zip(("script", "git", "dirty", "env"), values))
                for values in self.numbers]


def row_data(row: Row, root: Path, varying: Dict[str, Any],
             provs: Provenances) -> Dict[str, Any]:
    summary = row.summary or {}
    point = row.point or {}
    status = summary.get("_shown") or summary.get("status") or "missing"
    if row.directory is None:
        status = "missing"
    code = summary.get("code") if isinstance(summary.get("code"), dict) else {}
    tasks = summary.get("tasks") if isinstance(summary.get("tasks"), dict) else {}
    return {
        "id": summary.get("run_id") or point.get("run_id"),
        "dir": None if row.directory is None else (row.relative or _relative(row.run_dir, root)),
        "status": status,
        "profile": summary.get("profile") if summary else row.profile,
        "script": str(summary.get("script") or row.script or "?").rsplit("/", 1)[-1],
        "sweep": row.sweep,
        "index": point.get("index") if isinstance(point.get("index"), int) else None,
        "point": configs.plain(point.get("point")) if isinstance(point.get("point"),
                                                                  dict) else None,
        "created": summary.get("created_at"),
        "duration": _duration(summary),
        "results": configs.plain(row.results),
        "config": configs.plain(varying),
        "prov": provs.number((code.get("script"), code.get("git"), code.get("dirty"),
                              code.get("environment"))),
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
    seen = {r.directory for r in rows}  # a run named beside its sweep is shown once
    rows += loose_rows([d for d in selection.runs if str(d) not in seen])
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
    provs = Provenances()
    data = {
        "runs": [row_data(r, root, diff.get(id(r), {}), provs) for r in rows],
        "provs": provs.table(),
        "fields": fields,
        "varying": varying,
        "common": configs.jsonable(common),
        "sweeps": [sweep_data(root, d, rec, these) for d, rec, these in sweep_rows_of],
        "notes": notes,
    }
    return rows, data
