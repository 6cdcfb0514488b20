"""The execution lock of a run directory (``.lock``): one executing process at a time."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.runs import processes, safe_files
from molexp_core.runs.records import RunBusy, RunStoreError, _unwritable, hostname, read_run

EXEC_LOCK = ".lock"


class ExecutionLock:
    """Held for as long as a process executes a run (one holder at a time).

    A POSIX record lock (``fcntl.lockf``), not ``flock``: it belongs to the
    process that took it, so a child the tasks fork (and that outlives the run)
    never holds it.  The lock is taken on the file ``.lock`` names at that moment
    (checked by inode after locking), and a run whose record names another live
    process on this host (same pid, same start time) as its executor is busy even
    when ``.lock`` was deleted under it.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EXEC_LOCK
        self.fd: Optional[int] = None

    def acquire(self) -> "ExecutionLock":
        for _ in range(10):  # .lock replaced between our open and our lock: again
            try:
                fd = safe_files.open_regular(self.path, os.O_RDWR | os.O_CREAT)
            except OSError as exc:  # read-only or full filesystem, no permission
                raise _unwritable(self.path.parent, exc) from exc
            holder = _lock_or_holder(fd)
            if holder is not None:  # EAGAIN / EACCES: held by another process
                os.close(fd)
                raise RunBusy(
                    f"run {self.path.parent.name} is being executed by "
                    f"{holder or 'another process'}; wait for it or cancel it") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:  # pragma: no cover - someone replaces .lock in a tight loop
            raise RunBusy(f"run {self.path.parent.name}: its .lock keeps being replaced")
        try:  # say who holds it at once: a loser reads this to name the holder
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {hostname()}".encode())
            _refuse_live_executor(self.path.parent)
        except OSError as exc:
            os.close(fd)
            raise _unwritable(self.path.parent, exc) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)
            raise
        self.fd = fd
        _HELD[_file_id(fd)] = os.getpid()
        return self

    def release(self) -> None:
        if self.fd is not None:
            _HELD.pop(_file_id(self.fd), None)
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the lock
            self.fd = None

    def __enter__(self) -> "ExecutionLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _lock_or_holder(fd: int) -> Optional[str]:
    """Take the lock (None), or say who holds it.  A holder that has not written
    its name yet, or a process only testing the lock (is_locked), holds it for
    an instant: try again for a moment before answering."""
    import fcntl
    import time

    for _ in range(40):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            if holder:
                return holder
            time.sleep(0.025)
    return ""


# (st_dev, st_ino) of each .lock this process holds -> its pid.  POSIX record
# locks are dropped when their process closes *any* fd of the file, so this
# process never opens a .lock it holds to test it (see is_locked).
_HELD: Dict[tuple, int] = {}


def _file_id(fd: int) -> tuple:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == _file_id(fd)


def _refuse_live_executor(run_dir: Path) -> None:
    """The record says another live process on this host is executing the run."""
    try:
        record = read_run(run_dir)
    except RunStoreError:
        return  # the caller reads the record next and reports what is wrong with it
    pid = record.get("pid")
    if (record.get("status") == "running" and record.get("host") == hostname()
            and pid != os.getpid() and processes.same_process(pid, record.get("pid_start"))):
        raise RunBusy(f"run {run_dir.name} is being executed by pid {pid} on {hostname()} "
                      f"(its {EXEC_LOCK} was removed); wait for it or cancel it")


def is_locked(run_dir: Path) -> bool:
    """True when a live process holds the run's execution lock."""
    import fcntl

    path = Path(run_dir) / EXEC_LOCK
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    if (st.st_dev, st.st_ino) in _HELD:
        return True  # ours (or our parent's, in a forked child): never open it here
    try:
        fd = safe_files.open_regular(path, os.O_RDONLY)
    except (OSError, RunStoreError):
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
