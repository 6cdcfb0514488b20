"""Finding the ``molexp`` entry points of the installed distributions, cached.

Scanning every distribution's metadata costs more than the rest of start-up, so
the answer is cached under ``$XDG_CACHE_HOME/molexp`` (default ``~/.cache``),
keyed on the interpreter and on every ``sys.path`` entry with its modification
time: installing or removing a distribution changes its site directory's mtime
and so the key.  ``MOLEXP_NO_PLUGIN_CACHE=1`` skips the cache.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Tuple

GROUP = "molexp"


def discover() -> List[Dict[str, Any]]:
    """``[{"name", "value", "dist", "version"[, "hooks"]}]`` for every ``molexp`` entry
    point; ``hooks`` (the hooks a plugin implements) is known once it has loaded."""
    cache = cache_file() if os.environ.get("MOLEXP_NO_PLUGIN_CACHE", "") in ("", "0") else None
    if cache is not None:
        try:
            with open(cache[0], encoding="utf-8") as handle:
                stored = json.load(handle)
            if stored.get("key") == cache[1]:
                return stored["entry_points"]
        except (OSError, ValueError, AttributeError, KeyError):
            pass
    found = scan()
    if cache is not None:
        _write(cache, found)
    return found


def remember_hooks(found: List[Dict[str, Any]], hooks: Dict[str, List[str]],
                   files: Dict[str, str]) -> None:
    """Store, in ``found`` (what :func:`discover` returned) and its cache, which
    hooks each plugin implements and its module file's mtime, so that
    `molexp --help` can skip loading plugins when none adds commands."""
    if os.environ.get("MOLEXP_NO_PLUGIN_CACHE", "") not in ("", "0"):
        return
    changed = False
    for entry in found:
        known = hooks.get(entry["name"])
        stamp = _file_stamp(files.get(entry["name"]))
        if known is not None and (entry.get("hooks") != known or entry.get("file") != stamp):
            entry["hooks"] = known
            entry["file"] = stamp
            changed = True
    if changed:
        _write(cache_file(), found)


def may_add_commands(found: List[Dict[str, Any]]) -> bool:
    """False only when every plugin is known not to implement molexp_register_commands
    (and none of their module files changed since that was learned)."""
    for entry in found:
        if "hooks" not in entry or "molexp_register_commands" in entry["hooks"]:
            return True
        stamp = entry.get("file")
        if stamp is None or _file_stamp(stamp[0]) != stamp:
            return True  # edited in place (or never seen): the hooks may have changed
    return False


def _file_stamp(path: Any) -> Any:
    if not path:
        return None
    try:
        return [path, os.stat(path).st_mtime_ns]
    except OSError:
        return None


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


def cache_file() -> Tuple[str, str]:
    """(path, key): the key names the interpreter and every sys.path entry's mtime."""
    # the current directory is left out: its mtime changes with every file made there
    return stamped_cache("entry-points", [e for e in sys.path if e not in ("", ".")])


def stamped_cache(name: str, paths: List[str]) -> Tuple[str, str]:
    """(path, key) of the cache file ``$XDG_CACHE_HOME/molexp/<name>-<crc>.json``,
    keyed on the interpreter and the mtime of each of ``paths``: a package installed
    or removed in any of them changes the key."""
    import zlib

    parts = [sys.executable, sys.version]
    for entry in paths:
        try:
            parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    key = "\n".join(parts)
    digest = f"{zlib.crc32(key.encode('utf-8', 'replace')):08x}"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "molexp", f"{name}-{digest}.json"), key


def _write(cache: Tuple[str, str], found: List[Dict[str, Any]]) -> None:
    path, key = cache
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "entry_points": found}, handle)
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
