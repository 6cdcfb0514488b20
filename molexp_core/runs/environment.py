"""The Python environment of an attempt, as a small text file with a hash.

``env/<sha256>.txt`` in the run directory holds the interpreter (version,
implementation, executable), the platform, molexp's version and every installed
distribution as ``name==version`` (from ``importlib.metadata``, sorted, one per
name).  Listing the distributions reads every one's metadata, so the list is
cached under ``$XDG_CACHE_HOME/molexp`` keyed on the interpreter and on the
modification time of every ``sys.path`` entry (installing or removing a
distribution changes its site directory's mtime), as plugin discovery does.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

ENV_DIR = "env"
HEADER = "# molexp environment: interpreter, platform, distributions"
MAX_FILE = 4 << 20
CACHE_CAP = 16 << 20


def platform_text() -> str:
    """``Linux-6.1.0-x86_64`` without platform.platform()'s libc probing."""
    uname = os.uname()
    return f"{uname.sysname}-{uname.release}-{uname.machine}"


def environment_text(exclude: Iterable[str] = ()) -> str:
    from molexp_core.version import __version__

    lines = [
        HEADER,
        f"python {platform.python_version()} ({platform.python_implementation()})",
        f"executable {sys.executable}",
        f"platform {platform_text()}",
        f"molexp {__version__}",
        "[distributions]",
    ]
    lines.extend(distributions(exclude))
    return "\n".join(lines) + "\n"


def distributions(exclude: Iterable[str] = ()) -> List[str]:
    """``name==version`` of every installed distribution, cached (module docstring)."""
    excluded = {os.path.abspath(p) for p in exclude}
    paths = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) not in excluded]
    cache, key = _cache(paths)
    if cache is not None:
        stored = _read_cache(cache)
        if stored.get("key") == key and isinstance(stored.get("dists"), list):
            return [str(d) for d in stored["dists"]]
    found = _scan(paths)
    if cache is not None:
        _write_cache(cache, {"key": key, "dists": found})
    return found


def _read_cache(path: str) -> Dict[str, Any]:
    """The cache's content; {} when missing, unreadable, a link, a FIFO or too big."""
    from molexp_core.runs import safe_files

    try:
        stored = json.loads(safe_files.read_bytes(path, CACHE_CAP, "cache"))
    except (OSError, ValueError, safe_files.RunStoreError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _write_cache(path: str, content: Dict[str, Any]) -> None:
    """Replace the cache file, never through a link planted at its name."""
    from molexp_core.runs import safe_files

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        safe_files.write_atomic(path, json.dumps(content).encode("utf-8"), durable=False,
                                sync=False)
    except (OSError, safe_files.RunStoreError):
        pass  # an unwritable cache only costs the scan next time


def _scan(paths: List[str]) -> List[str]:
    from importlib.metadata import distributions as all_distributions

    seen: Dict[str, str] = {}
    for dist in all_distributions(path=paths):
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:  # a broken METADATA file: skip it, as pip list does
            continue
        if not name:
            continue
        canonical = name.lower().replace("_", "-").replace(".", "-")
        seen.setdefault(canonical, f"{canonical}=={version}")  # the first on sys.path wins
    return sorted(seen.values())


def _cache(paths: List[str]) -> Tuple[Optional[str], str]:
    if os.environ.get("MOLEXP_NO_ENV_CACHE", "") not in ("", "0"):
        return None, ""
    from molexp_core.plugin_host.entry_points import stamped_cache

    return stamped_cache("environment", paths)


def capture(run_dir: Path, exclude: Iterable[str] = ()) -> Optional[Tuple[str, str]]:
    """Write the environment file (once per content); ``(sha256, file name)`` or None.

    Never fails a run: a failure to list or write (a link planted at ``env/``, say:
    the run store's rules apply) leaves the environment unrecorded."""
    from molexp_core.runs.snapshot import read_run_file, write_run_file

    try:
        data = environment_text(exclude).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        name = f"{ENV_DIR}/{digest}.txt"
        if read_run_file(run_dir, name, len(data)) != data:
            write_run_file(run_dir, name, data, sync=False)
        return digest, name
    except Exception:
        return None


def parse(text: str) -> Dict[str, str]:
    """An environment file as ``{what: value}``: ``python``, ``executable``,
    ``platform``, ``molexp`` and each distribution by name."""
    out: Dict[str, str] = {}
    in_dists = False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line == "[distributions]":
            in_dists = True
        elif in_dists:
            name, _, version = line.partition("==")
            out[name] = version
        else:
            key, _, value = line.partition(" ")
            out[f"({key})"] = value
    return out


def differences(a: str, b: str, limit: int = 20) -> List[str]:
    """``numpy 1.26.4 -> 2.1.0`` lines between two environment files' texts."""
    left, right = parse(a), parse(b)
    rows = []
    for key in sorted(set(left) | set(right), key=lambda k: (not k.startswith("("), k)):
        if left.get(key) != right.get(key):
            rows.append(f"{key.strip('()')} {left.get(key, '(absent)')} -> "
                        f"{right.get(key, '(absent)')}")
    if len(rows) > limit:
        rows = rows[:limit] + [f"and {len(rows) - limit} more"]
    return rows


def read_environment(run_dir: Path, record: Dict[str, Any]) -> Optional[str]:
    from molexp_core.runs.snapshot import read_run_file

    name = record.get("environment_file")
    if not isinstance(name, str) or not name.startswith(f"{ENV_DIR}/") or "/" in name[4:] \
            or ".." in name:
        return None
    data = read_run_file(run_dir, name, MAX_FILE)
    return None if data is None else data.decode("utf-8", "replace")
