"""Diff-first configs: the keys that vary across the shown runs, the rest in common.

Configs are flattened to dotted keys (``optimizer.lr``); a list is one value.  A
key is *common* when every run has it with the same value (same type too: ``1``
and ``1.0`` differ, as they do in ``config_hash``); every other key varies, and
each run keeps only its varying keys (a run without the key has none there).
Values that JSON cannot carry (NaN, infinities) go through :func:`jsonable`.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

MAX_DEPTH = 32


def flatten(config: Any, prefix: str = "", out: Dict[str, Any] = None,
            depth: int = 0) -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; an empty mapping stays one value."""
    out = {} if out is None else out
    if isinstance(config, Mapping) and config and depth < MAX_DEPTH:
        for key, value in config.items():
            flatten(value, f"{prefix}.{key}" if prefix else str(key), out, depth + 1)
    elif prefix:
        out[prefix] = config
    return out


def with_point(flat: Dict[str, Any], point: Mapping[str, Any]) -> Dict[str, Any]:
    """A flattened config with a sweep point's dotted keys set (a point value that
    is a mapping replaces the whole subtree, as ``apply_point`` does)."""
    result = dict(flat)
    for key, value in point.items():
        if isinstance(value, Mapping) or any(k.startswith(key + ".") for k in result):
            for old in [k for k in result if k == key or k.startswith(key + ".")]:
                del result[old]
            flatten(value, key, result)
        else:
            result[key] = value
    return result


def identity(value: Any) -> Tuple[str, Any]:
    if isinstance(value, (list, dict, tuple)):
        return ("json", json.dumps(jsonable(value), sort_keys=True, default=str))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def split(flats: Sequence[Dict[str, Any]]) -> Tuple[Dict[str, Any], List[str],
                                                     List[Dict[str, Any]]]:
    """(common key -> value, varying keys in first-seen order, each run's varying values)."""
    return split_shared([(flat, None) for flat in flats])


Shared = Tuple[Dict[str, Any], Optional[Mapping[str, Any]]]


def split_shared(configs: Sequence[Shared]) -> Tuple[Dict[str, Any], List[str],
                                                     List[Dict[str, Any]]]:
    """:func:`split` of configs given as ``(base, point)``: a flattened config shared
    by many runs (the same object) with each run's point keys set over it (leaves,
    or None).  A key is judged once per distinct base plus once per run that sets
    it, so 10,000 points of one sweep cost what their swept keys cost."""
    if not configs:
        return {}, [], []
    groups: Dict[int, Tuple[Dict[str, Any], List[Mapping[str, Any]], Dict[str, int]]] = {}
    order: Dict[str, None] = {}
    for base, point in configs:
        group = groups.get(id(base))
        if group is None:
            group = groups[id(base)] = (base, [], {})
            order.update(dict.fromkeys(base))
        group[1].append(point or {})
        for key in point or ():
            group[2][key] = group[2].get(key, 0) + 1
            order.setdefault(key, None)
    common: Dict[str, Any] = {}
    varying: List[str] = []
    for key in order:
        same, first, ident = True, _ABSENT, None
        for base, points, setting in groups.values():
            values = [p[key] for p in points if key in p] if setting.get(key) else []
            if len(values) < len(points):  # some of this base's runs keep its value
                values.append(base.get(key, _ABSENT))
            for value in values:
                if value is _ABSENT:
                    same = False
                elif first is _ABSENT:
                    first, ident = value, identity(value)
                elif value is not first and identity(value) != ident:
                    same = False
                if not same:
                    break
            if not same:
                break
        if same and first is not _ABSENT:
            common[key] = first
        else:
            varying.append(key)
    per_run = []
    for base, point in configs:
        point = point or {}
        per_run.append({k: point[k] if k in point else base[k] for k in varying
                        if k in point or k in base})
    return common, varying, per_run


_ABSENT = object()


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with NaN and infinities as ``{"$nf": "NaN"}`` (JSON has none; the page
    turns them back into numbers), other non-JSON leaves as text."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$nf": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if depth > MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    return str(value)
