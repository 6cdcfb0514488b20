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

from molexp_core.runs import safe_files, schema
from molexp_core.runs import store as runstore

INDEX_FILE = ".index.json"
DETAILS_FILE = ".index-details.json"
VERSION = 5
# what a refresh needs of `scheduler` (scheduling/reconcile.py): the job, and what it
# was submitted as
SCHEDULER_KEYS = ("name", "job_id", "state", "identity", "submission",
                  "submission_deadline")
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
        "pid_start": record.get("pid_start"),
        "parent_run": record.get("parent_run"),
        "sweep": _sweep_of(record),
        "error": error[:ERROR_CHARS] if isinstance(error, str) else error,
        "scheduler": {k: scheduler.get(k) for k in SCHEDULER_KEYS
                      if scheduler.get(k) is not None},
        "tasks": {name: {"status": (task or {}).get("status")}
                  for name, task in (record.get("tasks") or {}).items()},
        "code": code_of_results(record),
    }


def code_of_results(record: Dict[str, Any]) -> Dict[str, Any]:
    """The code and environment the run's results came from, as ``molexp view``
    compares runs ("is this comparison fair?"): the script hashes its tasks' results
    were made by (``a+b`` when tasks of one run ran different code), their snapshots'
    git commit and dirty flag, and the last attempt's environment.  A resumed run
    that ran fixed code says so, where the top-level fields keep the first attempt's."""
    tasks = record.get("tasks") if isinstance(record.get("tasks"), dict) else {}
    history = record.get("history") if isinstance(record.get("history"), list) else []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    made = sorted({t["script_sha256"] for t in tasks.values() if isinstance(t, dict)
                   and t.get("status") == "succeeded" and isinstance(t.get("script_sha256"), str)})
    scripts = made or [s for s in (last.get("script_sha256") or record.get("script_sha256"),)
                       if isinstance(s, str)]
    snapshots = record.get("snapshots") if isinstance(record.get("snapshots"), dict) else {}
    gits = []
    for script in scripts:
        snapshot = snapshots.get(script)
        git = snapshot.get("git") if isinstance(snapshot, dict) else (
            record.get("git") if script == record.get("script_sha256") else None)
        gits.append(git if isinstance(git, dict) else {})
    commits = sorted({str(g.get("commit")) for g in gits if g.get("commit")})
    dirty = {g.get("dirty") for g in gits}
    environment = last.get("environment_sha256") or record.get("environment_sha256")
    return {"script": "+".join(scripts) or None, "git": "+".join(commits) or None,
            "dirty": dirty.pop() if len(dirty) == 1 else None,
            "environment": environment if isinstance(environment, str) else None}


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
                if runstore.RUN_ID.match(e.name) and e.is_dir(follow_symlinks=False):
                    names.append(e.name)
                elif e.name.endswith(".staging") and e.name.startswith("."):
                    staging.append(e.path)
    except OSError:
        return []
    names.sort(reverse=True)
    if staging:
        _sweep_staging(staging)
    scripts, compact = _load_compact(profile_dir, len(names))
    base = os.fspath(profile_dir)
    fresh: Dict[str, list] = {}
    stale = 0
    wanted: List[Tuple[str, list]] = []
    fetched: Dict[str, Dict[str, Any]] = {}  # summaries read from run.json just now
    for name in names:
        run_dir = f"{base}/{name}"
        try:
            st = os.stat(f"{run_dir}/{runstore.RUN_FILE}", follow_symlinks=False)
        except OSError:
            continue
        stamp = [st.st_ino, st.st_size, st.st_mtime_ns]
        entry = compact.get(name)
        if entry is None or entry[:3] != stamp or entry[3] == runstore.CORRUPT:
            summary = _read_summary(profile_dir, name)
            fetched[name] = summary
            new = stamp + [summary["status"], summary["profile"],
                           _script_id(scripts, summary["script"])]
            stale += new != entry
            entry = new
        fresh[name] = entry
        if want is None or want(entry[3], entry[4], scripts[entry[5]]):
            wanted.append((name, entry))
    stale += len(set(compact) - set(fresh))
    details: Optional[Dict[str, Any]] = None
    if len(wanted) - len(fetched) > DIRECT_READS:
        details = _load_details(profile_dir, len(names))
    result = []
    for name, entry in wanted:
        summary = fetched.get(name)
        if summary is None and details is not None:
            cached = details.get(name)
            if cached is not None and cached[0] == entry[:3]:
                summary = cached[1]
        if summary is None:
            summary = _read_summary(profile_dir, name)
            fetched[name] = summary
        result.append((f"{base}/{name}", summary))
    # Rewriting a big index costs more than re-reading a few changed runs next
    # time (a run being resumed changes on every listing): save when it pays.
    if stale > max(SAVE_AFTER, len(fresh) // 100) or (stale and len(fresh) < 1000):
        _save_compact(profile_dir, scripts, fresh, len(names))
    if details is not None or (want is None and stale):
        merged = dict(details or _load_details(profile_dir, len(names)))
        for name, summary in fetched.items():
            merged[name] = [fresh[name][:3], summary]
        for name in set(merged) - set(fresh):
            del merged[name]
        if len(fetched) > max(SAVE_AFTER, len(fresh) // 100) or len(fresh) < 1000:
            _save(profile_dir, DETAILS_FILE, {"version": VERSION, "runs": merged},
                  index_cap(len(names), DETAILS_PER_RUN))
    return result


def _read_summary(profile_dir: Path, name: str) -> Dict[str, Any]:
    """The summary of run ``name``, or of a corrupt run (status ``corrupt``, the
    reason as its error): a bad record is listed, never dropped."""
    try:
        return summary_of(runstore.read_run(profile_dir / name))
    except runstore.CorruptRecord as exc:
        return corrupt_summary(profile_dir / name, exc.reason)
    except runstore.RunStoreError as exc:
        return corrupt_summary(profile_dir / name, exc.format_message())


def corrupt_summary(run_dir: Path, reason: str) -> Dict[str, Any]:
    profile = Path(run_dir).parent.name
    summary = summary_of({})
    summary.update(run_id=Path(run_dir).name, status=runstore.CORRUPT, error=reason[:ERROR_CHARS],
                   profile=None if profile == runstore.DEFAULT_PROFILE_DIR else profile)
    return summary


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


def index_cap(runs: int, per_run: int) -> int:
    """An index file's size cap: a few MiB, or ``per_run`` bytes per run present."""
    return max(safe_files.INDEX_MIN_CAP, runs * per_run)


COMPACT_PER_RUN = 512     # bytes of .index.json a run may take (it takes about 100)
DETAILS_PER_RUN = 8192    # bytes of .index-details.json (about 600, a long error 1,000)


def _read(path: Path, cap: int) -> Any:
    """An index file's content, or None when it is missing, not a regular file,
    over ``cap`` or not an index of this version: the index is then rebuilt."""
    try:
        data = json.loads(safe_files.read_bytes(path, cap, "run index").decode("utf-8"))
        if isinstance(data, dict) and data.get("version") == VERSION:
            return data
    except (OSError, ValueError, RecursionError, runstore.RunStoreError):
        pass
    return None


def _load_compact(profile_dir: Path, runs: int) -> Tuple[List[Optional[str]], Dict[str, list]]:
    """The compact index; every entry that is not exactly what molexp writes is
    dropped (that run is read afresh and the index rewritten)."""
    data = _read(profile_dir / INDEX_FILE, index_cap(runs, COMPACT_PER_RUN))
    if data is None or not isinstance(data.get("runs"), dict):
        return [], {}
    scripts = data.get("scripts")
    if not isinstance(scripts, list) or not all(
            s is None or isinstance(s, str) for s in scripts):
        return [], {}
    count = len(scripts)
    return scripts, {name: entry for name, entry in data["runs"].items()
                     if _valid_entry(entry, count)}


def _valid_entry(entry: Any, scripts: int) -> bool:
    return (type(entry) is list and len(entry) == 6
            and all(type(v) is int for v in entry[:3])
            and isinstance(entry[3], str) and (entry[4] is None or isinstance(entry[4], str))
            and type(entry[5]) is int and 0 <= entry[5] < scripts)


def _load_details(profile_dir: Path, runs: int) -> Dict[str, Any]:
    data = _read(profile_dir / DETAILS_FILE, index_cap(runs, DETAILS_PER_RUN))
    if not data or not isinstance(data.get("runs"), dict):
        return {}
    return {name: entry for name, entry in data["runs"].items() if _valid_details(entry)}


def _valid_details(entry: Any) -> bool:
    return (type(entry) is list and len(entry) == 2 and type(entry[0]) is list
            and len(entry[0]) == 3 and all(type(v) is int for v in entry[0])
            and isinstance(entry[1], dict) and schema.valid_summary(entry[1]))


def _save_compact(profile_dir: Path, scripts: List[Optional[str]], runs: Dict[str, list],
                  present: int) -> None:
    _save(profile_dir, INDEX_FILE, {"version": VERSION, "scripts": scripts, "runs": runs},
          index_cap(present, COMPACT_PER_RUN))


def _save(profile_dir: Path, name: str, data: Dict[str, Any], cap: int) -> None:
    """Write an index file, unless it is over ``cap``, the size its reader takes:
    an index it would refuse is not written (the runs are then read directly)."""
    try:
        encoded = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if len(encoded) > cap:
            return
        safe_files.write_atomic(profile_dir / name, encoded, durable=False,
                                sync=False)  # a damaged index is rebuilt
    except (TypeError, ValueError, runstore.RunStoreError):
        pass  # read-only runs root, a link planted: listings still work, just unindexed
