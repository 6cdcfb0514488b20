"""The run store: run directories under a runs root, and their ``run.json``.

Layout: ``<root>/<script stem>/<profile or "default">/<run id>/run.json``.
The run directories are the source of truth.  ``run.json`` is only ever
replaced atomically (temp file, fsync, rename), and every read-modify-write
holds a short lock (``.meta.lock``) so that a scheduler recording a job id and
the job itself recording progress never overwrite each other.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import processes, safe_files, schema
from molexp_core.runs.ids import RUN_ID, new_run_id, remember
from molexp_core.runs.locks import EXEC_LOCK, ExecutionLock, _HELD, is_locked  # noqa: F401
from molexp_core.runs.records import (CORRUPT, RUN_FILE, CorruptRecord, RunBusy,  # noqa: F401
                                      _fsync_dir, _unwritable, defer_sync, hostname, now_iso,
                                      new_record_problem,
                                      read_run, sync_all, write_json_atomic, write_record)
from molexp_core.runs.safe_files import RunStoreError

META_LOCK = ".meta.lock"
DEFAULT_PROFILE_DIR = "default"
STATUSES = schema.STATUSES
ACTIVE = ("created", "submitted", "running")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def runs_root(option: Optional[str] = None) -> Path:
    """``--runs-dir``, else ``$MOLEXP_RUNS_DIR``, else ``./runs``."""
    value = option or os.environ.get("MOLEXP_RUNS_DIR") or "runs"
    return Path(value).absolute()


def safe_segment(text: str, what: str) -> str:
    if not _SAFE_SEGMENT.match(text) or ".." in text:
        raise RunStoreError(f"{what} {text!r} cannot name a directory under the runs root")
    return text


def script_dir_name(script: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", script.stem).lstrip(".") or "script"
    return stem


def create_run(
    root: Path,
    script: Path,
    profile: Optional[str],
    fill: Callable[[Path, str], None],
    sync: bool = True,
) -> Path:
    """Make a new run directory, complete or not at all.

    ``fill(directory, run_id)`` writes its contents into a hidden staging
    directory, which is then renamed into place: a reader (or a kill -9) never
    sees a run directory without its ``run.json``.  Unique under concurrent starts.
    """
    import errno

    parent = root / script_dir_name(script) / safe_segment(
        profile or DEFAULT_PROFILE_DIR, "profile"
    )
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(f"cannot create runs directory {parent}: {exc.strerror or exc}")
    for _ in range(100):
        run_id = new_run_id(root, parent)
        staging = parent / f".{run_id}.{os.getpid()}.staging"
        final = parent / run_id
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunStoreError(f"cannot create run directory in {parent}: "
                                f"{exc.strerror or exc}") from exc
        try:
            fill(staging, run_id)
            if final.exists():
                raise FileExistsError(errno.EEXIST, "run id taken")
            os.rename(staging, final)
        except OSError as exc:
            remove_tree(staging)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # another process took this id in the same microsecond
            raise RunStoreError(f"cannot create run directory {final}: "
                                f"{exc.strerror or exc}") from exc
        except BaseException:
            remove_tree(staging)
            raise
        if sync:  # else the caller syncs many runs at once (a sweep)
            _fsync_dir(parent)
        remember(root, run_id)
        return final
    raise RunStoreError(f"could not find a free run id under {parent}")  # pragma: no cover


def remove_tree(path: Path) -> None:
    import shutil  # only on the failure path: shutil is slow to import

    shutil.rmtree(path, ignore_errors=True)


LOST_STATE = "UNKNOWN"
"""``scheduler.state`` that reconcile sets in memory only (never written) for a
job no scheduler source knows any more, or that is not the run's; such a run is
shown as ``lost`` (``scheduler.lost_reason`` says why)."""
SEEN = "seen"
"""``scheduler.seen``, set by reconcile in memory only: the status the scheduler
gave the run's own job at this refresh."""


