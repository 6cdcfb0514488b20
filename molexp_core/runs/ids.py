"""Run ids: readable UTC time stamps that sort in creation order under a runs root."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

RUN_ID = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{4}$")


def utc_now() -> datetime:
    """The clock run ids are read from (a test may step it back)."""
    return datetime.now(timezone.utc)


LAST_ID_FILE = ".last-run-id"
_STAMP = re.compile(r"^(\d{8}-\d{6}-\d{6})")


def new_run_id(root: Optional[Path] = None, parent: Optional[Path] = None) -> str:
    """A run id that sorts after every run made before it under ``root``.

    The stamp is the UTC creation time to the microsecond, unless the clock has
    gone back (NTP, a resumed VM) since the last run was made: then it is one
    microsecond after that run's, so listings and ``--resume`` keep creation
    order.  The last stamp lives in ``<root>/.last-run-id`` (see ``remember``);
    when that file is missing or damaged, the newest run in ``parent`` stands
    in for it.  A random tail keeps ids unique.
    """
    stamp = utc_now().strftime("%Y%m%d-%H%M%S-%f")
    if root is not None:
        last = _read_last(Path(root) / LAST_ID_FILE) or _newest_stamp(parent)
        if last and last >= stamp:
            stamp = _after(last) or stamp
    return f"{stamp}-{os.urandom(2).hex()}"


def remember(root: Path, run_id: str) -> None:
    """Record ``run_id`` as the newest under ``root``, once its directory exists.

    Under an exclusive lock, and only ever forwards, so concurrent starts keep
    the newest.  A failure to record is no failure of the run: the runs
    directories stand in for the file.
    """
    import fcntl

    try:
        fd = os.open(Path(root) / LAST_ID_FILE,
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last = _parse(os.pread(fd, 64, 0))
        if last is None or run_id[:22] > last:
            data = (run_id[:22] + "\n").encode()
            os.pwrite(fd, data, 0)  # in place: truncating to 0 first makes ext4 flush
            if os.fstat(fd).st_size != len(data):  # the file on close (auto_da_alloc)
                os.ftruncate(fd, len(data))
    except OSError:
        pass
    finally:
        os.close(fd)  # releases the lock


def _read_last(path: Path) -> Optional[str]:
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO never blocks
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _parse(os.pread(fd, 64, 0))
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse(data: bytes) -> Optional[str]:
    match = _STAMP.match(data.decode("ascii", "replace"))
    return match.group(1) if match else None


def _newest_stamp(parent: Optional[Path]) -> Optional[str]:
    if parent is None:
        return None
    try:
        with os.scandir(parent) as entries:
            ids = [e.name for e in entries if RUN_ID.match(e.name)]
    except OSError:
        return None
    return max(ids)[:22] if ids else None


def _after(stamp: str) -> Optional[str]:
    """The stamp one microsecond after ``stamp``; None for no valid time."""
    from datetime import timedelta

    try:
        when = datetime.strptime(stamp, "%Y%m%d-%H%M%S-%f") + timedelta(microseconds=1)
    except (ValueError, OverflowError):
        return None  # a damaged file: the clock alone
    return when.strftime("%Y%m%d-%H%M%S-%f")
