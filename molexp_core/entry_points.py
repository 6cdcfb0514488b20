"""Finding the ``molexp`` entry points of the installed distributions, cached.

Scanning every distribution's metadata costs more than the rest of start-up, so
the answer is cached under ``$XDG_CACHE_HOME/molexp`` (default ``~/.cache``),
keyed on the interpreter and on every ``sys.path`` entry with its modification
time: installing or removing a distribution changes its site directory's mtime
and so the key.  ``MOLEXP_NO_PLUGIN_CACHE=1`` skips the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, Dict, List, Optional

GROUP = "molexp"


def discover() -> List[Dict[str, Any]]:
    """``[{"name", "value", "dist", "version"}]`` for every ``molexp`` entry point."""
    cache = cache_file() if os.environ.get("MOLEXP_NO_PLUGIN_CACHE", "") in ("", "0") else None
    if cache is not None:
        try:
            with open(cache, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            pass
    found = scan()
    if cache is not None:
        _write(cache, found)
    return found


def scan() -> List[Dict[str, Any]]:
    from importlib.metadata import entry_points

    eps = entry_points()
    group = eps.select(group=GROUP) if hasattr(eps, "select") else eps.get(GROUP, [])
    found, seen = [], set()
    for ep in group:
        if (ep.name, ep.value) in seen:  # one distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else None
        found.append({
            "name": ep.name,
            "value": ep.value,
            "dist": name.lower().replace("_", "-") if name else None,
            "version": dist.version if dist is not None else None,
        })
    return found


def cache_file() -> Optional[str]:
    parts = [sys.executable, sys.version]
    for entry in sys.path:
        if entry in ("", "."):
            continue  # the current directory: its mtime changes with every file made there
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    key = hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()[:24]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "molexp", f"entry-points-{key}.json")


def _write(path: str, found: List[Dict[str, Any]]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(found, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs the scan next time


def load(value: str) -> Any:
    """Import an entry point's object from its value, ``module:attr.path``."""
    import importlib

    module_name, _, attrs = value.partition(":")
    obj = importlib.import_module(module_name.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj
