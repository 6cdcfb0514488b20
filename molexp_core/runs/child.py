"""The supervised child's side: how it starts, stops, and reports to its parent.

See ``runs/supervisor.py`` for the parent's side and the reasons.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Tuple

from molexp_core import process, timings
from molexp_core.errors import MolexpError
from molexp_core.runs import teardown

Outcome = Tuple[str, str, int]  # status, summary, exit code


def fork(body, read_fd: int, write_fd: int, crash: Path, blocked) -> int:
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    forked_at = timings.last()
    process.make_everything_old()  # the child's collections leave the parent's pages alone
    pid = os.fork()
    if pid:
        return pid
    timings.forked(forked_at)
    os.close(read_fd)
    _run(body, write_fd, crash, lambda: _become_child(parent, crash, blocked), "fork")


def main(body: Callable[[], Outcome]) -> None:
    """The spawned child: run ``body`` and report to the parent as a forked child would."""
    timings.spawned()
    write_fd = int(os.environ.pop("MOLEXP_SUPERVISOR_FD"))
    parent = int(os.environ.pop("MOLEXP_SUPERVISOR_PID"))
    crash = Path(os.environ.pop("MOLEXP_CRASH_FILE"))
    _run(body, write_fd, crash, lambda: _become_child(parent, crash, None), "imports")


def _run(body: Callable[[], Outcome], write_fd: int, crash: Path,
         start: Callable[[], None], started: str) -> NoReturn:
    """The child's whole life: start, run the run, report, end as Python would
    (``runs/teardown.py``), exit; never returns into the caller's frames."""
    me = os.getpid()
    code = 70  # EX_SOFTWARE: the child failed in molexp itself
    try:
        start()
        teardown.note_start()
        timings.mark(started)
        status, summary, code = body()
        if os.getpid() != me:  # a process a task forked, come back through molexp
            teardown.stray_exit(None)
        _report(write_fd, status, summary, code)
    except BaseException:  # noqa: BLE001 - whatever happens, the parent records it
        if os.getpid() != me:  # a process a task forked, not caught earlier
            teardown.stray_exit(sys.exc_info()[1])
        _print_exception()
    finally:
        if os.getpid() == me:
            teardown.finish(crash.parent)  # threads, atexit, files: the user's code's end
        _flush()
        timings.mark("exit")
        timings.report()
        os._exit(code)


def _become_child(parent: int, crash: Path, blocked) -> None:
    _die_with_parent(parent)
    teardown.adopt_exit_handlers()
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    if blocked is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    else:  # spawned: the parent's mask (stops blocked) was inherited through exec
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    try:
        import faulthandler

        from molexp_core.runs import safe_files

        fd = safe_files.open_regular(crash, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        faulthandler.enable(file=fd, all_threads=True)
    except (OSError, ValueError, RuntimeError, MolexpError):
        pass  # no stack on a crash (a link planted there...); the crash is still recorded


def _interrupt_once(signum: int, frame: Any) -> None:
    # Ctrl-C reaches the child from the terminal and again from the parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt()


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != parent:  # it died before prctl took effect
            os._exit(70)
        return
    import threading

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="molexp-parent-watch", daemon=True).start()


def _set_parent_death_signal(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)``; False if it could not be called.

    Through ``_ctypes``, the C half of ``ctypes``: importing ``ctypes`` itself (its
    Python half, for nothing more than one call) costs every run's child several
    times as much.  ``ctypes`` is the fallback."""
    try:
        import _ctypes

        class _CFunction(_ctypes.CFuncPtr):  # int arguments, an int result
            _flags_ = _ctypes.FUNCFLAG_CDECL

        prctl = _CFunction(_ctypes.dlsym(_ctypes.dlopen(None), "prctl"))
        return prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError, TypeError, ValueError):
        pass
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


_PR_SET_PDEATHSIG = 1


def _report(write_fd: int, status: str, summary: str, code: int) -> None:
    message = json.dumps({"pid": os.getpid(), "status": status,
                          "summary": summary[:4000], "code": code}).encode()
    os.write(write_fd, message)


def _print_exception() -> None:
    try:
        import traceback

        traceback.print_exc()
    except BaseException:  # noqa: BLE001
        pass


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
