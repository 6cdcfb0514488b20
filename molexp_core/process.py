"""Process-wide settings of the ``molexp`` command: a cheaper start-up and exit.

Two costs of a short CLI process are not molexp's work at all: the cyclic garbage
collector running again and again while hundreds of modules are imported (they
make many objects and free few), and the interpreter's teardown of those modules
at exit.  ``molexp`` raises the collector's first threshold while it starts
(:func:`quiet_gc_for_startup`); the user's code never runs under that setting:
:func:`restore_gc` puts the thresholds back before a script is imported.  At the
end, a process in which no task ran exits without the teardown
(:func:`exit_now`), after flushing its output and running ``atexit`` handlers,
exactly as a supervised task's child process always has.  A process that ran
tasks itself (``--in-process``) exits the ordinary way, since user code may rely
on the teardown (flushing a file it left open, say).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Optional, Tuple

from molexp_core import timings

_saved: Optional[Tuple[int, ...]] = None
_tasks_ran_here = False


def quiet_gc_for_startup() -> None:
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(100_000, *_saved[1:])


def restore_gc() -> None:
    """The interpreter's own thresholds again: user code is about to run.

    What start-up made (modules, classes: long-lived) counts as old from now on, so
    that the next young collection does not walk it all."""
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None
        make_everything_old()


def make_everything_old() -> None:
    """Count every object alive now as old (the oldest generation), without a
    collection: young collections skip them from now on, and a full one still frees
    whatever of them becomes garbage.  Before a fork, this keeps the child's
    collections from touching (and so copying) the parent's memory, as the gc
    module's documentation advises.  Nothing is done while the user's code keeps
    objects frozen (``gc.freeze()``): unfreezing them is not molexp's to do."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def mark_tasks_ran_here() -> None:
    global _tasks_ran_here
    _tasks_ran_here = True


def exit_now(code: object) -> None:
    """Exit with ``code`` (as ``sys.exit`` takes it), without the interpreter's
    teardown when no task ran in this process; otherwise the ordinary way."""
    timings.mark("report")
    if _tasks_ran_here:
        timings.report()
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(status) from None  # a closed pipe: Python's own handling
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    timings.mark("exit")
    timings.report()
    os._exit(status)
