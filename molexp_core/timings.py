"""Where a molexp process's time goes: ``MOLEXP_TIMINGS=1`` prints it, phase by phase.

Each process (the ``molexp`` command, and the supervised child that runs the tasks)
prints one line to stderr as it exits::

    molexp: timings (command, pid 4242): python cpu 14.1 | imports 21.3 | plugins 3.1 | ...
    | total 80.2 ms (cpu: user 61.0 ms, system 6.2 ms; 3880 page faults)

``python cpu`` is the CPU time the interpreter spent before molexp's first module was
imported (its own start-up and ``site``); every other figure is the wall-clock time,
in milliseconds, of one phase, named for what ended it; the parenthesis is the
process's whole CPU time and page faults (``getrusage``).  A forked child starts its
line at the fork.  ``MOLEXP_TIMINGS=cpu`` times the phases in CPU time instead.
docs/performance.md lists the phases of `molexp run`.

Off (the default), :func:`mark` returns at once: nothing is measured or stored.
"""

from __future__ import annotations

import os
import sys
import time

_SETTING = os.environ.get("MOLEXP_TIMINGS", "").strip().lower()
ENABLED = _SETTING not in ("", "0")
#: ``MOLEXP_TIMINGS=cpu``: the process's CPU time (user + system) per phase instead of
#: the wall clock: steadier on a busy machine, blind to waiting (disk flushes, a child)
_clock = time.process_time if _SETTING == "cpu" else time.perf_counter

_started = _clock()
_cpu_before = time.process_time()  # the interpreter's start-up, before molexp loaded
_marks: list[tuple[str, float]] = []
_role = "command"  # or "child": the supervised process that runs the tasks
_forked = False  # a forked child has no start-up of its own


def mark(phase: str) -> None:
    """The phase named ``phase`` ends now (the next one starts)."""
    if ENABLED:
        _marks.append((phase, _clock()))


def forked(since: float | None = None) -> None:
    """In a forked child: start this process's own line (its first phase runs from
    ``since``, the parent's last mark before the fork, when given)."""
    global _started, _marks, _role, _forked
    if ENABLED:
        if _clock is time.process_time:
            _started = 0.0  # a new process's CPU time starts at zero
        else:
            _started = since if since is not None else _clock()
        _marks = []
        _role, _forked = "child", True


def spawned() -> None:
    """In a spawned child (a fresh interpreter): its line is a child's."""
    global _role
    _role = "child"


def last() -> float | None:
    """When the last phase ended (to hand to a child's :func:`forked`)."""
    return _marks[-1][1] if ENABLED and _marks else None


def report() -> None:
    """Print this process's line to stderr (once); nothing when off."""
    global _marks
    if not ENABLED or not _marks:
        return
    marks, _marks = _marks, []
    parts = [] if _forked else [f"python cpu {_cpu_before * 1000:.1f}"]
    before = _started
    for phase, at in marks:
        parts.append(f"{phase} {(at - before) * 1000:.1f}")
        before = at
    total = (marks[-1][1] - _started) * 1000
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (f" (cpu: user {usage.ru_utime * 1000:.1f} ms, system "
               f"{usage.ru_stime * 1000:.1f} ms; {usage.ru_minflt} page faults)")
    except (ImportError, OSError):  # no resource module on this platform
        cpu = ""
    try:
        sys.stderr.write(f"molexp: timings ({_role}, pid {os.getpid()}): "
                         f"{' | '.join(parts)} | total {total:.1f} ms{cpu}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
