"""A per-profile index of run summaries, so listing 100,000 runs reads a few files.

The run directories stay the source of truth.  ``<profile dir>/.index.json``
caches, for each run, a summary of its ``run.json`` together with that file's
inode, size and mtime; an entry is used only while all three still match, so a
changed, added or removed run is always read afresh.  Deleting the index loses
nothing: the next listing rebuilds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from molexp_core.runs import store as runstore

INDEX_FILE = ".index.json"
DETAILS_FILE = ".index-details.json"
VERSION = 3
DIRECT_READS = 200  # wanted runs read straight from run.json before the details file pays
ERROR_CHARS = 300
SAVE_AFTER = 16  # changed entries (or 1%) before the index is rewritten


def summary_of(record: Dict[str, Any]) -> Dict[str, Any]:
    """What listings, the monitor and the resume lookup need of a record."""
    scheduler = record.get("scheduler") or {}
    error = record.get("error")
    return {
        "run_id": record.get("run_id"),
        "script": record.get("script"),
        "profile": record.get("profile"),
        "status": record.get("status"),
        "config_hash": record.get("config_hash"),
        "script_sha256": record.get("script_sha256"),
        "created_at": record.get("created_at"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "host": record.get("host"),
        "pid": record.get("pid"),
        "parent_run": record.get("parent_run"),
        "sweep": _sweep_of(record),
        "error": error[:ERROR_CHARS] if isinstance(error, str) else error,
        "scheduler": {k: scheduler.get(k) for k in ("name", "job_id", "state")
                      if scheduler.get(k) is not None},
        "tasks": {name: {"status": (task or {}).get("status")}
                  for name, task in (record.get("tasks") or {}).items()},
    }


def _sweep_of(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    sweep = record.get("sweep")
    if not isinstance(sweep, dict):
        return None
    return {"id": sweep.get("id"), "index": sweep.get("index")}


Wanted = Optional[Callable[[str, Optional[str], Optional[str]], bool]]


STAGING_MAX_AGE = 3600.0  # seconds; a staging directory lives milliseconds


def _sweep_staging(paths: List[str]) -> None:
    """Remove staging directories left by a run start killed before its rename.

    Nothing ran in them (a run executes only after the rename); by age, not by
    pid, so a start on another host sharing this filesystem is never touched.
    """
    import time

    now = time.time()
    for path in paths:
        try:
            if now - os.stat(path).st_mtime > STAGING_MAX_AGE:
                runstore.remove_tree(Path(path))
        except OSError:
            pass


def profile_summaries(profile_dir: Path, want: Wanted = None) -> List[Tuple[str, Dict[str, Any]]]:
    """(run dir as a string, summary), newest first, for the runs in ``profile_dir``
    that ``want(status, profile, script)`` accepts (all when ``want`` is None).

    Two files per profile directory: a compact one (validation stamp, status,
    profile, script of every run) that is always read, and the full summaries,
    read only when many runs are wanted; a few wanted runs are read directly.
    Strings, not Paths: at 100,000 runs Path objects cost more than the disk.
    """
    names, staging = [], []
    try:
        with os.scandir(profile_dir) as entries:
            for e in entries:
                if runstore.RUN_ID.match(e.name) and e.is_dir():
                    names.append(e.name)
                elif e.name.endswith(".staging") and e.name.startswith("."):
                    staging.append(e.path)
    except OSError:
        return []
    names.sort(reverse=True)
    if staging:
        _sweep_staging(staging)
    scripts, compact = _load_compact(profile_dir)
    base = os.fspath(profile_dir)
    fresh: Dict[str, list] = {}
    stale = 0
    wanted: List[Tuple[str, list]] = []
    fetched: Dict[str, Dict[str, Any]] = {}  # summaries read from run.json just now
    for name in names:
        run_dir = f"{base}/{name}"
        try:
            st = os.stat(f"{run_dir}/{runstore.RUN_FILE}")
        except OSError:
            continue
        stamp = [st.st_ino, st.st_size, st.st_mtime_ns]
        entry = compact.get(name)
        if entry is None or entry[:3] != stamp:
            try:
                summary = summary_of(runstore.read_run(Path(run_dir)))
            except runstore.RunStoreError:
                continue
            fetched[name] = summary
            entry = stamp + [summary["status"], summary["profile"],
                             _script_id(scripts, summary["script"])]
            stale += 1
        fresh[name] = entry
        if want is None or want(entry[3], entry[4], scripts[entry[5]]):
            wanted.append((name, entry))
    stale += len(set(compact) - set(fresh))
    details: Optional[Dict[str, Any]] = None
    if len(wanted) - len(fetched) > DIRECT_READS:
        details = _load_details(profile_dir)
    result = []
    for name, entry in wanted:
        summary = fetched.get(name)
        if summary is None and details is not None:
            cached = details.get(name)
            if cached is not None and cached[0] == entry[:3]:
                summary = cached[1]
        if summary is None:
            try:
                summary = summary_of(runstore.read_run(Path(f"{base}/{name}")))
            except runstore.RunStoreError:
                continue
            fetched[name] = summary
        result.append((f"{base}/{name}", summary))
    # Rewriting a big index costs more than re-reading a few changed runs next
    # time (a run being resumed changes on every listing): save when it pays.
    if stale > max(SAVE_AFTER, len(fresh) // 100) or (stale and len(fresh) < 1000):
        _save_compact(profile_dir, scripts, fresh)
    if details is not None or (want is None and stale):
        merged = dict(details or _load_details(profile_dir))
        for name, summary in fetched.items():
            merged[name] = [fresh[name][:3], summary]
        for name in set(merged) - set(fresh):
            del merged[name]
        if len(fetched) > max(SAVE_AFTER, len(fresh) // 100) or len(fresh) < 1000:
            _save(profile_dir, DETAILS_FILE, {"version": VERSION, "runs": merged})
    return result


def _script_id(scripts: List[Optional[str]], script: Optional[str]) -> int:
    try:
        return scripts.index(script)
    except ValueError:
        scripts.append(script)
        return len(scripts) - 1


def summaries(root: Path, script_stem: Optional[str] = None,
              profile_dir_name: Optional[str] = None,
              want: Wanted = None) -> List[Tuple[str, Dict[str, Any]]]:
    """Summaries of the runs under ``root`` (optionally one script / profile)
    that ``want`` accepts, newest first."""
    pairs: List[Tuple[str, Dict[str, Any]]] = []
    scripts = [root / script_stem] if script_stem else runstore._subdirs(root)
    for script_dir in scripts:
        profiles = ([script_dir / profile_dir_name] if profile_dir_name
                    else runstore._subdirs(script_dir))
        for profile_dir in profiles:
            pairs.extend(profile_summaries(profile_dir, want))
    pairs.sort(key=lambda pair: pair[0].rsplit("/", 1)[-1], reverse=True)
    return pairs


def _read(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if isinstance(data, dict) and data.get("version") == VERSION:
            return data
    except (OSError, ValueError):
        pass
    return None


def _load_compact(profile_dir: Path) -> Tuple[List[Optional[str]], Dict[str, list]]:
    data = _read(profile_dir / INDEX_FILE)
    if data is None or not isinstance(data.get("runs"), dict):
        return [], {}
    return list(data.get("scripts") or []), data["runs"]


def _load_details(profile_dir: Path) -> Dict[str, Any]:
    data = _read(profile_dir / DETAILS_FILE)
    return data["runs"] if data and isinstance(data.get("runs"), dict) else {}


def _save_compact(profile_dir: Path, scripts: List[Optional[str]], runs: Dict[str, list]) -> None:
    _save(profile_dir, INDEX_FILE, {"version": VERSION, "scripts": scripts, "runs": runs})


def _save(profile_dir: Path, name: str, data: Dict[str, Any]) -> None:
    tmp = profile_dir / f"{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(tmp, profile_dir / name)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass  # read-only runs root: listings still work, just unindexed
