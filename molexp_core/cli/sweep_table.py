"""``molexp runs --sweep ID --columns``: one row per point, swept keys and results.

Columns: ``#`` (the point's index), ``run_id``, ``status``, the swept keys, then
result fields given as ``TASK.path.in.result`` (``-c Train.loss``) and metrics as
``metrics.NAME.AGG`` (``-c metrics.loss.min``; ``cli/metric_columns.py``).  Without
``-c``, every scalar field of every point's task results is shown (the union,
in order of first appearance; at most :data:`AUTO_COLUMNS`, the rest named on
stderr).  A ``-c`` field that no point has is refused, like ``--sort bogus``.  ``--csv`` and ``--json`` give the same rows as data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from molexp_core.cli import metric_columns
from molexp_core.cli.sweep_report import point_pairs, shown_status, swept_keys, value_text

AUTO_COLUMNS = 12
_MISSING = object()


def _results(run_dir: Optional[Path], summary: Optional[Dict[str, Any]],
             cache: Dict[Tuple[str, str], Any], task: str) -> Any:
    if run_dir is None or summary is None:
        return _MISSING
    key = (str(run_dir), task)
    if key not in cache:
        from molexp_core.runs.executor import (RESULTS_DIR, ResultUnavailable, load_result,
                                               result_name)

        value: Any = _MISSING
        if ((summary.get("tasks") or {}).get(task) or {}).get("status") == "succeeded":
            try:  # capped, never through a link, and only the task's own result
                value = load_result(run_dir, task,
                                    {"result_file": f"{RESULTS_DIR}/{result_name(task)}"})
            except ResultUnavailable:
                value = _MISSING
        cache[key] = value
    return cache[key]


def _dig(value: Any, path: Sequence[str]) -> Any:
    """The value at ``path``, or ``_MISSING`` when the result has no such field."""
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _all_fields(pairs, cache) -> List[str]:
    """Every scalar result field of every point, in order of first appearance
    (point by point), so a failed first point hides nothing."""
    fields: List[str] = []
    seen = set()
    for _, run_dir, summary in pairs:
        for task in (summary or {}).get("tasks") or {}:
            result = _results(run_dir, summary, cache, task)
            if result is _MISSING:
                continue
            for path in _scalar_paths(result, [task]):
                if path not in seen:
                    seen.add(path)
                    fields.append(path)
    return fields


def _field_value(run_dir, summary, cache, field: str) -> Any:
    if metric_columns.parse(field):  # metrics.NAME.AGG, from metrics.jsonl
        return metric_columns.value(run_dir, field, cache, _MISSING)
    task, _, rest = field.partition(".")
    result = _results(run_dir, summary, cache, task)
    if result is _MISSING:
        return _MISSING
    return _dig(result, rest.split(".")) if rest else result


def _check_fields(pairs, cache, wanted: Sequence[str], keys: Sequence[str]) -> None:
    """Refuse a ``-c`` field that no point has (a typo), like ``--sort bogus``.
    A task that has no result anywhere yet (still running) is not judged."""
    tasks = {t for _, _, s in pairs for t in ((s or {}).get("tasks") or {})}
    finished = {t for _, d, s in pairs for t in ((s or {}).get("tasks") or {})
                if _results(d, s, cache, t) is not _MISSING}
    for field in wanted:
        if metric_columns.parse(field) and field not in keys:
            metric_columns.check(field, [(d, s) for _, d, s in pairs], cache)
            continue
        task = field.partition(".")[0]
        if field in keys or (task in tasks and task not in finished):
            continue
        if any(_field_value(d, s, cache, field) is not _MISSING for _, d, s in pairs):
            continue
        from molexp_core.errors import MolexpUsageError, closest

        known = list(keys) + _all_fields(pairs, cache)
        hint = closest(field, known)
        shown = ", ".join(known[:AUTO_COLUMNS]) + (", ..." if len(known) > AUTO_COLUMNS else "")
        raise MolexpUsageError(
            f"-c {field!r}: no point has this result field"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + f"; fields: {shown or 'none yet'}")


def run_columns(pairs: Sequence[Tuple[Path, Dict[str, Any]]], fields: Sequence[str]
                ) -> Tuple[List[str], List[Dict[str, Any]]]:
    """``molexp runs -c`` without ``--sweep``: the columns named in ``fields`` (result
    fields and metrics) and, for each ``(run dir, summary)``, their values (None when
    the run has none), checked as a sweep's columns are."""
    cache: Dict[Tuple[str, str], Any] = {}
    wanted = [f.strip() for text in fields for f in text.split(",") if f.strip()]
    triples = [({}, run_dir, summary) for run_dir, summary in pairs]
    _check_fields(triples, cache, wanted, [])
    rows = []
    for run_dir, summary in pairs:
        values = {}
        for field in wanted:
            value = _field_value(run_dir, summary, cache, field)
            values[field] = None if value is _MISSING else value
        rows.append(values)
    return wanted, rows


