"""The run store: run directories under a runs root, and their ``run.json``.

Layout: ``<root>/<script stem>/<profile or "default">/<run id>/run.json``.
The run directories are the source of truth.  ``run.json`` is only ever
replaced atomically (temp file, fsync, rename), and every read-modify-write
holds a short lock (``.meta.lock``) so that a scheduler recording a job id and
the job itself recording progress never overwrite each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files, schema
from molexp_core.runs.ids import RUN_ID, new_run_id, remember
from molexp_core.runs.safe_files import RunStoreError

RUN_FILE = "run.json"
META_LOCK = ".meta.lock"
EXEC_LOCK = ".lock"
DEFAULT_PROFILE_DIR = "default"
STATUSES = schema.STATUSES
ACTIVE = ("created", "submitted", "running")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def runs_root(option: Optional[str] = None) -> Path:
    """``--runs-dir``, else ``$MOLEXP_RUNS_DIR``, else ``./runs``."""
    value = option or os.environ.get("MOLEXP_RUNS_DIR") or "runs"
    return Path(value).absolute()


def hostname() -> str:
    """This machine's name (what socket.gethostname() says, without importing socket)."""
    return os.uname().nodename


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


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


_deferred = False  # set in a sweep's point processes: their parent syncs once at the end


def defer_sync() -> None:
    """From now on this process (and its children) skip fsyncs: a sweep's point
    processes, whose parent makes all their writes durable at once with
    :func:`sync_all`.  Writes stay atomic (temp file and rename)."""
    global _deferred
    _deferred = True


def write_json_atomic(path: Path, data: Any, durable: bool = True, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON: never a half-written file.

    ``sync`` fsyncs the file before the rename (after a power cut the file is
    the old or the new one, never empty); ``durable`` also fsyncs the directory,
    so the rename itself survives (progress updates between a run's first and
    last record skip that).  Only files that are re-created when found missing
    or unreadable (task results) may skip ``sync``.
    """
    if _deferred:
        durable = sync = False
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    safe_files.write_atomic(path, (text + "\n").encode("utf-8"), durable=durable, sync=sync)


def sync_all() -> None:
    """Make every write so far durable in one call (``sync``): many run directories
    written without their own fsyncs (a sweep's points) reach the disk together."""
    with contextlib.suppress(OSError, AttributeError):
        os.sync()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class CorruptRecord(RunStoreError):
    """A ``run.json`` that is no valid run record: listed as ``corrupt``, never executed."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{path}: corrupt run record: {reason} (molexp lists it as "
                         "corrupt and never executes it)")


CORRUPT = "corrupt"


def read_run(run_dir: Path) -> Dict[str, Any]:
    """The run's record, checked against the schema (``runs/schema.py``).

    A missing ``run.json`` is a RunStoreError; a link, a FIFO, a file over the
    cap, bad JSON or a record that fails the schema is a CorruptRecord.
    """
    path = Path(run_dir) / RUN_FILE
    try:
        data = safe_files.read_bytes(path, safe_files.RECORD_CAP, "run record")
    except FileNotFoundError:
        raise RunStoreError(f"{run_dir} is not a run directory (no {RUN_FILE})") from None
    except safe_files.UnsafeFile as exc:
        raise CorruptRecord(path, f"it is {exc.kind}, not a regular file") from None
    except RunStoreError as exc:
        raise CorruptRecord(path, exc.format_message()) from None
    record = _parse(path, data)
    reason = schema.check_record(record)
    if reason:
        raise CorruptRecord(path, reason)
    return record


def _parse(path: Path, data: bytes) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        raise CorruptRecord(path, "it starts with a byte-order mark (molexp writes none)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptRecord(path, f"not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise CorruptRecord(path, "nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
            reason = f"trailing data after the record (line {exc.lineno}, column {exc.colno})"
        else:
            reason = f"not valid JSON ({exc})"
        raise CorruptRecord(path, reason) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


LOST_STATE = "UNKNOWN"
"""``scheduler.state`` that reconcile sets in memory only (never written) for a
job no scheduler source knows any more; such a run is shown as ``lost``."""


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
        write_json_atomic(run_dir / RUN_FILE, record, durable and sync, sync)
    return record


def _remove_stale_temps(run_dir: Path) -> None:
    """Under the meta lock nobody else is writing run.json: old temps are debris."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(run_dir):
            if entry.name.startswith(f".{RUN_FILE}.") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class RunBusy(MolexpError):
    """Another process holds the run's execution lock."""


def _unwritable(run_dir: Path, exc: OSError) -> "RunStoreError":
    return RunStoreError(f"cannot write to run {Path(run_dir).name} in {Path(run_dir).parent}: "
                         f"{exc.strerror or exc}; nothing was changed")


class ExecutionLock:
    """Held for as long as a process executes a run (one holder at a time)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EXEC_LOCK
        self.fd: Optional[int] = None

    def acquire(self) -> "ExecutionLock":
        import fcntl

        try:
            fd = safe_files.open_regular(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:  # read-only or full filesystem, no permission
            raise _unwritable(self.path.parent, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunBusy(
                f"run {self.path.parent.name} is being executed by {holder}; "
                "wait for it or cancel it"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {hostname()}".encode())
        except OSError as exc:
            os.close(fd)
            raise _unwritable(self.path.parent, exc) from exc
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "ExecutionLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def is_locked(run_dir: Path) -> bool:
    """True when a live process holds the run's execution lock."""
    import fcntl

    path = Path(run_dir) / EXEC_LOCK
    try:
        fd = safe_files.open_regular(path, os.O_RDONLY)
    except (OSError, RunStoreError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def display_status(record: Dict[str, Any], run_dir: Optional[Path] = None) -> str:
    """The status to show: ``running`` whose process is gone is ``interrupted``."""
    status = record.get("status", "unknown")
    if status in ("submitted", "running") and (record.get("scheduler") or {}).get(
            "state") == LOST_STATE:
        return "lost"  # set by reconcile: no scheduler source knows the job any more
    if _orphaned_locally(record, status):
        return "interrupted"
    if status == "running" and record.get("host") == hostname():
        pid = record.get("pid")
        if not _pid_alive(pid) or (run_dir is not None and not is_locked(run_dir)):
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
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def find_run(root: Path, ref: str) -> Path:
    """A run directory from a path or a unique run-id prefix."""
    candidate = Path(ref)
    if ref and (candidate / RUN_FILE).is_file():
        return candidate.absolute()
    if not ref or not _SAFE_SEGMENT.match(ref):  # "" would match every run
        raise RunStoreError(f"no run {ref!r} under {root} (give a run directory or run id)")
    matches = [p for p in iter_run_dirs(root) if p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunStoreError(f"no run {ref!r} under {root} (give a run directory or run id)")
    raise RunStoreError(
        f"run id prefix {ref!r} is ambiguous: {', '.join(p.name for p in matches[:5])}"
        + (" ..." if len(matches) > 5 else "")
    )


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
