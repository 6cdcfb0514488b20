"""The run table of the page's data block, as columns (``"format": 2``).

One list per field, one item per run, in the page's order: a 10,000-run page
carries each key name once instead of 10,000 times, is a third of the size, and
is built and parsed in a fraction of the time; ``pandas.DataFrame`` takes the
plain columns as they are.  Values that repeat are numbered once in a table:

- ``dir``: the number of the run directory's parent in ``dirs`` (relative to the
  runs root) when the directory is named after the run id, else the whole path;
  ``null`` for a sweep point that has no run directory;
- ``sweep``: the number of the sweep in ``sweep_ids``; ``prov``: of the
  ``{script, git, dirty, env}`` in ``provs``; ``tasks``: of the ``{task: status}``
  mapping in ``task_states``.

``point``, ``config``, ``results`` and ``metrics`` hold one column per key:
``point.KEY`` a sweep point's value, ``config.KEY`` each varying config key,
``results.TASK.PATH`` each scalar result field, ``metrics.NAME`` each metric's
last value.  A run without the key has ``{"$absent": 1}`` in ``point`` and
``config`` columns (a ``null`` there is a null value) and ``null`` in
``results`` and ``metrics``.  NaN and infinities are ``{"$nf": "NaN"}`` etc.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from molexp_core.view.configs import jsonable

ABSENT = {"$absent": 1}


CELL_CHARS = 1000  # of one run's value in the table (a config value, a point's)
ID_CHARS = 200


def cell(value: Any) -> Any:
    """A JSON value for one cell of the table: NaN and infinities encoded, a text or a
    list or mapping whose JSON is longer than :data:`CELL_CHARS` cut to that, as text
    (a hand-edited run.json may hold megabytes; 10,000 runs must not copy them)."""
    if value is None or value is True or value is False or type(value) is int:
        return value
    if type(value) is str:
        return value if len(value) <= CELL_CHARS else cut(value)
    if type(value) is float:
        return value if math.isfinite(value) else jsonable(value)
    value = jsonable(value)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
        if len(text) > CELL_CHARS:
            return cut(text)
    return value


def cut(text: str, most: int = CELL_CHARS) -> str:
    return text if len(text) <= most else f"{text[:most - 1]}\u2026 ({len(text):,} characters)"


class Interned:
    """Each distinct value once; a run refers to it by number."""

    def __init__(self) -> None:
        self.numbers: Dict[Any, int] = {}
        self.values: List[Any] = []

    def number(self, key: Any, value: Any = None) -> int:
        found = self.numbers.get(key)
        if found is None:
            found = self.numbers[key] = len(self.values)
            self.values.append(key if value is None else value)
        return found


def _prov(code: Any) -> Tuple[Any, ...]:
    if not isinstance(code, dict):
        return (None, None, None, None)
    return tuple(v if isinstance(v, (str, bool)) else None for v in (
        code.get("script"), code.get("git"), code.get("dirty"), code.get("environment")))


def _tasks(tasks: Any) -> Tuple[Tuple[str, Optional[str]], ...]:
    if not isinstance(tasks, dict):
        return ()
    return tuple((str(k), v.get("status") if isinstance(v, dict) and
                  isinstance(v.get("status"), str) else None) for k, v in tasks.items())


_NAMES = ("id", "dir", "status", "profile", "script", "sweep", "index", "created",
          "duration", "prov", "tasks", "error")


def encode(rows: Sequence[Any], root: str, varying: Sequence[str],
           per_run: Sequence[Optional[Dict[str, Any]]], point_keys: Sequence[str],
           fields: Sequence[str], metric_names: Sequence[str]) -> Dict[str, Any]:
    """The data block's ``runs`` and its tables (``dirs``, ``sweep_ids``, ``provs``,
    ``task_states``).  ``rows`` have ``directory``, ``relative``, ``summary``,
    ``point``, ``sweep``, ``results``, ``metrics`` (see ``collect.Row``);
    ``per_run[i]`` is row i's varying config values (None: no config known)."""
    count = len(rows)
    dirs, sweeps, provs, states = Interned(), Interned(), Interned(), Interned()
    cols: Dict[str, List[Any]] = {name: [None] * count for name in _NAMES}
    ids, where, status, profiles, scripts, sweep_col, index_col, created, duration, \
        prov_col, task_col, errors = (cols[name] for name in _NAMES)
    points = {k: [ABSENT] * count for k in point_keys}
    configs = {k: [ABSENT] * count for k in varying}
    results = {k: [None] * count for k in fields}
    metrics = {k: [None] * count for k in metric_names}
    prefix = root.rstrip("/") + "/"
    cut = len(prefix)
    known: Dict[Any, int] = {}
    for i, row in enumerate(rows):
        summary = row.summary or {}
        point = row.point or {}
        run_id = summary.get("run_id") or point.get("run_id")
        ids[i] = run_id = run_id[:ID_CHARS] if isinstance(run_id, str) else None
        if row.directory is not None:
            relative = row.relative or (row.directory[cut:] if row.directory.startswith(prefix)
                                        else row.directory)
            parent, _, name = relative.rpartition("/")
            where[i] = dirs.number(parent) if name == run_id and parent else relative
            status[i] = summary.get("_shown") or summary.get("status") or "missing"
            stamp = summary.get("created_at")
            created[i] = stamp if isinstance(stamp, str) else None
            duration[i] = row.duration()
            code, key = summary.get("code"), None
            if type(code) is dict:  # one provenance for many runs: looked up by its items
                try:
                    key = tuple(code.items())
                    hash(key)
                except TypeError:
                    key = None
            number = known.get(key) if key is not None else None
            if number is None:
                number = provs.number(_prov(code))
                if key is not None:
                    known[key] = number
            prov_col[i] = number
            task_col[i] = states.number(_tasks(summary.get("tasks")))
            error = summary.get("error")
            errors[i] = error if isinstance(error, str) else None
        else:  # no run of its own: why, from runs/sweep_members.py
            status[i], errors[i] = row.placeholder or ("missing", None)
        profile = summary.get("profile") if summary else row.profile
        profiles[i] = profile if isinstance(profile, str) else None
        script = summary.get("script") or row.script
        scripts[i] = str(script or "?").rsplit("/", 1)[-1]
        if row.sweep is not None:
            sweep_col[i] = sweeps.number(row.sweep)
        index = point.get("index")
        index_col[i] = index if type(index) is int else None
        values = point.get("point")
        for parts, columns in ((values, points), (per_run[i], configs),
                               (row.results, results), (row.metrics, metrics)):
            if type(parts) is not dict:
                continue
            for key, value in parts.items():
                column = columns.get(key)
                if column is not None:
                    kind = type(value)  # plain JSON as it is; NaN, inf and the rest encoded
                    column[i] = value if kind is int or value is None or (
                        kind is float and value - value == 0) or (
                        kind is str and len(value) <= CELL_CHARS) else cell(value)
    cols.update({"count": count, "point": points, "config": configs, "results": results,
                 "metrics": metrics})
    return {
        "runs": cols,
        "dirs": dirs.values,
        "sweep_ids": sweeps.values,
        "provs": [dict(zip(("script", "git", "dirty", "env"), p)) for p in provs.values],
        "task_states": [dict(s) for s in states.values],
    }


def rows(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The runs of a data block as one mapping per run (the page's JavaScript does the
    same): for scripts and tests reading a page without a browser."""
    runs = data["runs"]
    out = []
    for i in range(runs["count"]):
        row = {k: runs[k][i] for k in ("id", "status", "profile", "script", "index",
                                       "created", "duration", "error")}
        where = runs["dir"][i]
        row["dir"] = (f"{data['dirs'][where]}/{row['id']}" if type(where) is int else where)
        sweep = runs["sweep"][i]
        row["sweep"] = data["sweep_ids"][sweep] if sweep is not None else None
        prov, tasks = runs["prov"][i], runs["tasks"][i]
        row["prov"] = data["provs"][prov] if prov is not None else {}
        row["tasks"] = data["task_states"][tasks] if tasks is not None else {}
        for part in ("point", "config"):
            values = {k: col[i] for k, col in runs[part].items() if col[i] != ABSENT}
            row[part] = values if values or part == "config" else None
        row["results"] = {k: col[i] for k, col in runs["results"].items() if col[i] is not None}
        row["metrics"] = {k: col[i] for k, col in runs["metrics"].items() if col[i] is not None}
        out.append(row)
    return out