def _scalar_paths(value: Any, prefix: List[str], depth: int = 0) -> List[str]:
    if isinstance(value, dict) and depth < 4:
        found = []
        for key, item in value.items():
            found += _scalar_paths(item, prefix + [str(key)], depth + 1)
        return found
    if isinstance(value, (str, int, float, bool)) or value is None:
        return [".".join(prefix)] if len(prefix) > 1 else []
    return []


def comparison_rows(root: Path, record: Dict[str, Any], fields: Sequence[str],
                    sort: Optional[str], reverse: bool) -> Tuple[List[str], List[Dict[str, Any]]]:
    pairs = point_pairs(root, record)
    cache: Dict[Tuple[str, str], Any] = {}
    wanted = [f for text in fields for f in text.split(",") if f.strip()]
    keys = swept_keys(record)
    if wanted:
        _check_fields(pairs, cache, wanted, keys)
    else:
        wanted = _all_fields(pairs, cache)
        if len(wanted) > AUTO_COLUMNS:
            click.echo(f"note: {len(wanted) - AUTO_COLUMNS} more result field(s) not shown "
                       f"({', '.join(wanted[AUTO_COLUMNS:])}); name them with -c", err=True)
            wanted = wanted[:AUTO_COLUMNS]
    columns = ["#", "run_id", "status", *keys, *[f for f in wanted if f not in keys]]
    rows = []
    for point, run_dir, summary in pairs:
        row: Dict[str, Any] = {"#": point.get("index"), "run_id": point.get("run_id"),
                               "status": shown_status(summary)}
        values = point.get("point") or {}
        for key in keys:
            row[key] = values.get(key)
        for field in wanted:
            if field in keys:
                continue
            value = _field_value(run_dir, summary, cache, field)
            row[field] = None if value is _MISSING else value
        rows.append(row)
    if sort:
        if sort not in columns:
            from molexp_core.errors import MolexpUsageError

            raise MolexpUsageError(f"--sort {sort!r}: not a column; columns: "
                                   f"{', '.join(columns)}")
        present = [r for r in rows if r.get(sort) is not None]
        absent = [r for r in rows if r.get(sort) is None]
        present.sort(key=lambda r: _sort_key(r[sort]), reverse=reverse)
        rows = present + absent  # rows without the value always last
    return columns, rows


def _sort_key(value: Any) -> Tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True, default=str))


def echo_table(columns: List[str], rows: List[Dict[str, Any]]) -> None:
    titles = {"run_id": "RUN ID", "status": "STATUS"}
    table = [tuple(titles.get(c, c) for c in columns)] + [
        tuple(_cell(row.get(c)) for c in columns) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value_text(value)


def echo_csv(columns: List[str], rows: List[Dict[str, Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index" if c == "#" else c for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_value(row.get(c)) for c in columns])
    click.echo(buffer.getvalue(), nl=False)


def _csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def echo_json_rows(columns: List[str], rows: List[Dict[str, Any]]) -> None:
    """A JSON list of flat objects (``pandas.read_json`` / ``DataFrame(rows)``)."""
    data = [{("index" if c == "#" else c): row.get(c) for c in columns} for row in rows]
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=str))
