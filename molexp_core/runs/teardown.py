"""How a process that ran the user's code ends: as ``python script.py`` would have ended.

The supervised child (``runs/child.py``) leaves with ``os._exit``: it must never
unwind into the frames it was forked from (the CLI, a notebook calling the API,
the parent's locks).  Before that, :func:`finish` does for the user's code what
the interpreter's own finalisation does, in the same order:

1. wait for the non-daemon threads the tasks started (``threading``'s shutdown:
   the executors' exit hooks, then every non-daemon thread);
2. run the ``atexit`` handlers of the user's code (:func:`adopt_exit_handlers`
   picks them when the child starts: those the script registered when it was
   imported, here or in the parent that forked it, and ``logging.shutdown``;
   the parent drops the script's, see ``process.exit_now``, so each runs once);
3. close every file object still open, wrappers before what they wrap (a
   ``TextIOWrapper``'s text reaches its file, a ``GzipFile`` writes its
   trailer); the standard streams are only flushed.

Each of step 1 and steps 2-3 may take at most ``$MOLEXP_STOP_GRACE`` seconds
(default 10): what is still running then is named on stderr (and in ``run.log``)
and left behind.  When the user's code left nothing behind, this costs about as
much as listing the process's file descriptors (:func:`note_start`); a scan of
every object for open files happens only when the import's file objects and
the young ones do not account for every descriptor the user's code opened.

A process the user's code forked that comes back into molexp's code (it returned
from ``execute()``, raised, or called ``sys.exit``) is not the run's: it ends
through :func:`stray_exit`, as Python would have ended it, and never writes the
run's record.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, List, NoReturn, Optional

from molexp_core import process

GRACE_ENV = "MOLEXP_STOP_GRACE"
DEFAULT_GRACE = 10.0


def stop_grace() -> float:
    """``$MOLEXP_STOP_GRACE`` seconds (default 10), within 0.01 s and an hour."""
    try:
        value = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE))
    except ValueError:
        return DEFAULT_GRACE
    if value != value:  # NaN
        return DEFAULT_GRACE
    return min(max(value, 0.01), 3600.0)


class _Overtime(BaseException):
    """A step of the teardown ran past the grace period."""


_molexp_fds: Optional[frozenset] = None  # descriptors molexp held as the child started


def note_start() -> None:
    """The child has started (before any task): the descriptors open now, but for
    those the script's import opened, are molexp's (the report pipe, the crash
    file, the run's lock, the terminal)."""
    global _molexp_fds
    now = process.open_descriptors()
    _molexp_fds = None if now is None else now - process.import_descriptors()


def _open_files() -> list:
    """The file objects that may be open, found as cheaply as what is open allows:
    none when every open descriptor is molexp's; the import's and the young ones
    when they account for every other descriptor; else every object's scan."""
    import gc
    import _io

    now = process.open_descriptors() if _molexp_fds is not None else None
    if now is not None and not now - _molexp_fds:
        return []
    found = process.import_files()
    if now is not None:
        found += [obj for generation in (0, 1) for obj in gc.get_objects(generation)
                  if isinstance(obj, _io._IOBase)]
        if {fd for fd, _, _ in now - _molexp_fds} <= {_fileno(obj) for obj in found}:
            return found
    gc.unfreeze()  # what a sweep's pool froze before forking is the user's too
    return found + [obj for obj in gc.get_objects() if isinstance(obj, _io._IOBase)]


def _fileno(obj: Any) -> Optional[int]:
    try:
        return obj.fileno()
    except BaseException:  # noqa: BLE001 - closed, detached, not backed by a descriptor
        return None


def adopt_exit_handlers() -> None:
    """In the supervised child, before any task runs: keep only the ``atexit``
    handlers that are the user's (and ``logging.shutdown``, which flushes the
    logging handlers of this process), not those molexp, its plugins or an API
    caller registered in the parent: they are the parent's to run."""
    import atexit

    clear = getattr(atexit, "_clear", None)
    if clear is None:  # pragma: no cover - CPython has it
        return
    user = process.user_exit_handlers()
    clear()
    logging = sys.modules.get("logging")
    if logging is not None and all(func is not logging.shutdown for func, _, _ in user):
        atexit.register(logging.shutdown)
    for func, args, kwargs in user:
        atexit.register(func, *args, **kwargs)


def finish(run_dir: Optional[Path] = None) -> None:
    """Threads, ``atexit`` handlers, open files, each step bounded; never raises.
    ``run_dir``: where a note on what was left behind goes (``run.log``)."""
    grace = stop_grace()
    notes: List[str] = []
    try:
        if _threads_to_wait_for():
            try:
                _bounded(grace, _join_threads)
            except (_Overtime, KeyboardInterrupt):
                notes.append(_threads_left(grace))
        try:
            _bounded(grace, _run_exit_handlers, _close_files)
        except (_Overtime, KeyboardInterrupt):
            notes.append(f"exit handlers and closing files took longer than {grace:g}s "
                         f"(${GRACE_ENV}); stopped")
    except BaseException:  # noqa: BLE001 - the process is ending: never let it escape
        pass
    for note in filter(None, notes):
        _note(note, run_dir)
    _flush_std()


def stray_exit(exc: Optional[BaseException], stop_signal: Optional[int] = None) -> NoReturn:
    """End a process the user's code forked that came back into molexp's code, as
    Python would have ended it: ``exc`` is what it raised (None: it returned),
    ``stop_signal`` the signal that raised it (it then dies by that signal at once,
    as it would have without molexp's handler).  The run's record is not touched."""
    import signal

    if stop_signal is not None:
        _die_by(stop_signal)
    code = 0
    if isinstance(exc, SystemExit):
        code = _exit_status(exc.code)
    elif exc is not None:
        try:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        except BaseException:  # noqa: BLE001
            pass
        code = 1
    finish()
    if isinstance(exc, KeyboardInterrupt):
        _die_by(signal.SIGINT)  # as Python does after an unhandled Ctrl-C
    os._exit(code)


def _exit_status(code: Any) -> int:
    """What ``sys.exit(code)`` makes the process's exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except BaseException:  # noqa: BLE001
        pass
    return 1


def _die_by(signum: int) -> NoReturn:
    import signal

    _flush_std()
    try:
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signum,))
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def _bounded(grace: float, *steps: Callable[[], None]) -> None:
    """Run ``steps``, raising _Overtime in them every ``grace`` seconds (so each
    stuck ``atexit`` handler is stopped in turn) when this thread can take signals."""
    import _signal  # not `signal`: its enum wrappers cost more than the whole step

    def overtime(signum: int, frame: Any) -> None:
        raise _Overtime(f"still running after {grace:g}s (${GRACE_ENV}); stopped by molexp")

    try:
        previous = _signal.signal(_signal.SIGALRM, overtime)
    except ValueError:  # not the main thread: no bound, as the interpreter has none
        for step in steps:
            step()
        return
    _signal.setitimer(_signal.ITIMER_REAL, grace, grace)
    try:
        for step in steps:
            step()
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous)


def _threads_to_wait_for() -> bool:
    """Whether threading's shutdown has anything to do: a non-daemon thread still
    running, or an exit hook of ``concurrent.futures``."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    if getattr(threading, "_threading_atexits", None):
        return True
    current = threading.current_thread()
    return any(not t.daemon and t is not current and t.is_alive()
               for t in threading.enumerate())


def _join_threads() -> None:
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:  # the interpreter's own step: executors' hooks, then joins
        shutdown()
        return
    current = threading.current_thread()  # pragma: no cover - CPython has _shutdown
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()


def _threads_left(grace: float) -> str:
    threading = sys.modules.get("threading")
    if threading is None:
        return ""
    current = threading.current_thread()
    names = [t.name for t in threading.enumerate()
             if t is not current and not t.daemon and t.is_alive()]
    if not names:
        return ""
    return (f"thread{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} still "
            f"running {grace:g}s after the tasks ended (${GRACE_ENV}); not waited for")


def _run_exit_handlers() -> None:
    import atexit

    if atexit._ncallbacks():
        atexit._run_exitfuncs()


def _close_files() -> None:
    """Close the file objects still open, outer wrappers first (the interpreter's
    teardown closes each as it is freed); the standard streams are only flushed."""
    import _io

    found = {id(obj): obj for obj in _open_files()}
    if not found:
        return
    std = _std_layers()
    memory = (_io.BytesIO, _io.StringIO)
    pending = [obj for key, obj in found.items()
               if key not in std and not isinstance(obj, memory) and not _closed(obj)]
    if not pending:
        return
    ids = {id(obj) for obj in pending}
    inner, wraps_std = set(), set()
    for obj in pending:
        for ref in _references(obj):
            if id(ref) in ids:
                inner.add(id(ref))
            elif id(ref) in std:
                wraps_std.add(id(obj))
    pending.sort(key=lambda obj: id(obj) in inner)  # wrappers first
    for obj in pending:
        if _closed(obj):
            continue  # closed with its wrapper
        try:
            if id(obj) in wraps_std:
                obj.flush()  # closing it would close the standard stream under it
            else:
                obj.close()
        except (_Overtime, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as the interpreter: say it, go on
            name = getattr(obj, "name", None)
            _note(f"closing {name if isinstance(name, str) else type(obj).__name__} at "
                  f"exit failed: {type(exc).__name__}: {exc}", None)


def _references(obj: Any) -> list:
    """What ``obj`` refers to directly, and through its ``__dict__``."""
    import gc

    refs = []
    for ref in gc.get_referents(obj):
        refs.append(ref)
        if type(ref) is dict:
            refs.extend(ref.values())
    return refs


def _std_layers() -> set:
    layers = set()
    for stream in (sys.stdin, sys.stdout, sys.stderr,
                   sys.__stdin__, sys.__stdout__, sys.__stderr__):
        for _ in range(3):  # text -> buffer -> raw
            if stream is None:
                break
            layers.add(id(stream))
            stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
    return layers


def _closed(obj: Any) -> bool:
    try:
        return bool(obj.closed)
    except BaseException:  # noqa: BLE001 - detached, or a broken property
        return True


def _note(text: str, run_dir: Optional[Path]) -> None:
    try:
        sys.stderr.write(f"molexp: {text}\n")
    except BaseException:  # noqa: BLE001
        pass
    if run_dir is not None:
        try:
            from molexp_core.runs.log import RunLog

            RunLog(run_dir, "", True).notice(text)
        except BaseException:  # noqa: BLE001
            pass


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
