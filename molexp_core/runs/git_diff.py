"""The one ``git`` process provenance runs: ``git diff COMMIT``, sealed and bounded.

The repository must not choose any program molexp runs.  Git runs programs named in
its configuration (``core.fsmonitor``, ``filter.<x>.clean``/``process``, diff drivers'
``textconv`` and ``command``, ``diff.external``, ``core.pager``, hooks, a partial
clone's lazy fetch through ``core.sshCommand`` or an ``ext::`` remote, ...), and that
configuration comes from the repository (``.git/config``, with ``include.path`` and
``includeIf``), from the user's and the system's files, and from ``GIT_*`` variables.
So the repository's own git directory is never given to git at all:

- ``GIT_DIR`` is an empty directory molexp makes (``HEAD``, ``refs/``, nothing else),
  so ``.git/config``, ``.git/info/attributes``, hooks and replace refs are never read;
  the repository's objects and index are named with ``GIT_OBJECT_DIRECTORY`` and
  ``GIT_INDEX_FILE``, and the commit by its id;
- no other configuration: ``GIT_CONFIG_NOSYSTEM=1``, ``GIT_CONFIG_GLOBAL=/dev/null``,
  every inherited ``GIT_*`` variable dropped, ``core.attributesFile=/dev/null``;
- belt and braces on the command line: ``core.fsmonitor=false``,
  ``core.hooksPath=/dev/null``, ``protocol.allow=never``, ``--no-ext-diff``,
  ``--no-textconv``, ``--no-pager``, ``--ignore-submodules=all``; and
  ``GIT_OPTIONAL_LOCKS=0`` (nothing is written to the index).

A filter or diff driver named by a work tree's ``.gitattributes`` is then undefined
and git applies none.  The process gets :func:`timeout` seconds
(``$MOLEXP_GIT_TIMEOUT``, default 10); then it and anything it started (its own
session) are killed and the diff is unavailable, with the reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Tuple

DEFAULT_TIMEOUT = 10.0
ERR_CAP = 4096
SEALED = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
          "-c", "core.attributesFile=/dev/null", "-c", "protocol.allow=never",
          "-c", "core.pager=cat", "-c", "core.untrackedCache=false")


def timeout() -> float:
    """Seconds the git process may take: ``$MOLEXP_GIT_TIMEOUT`` (default 10)."""
    raw = os.environ.get("MOLEXP_GIT_TIMEOUT", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < 3600 else DEFAULT_TIMEOUT


class Outcome:
    """``data`` (at most ``cap`` bytes), ``truncated``; or ``data`` None and ``reason``."""

    def __init__(self, data: Optional[bytes], truncated: bool = False,
                 reason: Optional[str] = None) -> None:
        self.data = data
        self.truncated = truncated
        self.reason = reason


def git_diff(root: Path, index: Path, objects: Path, commit: str, cap: int) -> Outcome:
    """``git diff COMMIT`` of the work tree ``root`` against the index file ``index``
    and the object directory ``objects``; never reads the repository's configuration."""
    try:
        shadow, temporary = _sealed_git_dir(len(commit) == 64)
    except OSError as exc:
        return Outcome(None, reason=f"no directory for git to run sealed in: "
                       f"{exc.strerror or exc}")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_DIR=shadow, GIT_WORK_TREE=str(root), GIT_INDEX_FILE=str(index),
                   GIT_OBJECT_DIRECTORY=str(objects), GIT_CONFIG_NOSYSTEM="1",
                   GIT_CONFIG_GLOBAL=os.devnull, GIT_ATTR_NOSYSTEM="1",
                   GIT_OPTIONAL_LOCKS="0", GIT_NO_LAZY_FETCH="1", GIT_TERMINAL_PROMPT="0",
                   GIT_NO_REPLACE_OBJECTS="1", LC_ALL="C")
        argv = ["git", *SEALED, "--no-pager", "diff", commit, "--no-color", "--no-ext-diff",
                "--no-textconv", "--ignore-submodules=all", "--"]
        return run_bounded(argv, str(root), env, cap, timeout())
    finally:
        if temporary:
            _remove(shadow)


def _contents(sha256: bool) -> dict:
    files = {"HEAD": b"ref: refs/heads/molexp\n"}
    if sha256:
        files["config"] = (b"[core]\n\trepositoryformatversion = 1\n"
                           b"[extensions]\n\tobjectformat = sha256\n")
    return files


