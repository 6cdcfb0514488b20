"""Identifying a process molexp started: its pid together with its start time.

A pid alone is not an identity: after the process ends the kernel hands the
number to another one.  The start time in ``/proc/<pid>/stat`` (clock ticks
since boot, field 22) does not change for the life of a process, so a pid whose
start time still equals the recorded one is the same process.
"""

from __future__ import annotations

import os
from typing import Any, Optional


def start_time(pid: Any) -> Optional[int]:
    """The start time of process ``pid`` on this host, or None when there is no
    such process (or it cannot be read, e.g. no /proc).  A zombie is no process:
    it has ended, and where nothing reaps it (a container whose init does not)
    it keeps its pid for ever."""
    if type(pid) is not int or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read(4096)
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')'
    fields = data[data.rfind(b")") + 2:].split()
    if fields[:1] in ([b"Z"], [b"X"]):  # field 3: state; zombie or dead
        return None
    try:
        return int(fields[19])  # field 22 overall: starttime
    except (IndexError, ValueError):
        return None


process_start_time = start_time  # the public name (molexp_core.process_start_time)


def same_process(pid: Any, recorded_start: Any) -> bool:
    """Whether ``pid`` still names the live process that had ``recorded_start`` (a
    zombie has ended: it only waits to be reaped, which some containers' init
    never does)."""
    return (type(pid) is int and pid > 1 and type(recorded_start) is int
            and start_time(pid) == recorded_start and not _zombie(pid))


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read(4096)
    except OSError:
        return False
    return data[data.rfind(b")") + 2:][:1] == b"Z"


def alive(pid: Any) -> bool:
    """Whether ``pid`` names a live process here (not a zombie); True when it
    cannot be told (no /proc, another user's process)."""
    if type(pid) is not int or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read(4096)
    except OSError:
        return True
    return data[data.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def own_start_time() -> Optional[int]:
    return start_time(os.getpid())