@contextlib.contextmanager
def _flock(path: Path, blocking: bool = True) -> Iterator[int]:
    import fcntl

    try:
        fd = safe_files.open_regular(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise _unwritable(Path(path).parent, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def update_run(run_dir: Path, mutate: Callable[[Dict[str, Any]], None],
               durable: bool = True, sync: bool = True) -> Dict[str, Any]:
    """Read ``run.json``, let ``mutate`` change it, write it back; under the meta lock."""
    run_dir = Path(run_dir)
    with _flock(run_dir / META_LOCK):
        record = read_run(run_dir)
        mutate(record)
        _remove_stale_temps(run_dir)  # left by a writer killed mid-write
        write_record(run_dir / RUN_FILE, record, durable and sync, sync)
    return record


def _remove_stale_temps(run_dir: Path) -> None:
    """Under the meta lock nobody else is writing run.json: old temps are debris."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(run_dir):
            if entry.name.startswith(f".{RUN_FILE}.") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def display_status(record: Dict[str, Any], run_dir: Optional[Path] = None) -> str:
    """The status to show: ``running`` whose process is gone is ``interrupted``."""
    status = record.get("status", "unknown")
    if status in ("submitted", "running") and (record.get("scheduler") or {}).get(
            "state") == LOST_STATE:
        return "lost"  # set by reconcile: no scheduler source knows the job any more
    if _orphaned_locally(record, status):
        return "interrupted"
    if status == "running" and (record.get("scheduler") or {}).get(SEEN) == "running":
        return "running"  # its scheduler says the job runs: no local guess over that
    if status == "running" and record.get("host") == hostname():
        pid = record.get("pid")
        if not _pid_alive(pid) or (run_dir is not None and not is_locked(run_dir)
                                   and not _executor_alive(record)):
            if run_dir is None:
                return "interrupted"
            # the process may have finished just after `record` was read
            try:
                fresh = read_run(run_dir)
            except MolexpError:
                return "interrupted"
            if fresh.get("status") != "running":
                record.clear()
                record.update(fresh)
                return fresh.get("status", "unknown")
            return "interrupted"
    return status


def _executor_alive(record: Dict[str, Any]) -> bool:
    return processes.same_process(record.get("pid"), record.get("pid_start"))


def _orphaned_locally(record: Dict[str, Any], status: str) -> bool:
    """A local run that never started and whose starting process is gone."""
    info = record.get("scheduler") or {}
    if info.get("name") != "local" or record.get("host") != hostname():
        return False
    if status == "created":
        return not _pid_alive(record.get("pid"))
    if status == "submitted":  # --detach: the background process is the job
        job = info.get("job_id")
        return not _pid_alive(int(job)) if str(job or "").isdigit() else False
    return False


def _pid_alive(pid: Any) -> bool:
    return processes.alive(pid)  # a zombie (its parent killed, never reaped) is not


def iter_run_dirs(
    root: Path, script_stem: Optional[str] = None, profile_dir: Optional[str] = None
) -> List[Path]:
    """Run directories under ``root``, newest first (run ids sort by time)."""
    runs: List[Path] = []
    if not root.is_dir():
        return runs
    scripts = [root / script_stem] if script_stem else _subdirs(root)
    for script in scripts:
        profiles = [script / profile_dir] if profile_dir else _subdirs(script)
        for profile in profiles:
            runs.extend(p for p in _subdirs(profile, follow=False) if RUN_ID.match(p.name))
    runs.sort(key=lambda p: p.name, reverse=True)
    return runs


def _subdirs(path: Path, follow: bool = True) -> List[Path]:
    """Subdirectories; ``follow=False`` skips links (a run directory is never one)."""
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries
                    if e.is_dir(follow_symlinks=follow) and not e.name.startswith(".")]
    except OSError:
        return []


LATEST = "latest"


def find_run(root: Path, ref: str) -> Path:
    """A run directory from a path, ``latest`` (the newest run), or a run id, a
    unique prefix of one or a unique suffix (``ed28``, the random tail)."""
    candidate = Path(ref)
    if ref and (candidate / RUN_FILE).is_file():
        return candidate.absolute()
    runs = iter_run_dirs(root) if ref and _SAFE_SEGMENT.match(ref) else []  # "": every run
    if ref == LATEST and runs:
        return runs[0]
    matches = ([p for p in runs if p.name.startswith(ref)]
               or [p for p in runs if p.name.endswith(ref)])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunStoreError(f"no run {ref!r} under {root} (give a run directory, run id, "
                            "unique prefix or suffix of one, or latest)")
    names = [p.name for p in matches[:5]]
    if len(set(names)) < len(names):  # one run id in two places: a copied directory
        names = [str(p.relative_to(root)) for p in matches[:5]]
    raise RunStoreError(f"run id {ref!r} is ambiguous: {', '.join(names)}"
                        + (" ..." if len(matches) > 5 else ""))


def misplaced(run_dir: Path, record: Dict[str, Any]) -> Optional[str]:
    """Why a run is not where its own record puts it (``<script stem>/<profile>/``),
    e.g. copied under another profile's folder; None when it is, or cannot say."""
    if record.get("status") == CORRUPT or not isinstance(record.get("script"), str):
        return None
    profile = record.get("profile")
    folder = profile if isinstance(profile, str) else DEFAULT_PROFILE_DIR
    stem = script_dir_name(Path(record["script"]))
    here = Path(run_dir).parent
    if (here.name, here.parent.name) == (folder, stem):
        return None
    return (f"run.json says script {Path(record['script']).name} and profile "
            f"{profile or '(none)'}, so it belongs under {stem}/{folder}/, not "
            f"{here.parent.name}/{here.name}/ (copied or moved)")


def elapsed(record: Dict[str, Any], until: Optional[float] = None) -> Optional[float]:
    """Seconds from start to finish, or to ``until`` (default: now) while unfinished."""
    start, end = record.get("started_at"), record.get("finished_at")
    if not start:
        return None
    begin = _parse_iso(start)
    finish = _parse_iso(end) if end else (until if until is not None else time.time())
    return max(0.0, finish - begin)


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
