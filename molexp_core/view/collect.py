"""The page's data: one row per run (status, profile, sweep point, results,
duration, provenance, varying config), the common config, and each sweep.

Statuses, times and provenance come from the per-profile run index (one or two
files per profile directory, however many runs); runs waiting on a scheduler
are reconciled with one call per scheduler, as ``molexp runs`` does.  A sweep
point's config is its sweep's config with the point applied, taken from one
``run.json`` per kind of point and used only where the point's recorded
``config_hash`` matches its run's; every other run's config is read from its
own ``run.json``.  Scalar result fields and each metric's last value come from
``runs.result_summaries`` (read through ``load_result``'s rules, cached per
profile directory).  The rows go into the page as columns (``view.columns``).
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

MAX_FIELDS = 200  # result fields, metrics, varying config keys per page; more: a note


class Row:
    """One run while the page is built: where it is, its summary and full record.
    Directories are kept as text (a Path per point costs more than reading it)."""

    __slots__ = ("directory", "relative", "summary", "point", "sweep", "record", "flat",
                 "over", "results", "metrics", "profile", "script", "placeholder")

    def __init__(self, directory: Optional[str], summary: Optional[Dict[str, Any]],
                 point: Optional[Dict[str, Any]] = None, sweep: Optional[str] = None,
                 relative: Optional[str] = None) -> None:
        self.directory = directory
        self.relative = relative  # to the runs root, as the sweep record has it
        self.summary = summary
        self.point = point  # the sweep's point entry (index, point, config_hash, ...)
        self.sweep = sweep
        self.record: Optional[Dict[str, Any]] = None
        self.flat: Optional[Dict[str, Any]] = None  # the flattened config, shared ...
        self.over: Optional[Dict[str, Any]] = None  # ... with this point's keys set over it
        self.results: Dict[str, Any] = {}
        self.metrics: Dict[str, Any] = {}  # name -> its last value
        self.profile: Optional[str] = None  # a missing point's, from its sweep
        self.script: Optional[str] = None
        self.placeholder: Optional[Tuple[str, Optional[str]]] = None  # no run: (status, why)

    @property
    def run_dir(self) -> Optional[Path]:
        return Path(self.directory) if self.directory is not None else None

    def duration(self) -> Optional[float]:
        summary = self.summary or {}
        if not summary.get("started_at") or not summary.get("finished_at"):
            return None  # unfinished: its clock is still running
        try:
            return round(runstore.elapsed(summary), 3)
        except (TypeError, ValueError):
            return None

    def read(self) -> Optional[Dict[str, Any]]:
        if self.record is None and self.directory is not None:
            try:
                self.record = runstore.read_run(Path(self.directory))
            except runstore.RunStoreError:
                self.record = {}
        return self.record or None


def sweep_rows(root: Path, record: Dict[str, Any]) -> List[Row]:
    """One row per point, its run decided as everywhere in molexp
    (``runs/sweep_members.py``: a run is the point's only when its own record says
    so); a point without a run of its own shows ``missing``, or ``interrupted`` /
    ``created`` when it was never prepared, with the reason."""
    from molexp_core.runs import sweep_members

    base = os.fspath(root) + "/"
    rows = []
    for member in sweep_members.members(root, record):
        point = member.point if isinstance(member.point, dict) else {}
        directory = member.directory if member.summary is not None else None
        relative = (directory[len(base):] if directory is not None
                    and directory.startswith(base) else None)
        row = Row(directory, member.summary, point, record.get("sweep_id"), relative)
        row.profile, row.script = record.get("profile"), record.get("script")
        if member.summary is None:
            row.placeholder = sweep_members.placeholder(record, member)
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


def refresh_statuses(rows: List[Row], notes: List[str]) -> None:
    """Ask schedulers about queued and running runs (one call each), then decide
    what each run shows (``interrupted``, ``lost``), as ``molexp runs`` does; a
    scheduler that does not answer is named in ``notes`` (the states are then what
    the runs last recorded)."""
    from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

    live = [(r.run_dir, r.summary) for r in rows
            if r.directory is not None and r.summary and needs_scheduler(r.summary)]
    if live:
        from molexp_core.plugin_host.manager import get_plugin_host

        result = reconcile(live, get_plugin_host().schedulers())
        for name, why in sorted(getattr(result, "unanswered", {}).items()):
            notes.append(f"scheduler {name} did not answer ({why}): the states shown are "
                         "what the runs last recorded and may be stale")
    for row in rows:
        if row.summary is not None and row.directory is not None:
            status = row.summary.get("status")
            row.summary["_shown"] = (status if status in FINAL and not (
                row.summary.get("scheduler") or {}).get("state") else
                runstore.display_status(row.summary, row.run_dir))


def fill_configs(rows: List[Row]) -> None:
    """Each row's flattened config (see the module docstring): ``flat``, shared by
    the points of one kind, with ``over`` (the point's keys, leaves) set over it."""
    reps: Dict[Tuple[str, ...], Dict[str, Any]] = {}
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
                row.flat, row.over = reps[kind], point
            else:
                row.flat = configs.with_point(reps[kind], point)
        else:
            record = row.read()
            row.flat = configs.flatten((record or {}).get("config") or {}) if record else {}


def fill_results(rows: List[Row], notes: List[str]) -> Tuple[List[str], List[str]]:
    """Each row's scalar result fields (``Task.path``) and metric summaries; the fields
    and the metric names, in first-seen order."""
    from molexp_core.runs.result_summaries import RESULT_READ_CAP, summaries
    from molexp_core.runs.safe_files import MiB

    by_parent: Dict[str, List[Tuple[Row, str, List[str]]]] = {}
    for row in rows:
        tasks = (row.summary or {}).get("tasks")
        if row.directory is None or not isinstance(tasks, dict):
            continue
        parent, _, name = row.directory.rpartition("/")
        done = [str(t) for t, info in tasks.items()
                if isinstance(info, dict) and info.get("status") == "succeeded"]
        by_parent.setdefault(parent, []).append((row, name, done))
    fields: Dict[str, None] = {}
    names: Dict[str, None] = {}
    big = 0
    for parent, members in by_parent.items():
        found = summaries(parent, [(name, done) for _, name, done in members])
        for row, name, _ in members:
            row.results, row.metrics, too_big = found.get(name) or ({}, {}, 0)
            big += bool(too_big)
            if row.results:
                fields.update(dict.fromkeys(row.results))
            if row.metrics:
                names.update(dict.fromkeys(row.metrics))
    if big:
        notes.append(f"{big} run(s) have a result file over {RESULT_READ_CAP // MiB} MiB: its "
                     "fields are not in the table (the run panel, or molexp show, has them)")
    return list(fields), list(names)


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
        "resume": hole_filling(root, record, [shown_status(r) for r in rows]),
    }


