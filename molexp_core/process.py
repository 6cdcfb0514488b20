"""Process-wide settings of the ``molexp`` command: start-up, signals, the user's script, exit.

Two costs of a short CLI process are not molexp's work at all: the cyclic garbage
collector running again and again while hundreds of modules are imported (they
make many objects and free few), and the interpreter's teardown of those modules
at exit.  ``molexp`` raises the collector's first threshold while it starts
(:func:`quiet_gc_for_startup`); the user's code never runs under that setting:
:func:`begin_user_script` puts the thresholds back before a script is imported.

Around that import (:func:`begin_user_script`, :func:`end_user_script`) molexp
notes what the script leaves for the end of the process: the ``atexit`` handlers
it registers and the file descriptors it opens.  They belong to the process that
runs the tasks: a supervised child ends with them (``runs/teardown.py``), so this
process must not run the handlers or flush the files again.

At the end, a process in which no task ran exits without the teardown
(:func:`exit_now`), after flushing its output and running ``atexit`` handlers
other than the script's.  A process that ran tasks itself (``--in-process``)
exits the ordinary way: the interpreter's teardown is the user's code's too.

SIGINT inherited as ignored (a background job of a non-interactive shell) is
turned back into Ctrl-C (:func:`handle_sigint`), so ``kill -INT`` stops molexp
as the docs promise.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from molexp_core import timings

_saved: Optional[Tuple[int, ...]] = None
_tasks_ran_here = False
_own = False  # molexp's own process (the CLI, a spawned child), not an API caller's
_exit_handlers: List[Tuple[Callable[..., Any], tuple, Dict[str, Any]]] = []
_import_fds: FrozenSet[Tuple[int, int, int]] = frozenset()  # what the script's import opened
_import_files: list = []  # weak references to the file objects the script's import made

Descriptor = Tuple[int, int, int]  # fd, st_dev, st_ino: an open file, whatever reuses its number


def handle_sigint() -> None:
    """Ctrl-C stops molexp even when SIGINT was inherited as ignored (``molexp ... &``
    from a script): molexp's own handlers (the supervisor's, the sweep's) expect it."""
    import _signal

    if _signal.getsignal(_signal.SIGINT) == _signal.SIG_IGN:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


def open_descriptors() -> Optional[FrozenSet[Descriptor]]:
    """This process's open file descriptors (Linux, macOS, the BSDs); None where
    the system does not list them."""
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(listing)
        except OSError:
            continue
        found = set()
        for name in names:
            try:
                st = os.fstat(int(name))
            except (OSError, ValueError):
                continue  # the listing's own descriptor, closed by now
            found.add((int(name), st.st_dev, st.st_ino))
        return frozenset(found)
    return None


def own_process() -> None:
    """This process is molexp's alone (the CLI, a spawned child), not a caller's."""
    global _own
    _own = True


def quiet_gc_for_startup() -> None:
    global _saved
    own_process()
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


def begin_user_script() -> object:
    """The user's script is about to be imported here: the interpreter's own GC
    thresholds again, and what the import leaves for the end of the process noted
    (``atexit`` handlers, file descriptors, file objects).  Returns what
    :func:`end_user_script` takes.

    To find the import's file objects without a walk over all of molexp's, molexp's
    own process freezes what exists before the import and unfreezes it after (all
    of it then counts as old, as :func:`restore_gc` leaves it), unless the script
    froze objects itself: those, and so molexp's, then stay frozen."""
    import atexit

    restore_gc()
    frozen = None
    if _own and gc.get_freeze_count() == 0:
        gc.freeze()
        frozen = gc.get_freeze_count()
    real = (atexit.register, atexit.unregister)
    noting = [True]

    def register(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        real[0](func, *args, **kwargs)
        if noting[0]:
            _exit_handlers.append((func, args, kwargs))
        return func

    def unregister(func: Callable[..., Any]) -> None:
        real[1](func)
        if noting[0]:
            _exit_handlers[:] = [h for h in _exit_handlers if h[0] != func]

    for name, wrapper, original in (("register", register, real[0]),
                                    ("unregister", unregister, real[1])):
        wrapper.__name__, wrapper.__doc__ = name, original.__doc__
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    atexit.register, atexit.unregister = register, unregister
    return atexit, real, noting, (register, unregister), open_descriptors(), frozen


def end_user_script(token: object) -> None:
    """The script's import is over (see :func:`begin_user_script`)."""
    global _import_fds
    atexit, real, noting, wrappers, before, frozen = token  # type: ignore[misc]
    noting[0] = False
    if atexit.register is wrappers[0]:
        atexit.register = real[0]
    if atexit.unregister is wrappers[1]:
        atexit.unregister = real[1]
    after = open_descriptors()
    if before is not None and after is not None:
        _import_fds = _import_fds | (after - before)
    if frozen is not None:  # only the import's objects are unfrozen: a short scan
        import _io
        import _weakref

        for obj in gc.get_objects():
            if isinstance(obj, _io._IOBase) and not isinstance(obj, (_io.BytesIO,
                                                                     _io.StringIO)):
                try:
                    _import_files.append(_weakref.ref(obj))
                except TypeError:
                    pass
        if gc.get_freeze_count() <= frozen:  # the script froze nothing itself (frees
            gc.unfreeze()  # of frozen objects lower the count; only a freeze raises it)


def import_files() -> list:
    """The file objects the script's import made here (in molexp's own process),
    those still alive."""
    return [obj for obj in (ref() for ref in _import_files) if obj is not None]


def user_exit_handlers() -> List[Tuple[Callable[..., Any], tuple, Dict[str, Any]]]:
    """The ``atexit`` handlers the user's script registered when imported here."""
    return list(_exit_handlers)


def import_descriptors() -> FrozenSet[Descriptor]:
    """The file descriptors the script's import opened here (or in the process
    this one was forked from)."""
    return _import_fds


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

    for func, _, _ in _exit_handlers:  # the script's: the process that ran it runs them
        atexit.unregister(func)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    timings.mark("exit")
    timings.report()
    os._exit(status)
