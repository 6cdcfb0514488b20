"""Fields of a sweep's points: swept keys and values read from the points' task results.

A field is ``TASK.path.in.result`` (``Train.loss``, ``Train.metrics.val.loss``); a
number in the path indexes a list, negative from the end (``Train.curve.-1``).
``FieldReader`` reads each point's results once (capped, never through a link, only
the task's own result file) and answers ``value(point, field)``, the fields every
point has and which fields are lists.  Metrics (``metrics.NAME.AGG``) are read by
``metric_columns``; a new kind of field is one more branch of
:meth:`FieldReader.value` and :meth:`FieldReader.check`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from molexp_core.cli import metric_columns

MISSING = object()  # a point without this field (no result yet, or no such key)
_INDEX = re.compile(r"-?\d+")
_DEPTH = 4  # how deep --columns alone looks into nested results

Pair = Tuple[Dict[str, Any], Optional[Path], Optional[Dict[str, Any]]]


def dig(value: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` (mapping keys; list indexes, negative from the end), or
    ``MISSING``."""
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and _INDEX.fullmatch(part):
            index = int(part)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def is_number(value: Any) -> bool:
    """A real number that can be compared: not a bool, not NaN."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and not (isinstance(value, float) and math.isnan(value)))


def is_missing(value: Any) -> bool:
    """No value to sort by: missing, null, or NaN (they sort last either way)."""
    return value is MISSING or value is None or (isinstance(value, float)
                                                 and math.isnan(value))


class FieldReader:
    """The task results of a sweep's points, read once each."""

    def __init__(self, pairs: Sequence[Pair], keys: Sequence[str]) -> None:
        self.pairs = list(pairs)
        self.keys = list(keys)
        self._cache: Dict[Tuple[str, str], Any] = {}

    def result(self, run_dir: Optional[Path], summary: Optional[Dict[str, Any]],
               task: str) -> Any:
        """A succeeded task's stored result, or ``MISSING``."""
        if run_dir is None or summary is None:
            return MISSING
        key = (str(run_dir), task)
        if key not in self._cache:
            from molexp_core.runs.executor import (RESULTS_DIR, ResultUnavailable,
                                                   load_result, result_name)

            value: Any = MISSING
            if ((summary.get("tasks") or {}).get(task) or {}).get("status") == "succeeded":
                try:  # capped, never through a link, and only the task's own result
                    value = load_result(run_dir, task,
                                        {"result_file": f"{RESULTS_DIR}/{result_name(task)}"})
                except ResultUnavailable:
                    value = MISSING
            self._cache[key] = value
        return self._cache[key]

    def value(self, pair: Pair, field: str) -> Any:
        """A swept key's value at this point, a metric's (``metrics.NAME.AGG``) or a
        result field's, or ``MISSING``."""
        point, run_dir, summary = pair
        if field in self.keys:
            return (point.get("point") or {}).get(field, MISSING)
        if metric_columns.parse(field):  # from metrics.jsonl
            return metric_columns.value(run_dir, field, self._cache, MISSING)
        task, _, rest = field.partition(".")
        result = self.result(run_dir, summary, task)
        if result is MISSING:
            return MISSING
        return dig(result, rest.split(".")) if rest else result

    def tasks(self) -> List[str]:
        return list(dict.fromkeys(t for _, _, s in self.pairs
                                  for t in ((s or {}).get("tasks") or {})))

    def known(self) -> Tuple[List[str], List[str]]:
        """(scalar fields, list fields) of every point's results, in order of first
        appearance point by point (so a failed first point hides nothing)."""
        scalars: Dict[str, None] = {}
        lists: Dict[str, None] = {}
        for run_dir, summary in ((d, s) for _, d, s in self.pairs):
            for task in (summary or {}).get("tasks") or {}:
                result = self.result(run_dir, summary, task)
                if result is not MISSING:
                    _walk(result, [task], scalars, lists, 0)
        return list(scalars), list(lists)

    def check(self, wanted: Sequence[str], flag: str = "-c") -> None:
        """Refuse a field that no point has (a typo), like ``--sort bogus``.  A task
        that has no result anywhere yet (still running) is not judged."""
        finished = {t for _, d, s in self.pairs for t in ((s or {}).get("tasks") or {})
                    if self.result(d, s, t) is not MISSING}
        tasks = set(self.tasks())
        for field in wanted:
            if metric_columns.parse(field) and field not in self.keys:
                metric_columns.check(field, [(d, s) for _, d, s in self.pairs], self._cache)
                continue
            task = field.partition(".")[0]
            if field in self.keys or (task in tasks and task not in finished):
                continue
            if any(self.value(pair, field) is not MISSING for pair in self.pairs):
                continue
            raise self.unknown(field, flag)

    def unknown(self, field: str, flag: str) -> Exception:
        from molexp_core.errors import MolexpUsageError, closest

        scalars, lists = self.known()
        known = self.keys + scalars
        hint = closest(field, known + lists)
        shown = ", ".join(known[:LISTED]) + (", ..." if len(known) > LISTED else "")
        listed = ""
        if lists:
            listed = ("; list fields (add .0 for the first item, .-1 for the last): "
                      + ", ".join(lists[:LISTED]) + (", ..." if len(lists) > LISTED else ""))
        return MolexpUsageError(
            f"{flag} {field!r}: no point has this result field"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + f"; fields: {shown or 'none yet'}{listed}")


LISTED = 12  # fields named in an error


def _walk(value: Any, prefix: List[str], scalars: Dict[str, None],
          lists: Dict[str, None], depth: int) -> None:
    if isinstance(value, dict) and depth < _DEPTH:
        for key, item in value.items():
            _walk(item, prefix + [str(key)], scalars, lists, depth + 1)
        return
    if len(prefix) < 2:
        return  # a whole result is not a column of its own
    if isinstance(value, (str, int, float, bool)) or value is None:
        scalars[".".join(prefix)] = None
    elif isinstance(value, list):
        lists[".".join(prefix)] = None