def shown_status(row: Row) -> str:
    """What the page shows as the row's status."""
    if row.directory is None:
        return row.placeholder[0] if row.placeholder else "missing"
    summary = row.summary or {}
    return summary.get("_shown") or summary.get("status") or "missing"


def _at_most(names: List[str], what: str, notes: List[str]) -> List[str]:
    """The first :data:`MAX_FIELDS` names; a note names some of the others."""
    if len(names) <= MAX_FIELDS:
        return names
    notes.append(f"{len(names) - MAX_FIELDS} more {what}(s) not shown: "
                 + ", ".join(n[:80] for n in names[MAX_FIELDS:MAX_FIELDS + 20])
                 + (", ..." if len(names) > MAX_FIELDS + 20 else ""))
    return names[:MAX_FIELDS]


def collect(selection: Selection) -> Tuple[List[Row], Dict[str, Any]]:
    """The rows (for the run panel's details) and the page's data."""
    from molexp_core.view import columns

    root = selection.root
    rows: List[Row] = []
    sweep_rows_of: List[Tuple[Path, Dict[str, Any], List[Row]]] = []
    for directory, record in selection.sweeps:
        these = sweep_rows(root, record)
        sweep_rows_of.append((directory, record, these))
        rows += these
    seen = {r.directory for r in rows}  # a run named beside its sweep is shown once
    rows += loose_rows([d for d in selection.runs if str(d) not in seen])
    notes: List[str] = []
    refresh_statuses(rows, notes)
    fill_configs(rows)
    fields, metric_names = fill_results(rows, notes)
    fields = _at_most(fields, "result field", notes)
    metric_names = _at_most(metric_names, "metric", notes)
    present = [r for r in rows if r.flat is not None]
    common, varying, per_run = configs.split_shared([(r.flat, r.over) for r in present])
    sweeps = [sweep_data(root, d, rec, these) for d, rec, these in sweep_rows_of]
    point_keys = list(dict.fromkeys(k for s in sweeps for k in s["keys"]))
    if len(varying) > MAX_FIELDS:  # the swept keys always stay
        room = set([k for k in varying if k not in point_keys][:MAX_FIELDS - len(point_keys)])
        shown = [k for k in varying if k in point_keys or k in room]
        _at_most(shown + [k for k in varying if k not in shown], "varying config key", notes)
        varying = shown
    diff = {id(r): d for r, d in zip(present, per_run)}
    data = columns.encode(rows, str(root), varying, [diff.get(id(r)) for r in rows],
                          point_keys, fields, metric_names)
    data.update({
        "fields": fields,
        "metric_names": metric_names,
        "varying": varying,
        "common": {k: columns.cell(v) for k, v in common.items()},
        "sweeps": sweeps,
        "notes": notes,
    })
    return rows, data