def _sealed_git_dir(sha256: bool) -> Tuple[str, bool]:
    """(path, temporary): an empty git directory of molexp's own, 0700.

    Kept in the user's cache (``$XDG_CACHE_HOME/molexp/git-sealed-sha1``) and checked
    before each use: exactly ``HEAD`` (and ``config`` for SHA-256), an empty ``refs``,
    no link; anything else and a fresh temporary one is made instead."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    kept = os.path.join(base, "molexp", f"git-sealed-{'sha256' if sha256 else 'sha1'}")
    if _intact(kept, sha256):
        return kept, False
    made = _make(os.path.join(os.environ.get("TMPDIR") or "/tmp",
                              f"molexp-git-{os.getpid()}-{os.urandom(6).hex()}"), sha256)
    try:  # keep it for next time, if nothing is in the way
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        _clear(kept)
        os.rename(made, kept)
        if _intact(kept, sha256):
            return kept, False
    except OSError:
        pass
    if not os.path.isdir(made):
        made = _make(made, sha256)
    return made, True


def _intact(path: str, sha256: bool) -> bool:
    import stat

    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return False
        expected = _contents(sha256)
        if sorted(os.listdir(path)) != sorted([*expected, "refs"]) or os.listdir(
                os.path.join(path, "refs")):
            return False
        for name, data in expected.items():
            fd = os.open(os.path.join(path, name), os.O_RDONLY | os.O_NONBLOCK
                         | getattr(os, "O_NOFOLLOW", 0))
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode) or os.read(fd, 256) != data:
                    return False
            finally:
                os.close(fd)
    except OSError:
        return False
    return True


def _make(path: str, sha256: bool) -> str:
    os.mkdir(path, 0o700)
    os.mkdir(os.path.join(path, "refs"), 0o700)
    for name, data in _contents(sha256).items():
        fd = os.open(os.path.join(path, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return path


def _clear(path: str) -> None:
    """Make way for a sealed directory at ``path``: a link or file there is removed
    itself (never anything through it); a directory only if it is a sealed one."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        _remove(path)
    else:
        os.unlink(path)


def _remove(path: str) -> None:
    """Remove a sealed git directory molexp made (what it holds, then itself)."""
    for name in ("HEAD", "config"):
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass
    for directory in (os.path.join(path, "refs"), path):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def run_bounded(argv: list, cwd: str, env: dict, cap: int, limit: float) -> Outcome:
    """Run ``argv`` in a session of its own; keep at most ``cap`` bytes of its output.

    After ``limit`` seconds, or once the output passes the cap, the whole session is
    killed (the child is not reaped before that, so its process group is still ours).
    """
    import select
    import signal
    import subprocess

    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except FileNotFoundError:
        return Outcome(None, reason="no git command on PATH")
    except OSError as exc:
        return Outcome(None, reason=f"git could not be started: {exc.strerror or exc}")
    deadline = time.monotonic() + limit
    out, err = bytearray(), bytearray()
    streams = {process.stdout.fileno(): out, process.stderr.fileno(): err}
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    truncated = timed_out = False
    try:
        while streams:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for fd, _ in poller.poll(left * 1000):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    poller.unregister(fd)
                    del streams[fd]
                    continue
                buffer = streams[fd]
                room = (cap + 1 if buffer is out else ERR_CAP) - len(buffer)
                buffer += chunk[:max(room, 0)]
            if len(out) > cap:
                truncated = True
                break
        code = None
        if not (timed_out or truncated):
            code = _wait_until(process, deadline)
            timed_out = code is None  # it closed its output but goes on
    finally:
        if process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # our unreaped child's own session
            except OSError:
                pass
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        process.stdout.close()
        process.stderr.close()
    if timed_out:
        return Outcome(None, reason=f"git diff did not finish within {limit:g} s "
                       "($MOLEXP_GIT_TIMEOUT); it was killed")
    if truncated:
        return Outcome(bytes(out[:cap]), truncated=True)
    if code != 0:
        first = bytes(err).decode("utf-8", "replace").strip().splitlines()[:1]
        return Outcome(None, reason=f"git diff exited with code {code}"
                       + (f": {first[0][:200]}" if first else ""))
    return Outcome(bytes(out))


def _wait_until(process: Any, deadline: float) -> Optional[int]:
    """The exit code, or None at the deadline; woken by a pidfd where there is one."""
    import select
    import subprocess

    code = process.poll()
    if code is not None:
        return code
    try:
        fd = os.pidfd_open(process.pid)  # Linux 5.3+: readable once the process ends
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(max(deadline - time.monotonic(), 0) * 1000)
        finally:
            os.close(fd)
        return process.poll()
    try:
        return process.wait(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        return None
