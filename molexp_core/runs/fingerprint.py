"""Code fingerprints of tasks, and which stored results ``--resume`` may reuse.

A task's fingerprint is the SHA-256 of: the source of its class and of each base
class outside molexp; the source of every function and class of the same
module that those methods refer to by name (followed transitively, up to
:data:`MAX_OBJECTS`); and the task instance's attributes (``vars(task)``, as
JSON, other objects by type name).  Comments and blank lines inside those
sources count; code in other modules (a sibling ``model.py``), data files and
the config do not (the config cannot change within a run).  Each stored result
also records the hash of the whole script it came from.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import types
from typing import Any, Dict, List, Optional, Set, Tuple

MAX_OBJECTS = 200


def task_fingerprint(task: Any) -> str:
    digest = hashlib.sha256()
    cls = type(task)
    module = cls.__module__
    seen: Set[int] = set()
    pending: List[Any] = [k for k in cls.__mro__
                          if k is not object and not k.__module__.startswith(("molexp",))]
    count = 0
    while pending and count < MAX_OBJECTS:
        obj = pending.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        count += 1
        digest.update(_source(obj).encode("utf-8", "replace") + b"\0")
        for code in _codes(obj):
            for name in _names(code):
                found = _global(obj, name)
                if (found is not None and id(found) not in seen
                        and getattr(found, "__module__", None) == module):
                    pending.append(found)
    digest.update(_state(task).encode("utf-8"))
    return digest.hexdigest()


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # no source to read: the compiled code stands in
        import marshal

        return f"{getattr(obj, '__qualname__', obj)!r}:" + "".join(
            marshal.dumps(code).hex() for code in _codes(obj))


def _codes(obj: Any) -> List[types.CodeType]:
    if isinstance(obj, types.FunctionType):
        return [obj.__code__]
    codes = []
    if isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                codes.extend(f.__code__ for f in (value.fget, value.fset, value.fdel)
                             if isinstance(f, types.FunctionType))
            elif isinstance(value, types.FunctionType):
                codes.append(value.__code__)
    return codes


def _names(code: types.CodeType) -> List[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_names(const))
    return names


def _global(obj: Any, name: str) -> Any:
    import sys

    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    found = getattr(module, name, None) if module is not None else None
    return found if isinstance(found, (type, types.FunctionType)) else None


def _state(task: Any) -> str:
    try:
        state = vars(task)
    except TypeError:
        return ""
    return json.dumps(state, sort_keys=True, default=lambda o: f"<{type(o).__qualname__}>")


class ReusePlan:
    """Decides, task by task in order, whether a stored result is reused.

    A task is reused when it succeeded earlier with the same fingerprint and no
    earlier task of this attempt ran; once one task runs, every later one runs
    too (it may read the results that changed).
    """

    def __init__(self, stored: Dict[str, Any]) -> None:
        self.stored = stored
        self.first_run: Optional[str] = None  # the first task this attempt runs

    def decide(self, name: str, fingerprint: str) -> Tuple[bool, str]:
        """``(reuse, why)``; ``why`` is empty for a task that simply has not run yet."""
        previous = self.stored.get(name) or {}
        status = previous.get("status")
        if status in ("failed", "cancelled", "running"):
            return False, f"it was {'interrupted' if status == 'running' else status} before"
        if status != "succeeded":
            return False, "it has not run yet"
        if self.first_run is not None:
            return False, f"an earlier task ran again ({self.first_run})"
        recorded = previous.get("fingerprint")
        if recorded is None:
            return False, "its result carries no code fingerprint"
        if recorded != fingerprint:
            return False, "its code changed"
        return True, "code unchanged"

    def ran(self, name: str) -> None:
        if self.first_run is None:
            self.first_run = name


def drop_vanished(run_dir: Any, record: Dict[str, Any], stored: Dict[str, Any],
                  names: List[str], log: Any) -> Optional[Dict[str, Any]]:
    """Tasks the script no longer has leave ``tasks``; their records move to this
    attempt's ``history`` entry (``dropped_tasks``).  Returns the new record, or
    None when nothing was dropped.  ``stored`` loses them too."""
    from molexp_core.runs import store as runstore

    gone = [name for name in stored if name not in names]
    if not gone:
        return None
    for name in gone:
        log.notice(f"task {name} no longer exists; its record moves to history")
        stored.pop(name, None)

    def mark(rec: Dict[str, Any]) -> None:
        tasks = rec.get("tasks") or {}
        dropped = {name: tasks.pop(name) for name in gone if name in tasks}
        if rec.get("history"):
            rec["history"][-1]["dropped_tasks"] = dropped

    return runstore.update_run(run_dir, mark, durable=False)
