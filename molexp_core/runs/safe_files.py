"""Safe file primitives for run directories: nothing found on disk is trusted.

A runs directory may be shared, unpacked from a tarball or rsynced from a
cluster, so every name in it may be a symbolic link, a FIFO, a device or a huge
file.  The rules, for every file molexp owns inside a run directory:

- writes never follow a link: the final component is opened with
  ``O_NOFOLLOW`` (new files also ``O_EXCL``), replacements are a temp file
  renamed over the name, and both happen relative to an open directory fd, so a
  directory swapped for a link between two calls is not followed either;
- a link (or a FIFO, a device, a directory) where molexp expects its own file
  is a clean refusal naming it, and the link's target is never touched;
- reads are of regular files only, opened ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO
  never blocks) and under a size cap checked before reading (a file that grows
  while read is cut at the cap and refused).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from molexp_core.errors import MolexpError

MiB = 1024 * 1024
RECORD_CAP = 4 * MiB        # run.json
RESULT_CAP = 64 * MiB       # results/<task>.json
SMALL_CAP = 64 * 1024       # .lock's holder text and other notes
INDEX_MIN_CAP = 4 * MiB     # index files: this much, or more per run (index.py)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

PathLike = Union[str, "os.PathLike[str]"]


class RunStoreError(MolexpError):
    """The runs root cannot be written, a run cannot be found, or a file in it
    is not what molexp wrote (a link, a FIFO, too big)."""


class UnsafeFile(RunStoreError):
    """A link or a non-regular file where molexp expects its own file."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _refuse(path: PathLike, what: str) -> UnsafeFile:
    return UnsafeFile(f"{path} is {what}, not a file molexp wrote; refused, nothing "
                      "was read or written through it", what)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _explain_open_error(path: PathLike, exc: OSError, dir_fd: Optional[int],
                        name: str) -> RunStoreError:
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link
        return _refuse(path, "a symbolic link")
    if exc.errno == errno.ENXIO:  # a FIFO without a reader, opened to write
        return _refuse(path, "a FIFO")
    if exc.errno in (errno.EISDIR, errno.ENOTDIR):
        with contextlib.suppress(OSError):
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            return _refuse(path, _kind(mode))
    return RunStoreError(f"cannot open {path}: {exc.strerror or exc}")


def open_dir(path: PathLike, follow: bool = True) -> int:
    """A directory fd; ``follow=False``: refuse when ``path`` itself is a link."""
    flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _explain_open_error(path, exc, None, os.fspath(path)) from exc


def open_subdir(dir_fd: int, name: str, shown: PathLike, create: bool = False) -> int:
    """The fd of directory ``name`` inside ``dir_fd`` (made when ``create``); a link
    or anything but a directory there is refused."""
    if create:
        try:
            os.mkdir(name, 0o777, dir_fd=dir_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise RunStoreError(f"cannot create {shown}: {exc.strerror or exc}") from exc
    try:
        return os.open(name, os.O_RDONLY | _DIRECTORY | _CLOEXEC | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        raise _explain_open_error(shown, exc, dir_fd, name) from exc


def _check_regular(fd: int, path: PathLike) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _refuse(path, _kind(st.st_mode))
    return st


def open_regular(path: PathLike, flags: int, mode: int = 0o666,
                 dir_fd: Optional[int] = None, name: Optional[str] = None) -> int:
    """``os.open`` that never follows a link in the last component, never blocks
    on a FIFO, and returns only an fd of a regular file (else UnsafeFile)."""
    target = name if name is not None else os.fspath(path)
    try:
        fd = os.open(target, flags | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, mode,
                     dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _explain_open_error(path, exc, dir_fd, target) from exc
    _check_regular(fd, path)
    with contextlib.suppress(OSError):  # back to ordinary blocking I/O
        os.set_blocking(fd, True)
    return fd


def read_bytes(path: PathLike, cap: int, what: str = "file",
               dir_fd: Optional[int] = None, name: Optional[str] = None) -> bytes:
    """The content of a regular file of at most ``cap`` bytes.

    FileNotFoundError passes through; a link, FIFO, device or a file over the
    cap is a RunStoreError naming it, and nothing beyond the cap is read.
    """
    fd = open_regular(path, os.O_RDONLY, dir_fd=dir_fd, name=name)
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            raise too_big(path, size, cap, what)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(cap + 1 - total, 1 * MiB) or 1)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise too_big(path, total, cap, what)
        return b"".join(chunks)
    except OSError as exc:
        raise RunStoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def too_big(path: PathLike, size: int, cap: int, what: str) -> RunStoreError:
    return RunStoreError(f"{path} is larger than the {_size_text(cap)} cap for a {what} "
                         f"({_size_text(size)}+); not read")


def _size_text(size: int) -> str:
    return f"{size / MiB:.0f} MiB" if size >= MiB else f"{size / 1024:.0f} KiB"


def size_text(size: int) -> str:
    """``4.2 MiB``, ``310 KiB``: a size in a message."""
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size / 1024:.0f} KiB"


def write_atomic(path: PathLike, data: bytes, durable: bool = True, sync: bool = True,
                 dir_fd: Optional[int] = None) -> None:
    """Replace ``path`` with ``data``: a temp file (``O_EXCL | O_NOFOLLOW``) in the
    same directory, fsync, rename.  A link, FIFO or directory at ``path`` is
    refused (its target untouched).  ``durable`` also fsyncs the directory.
    """
    path = Path(path)
    own_fd = dir_fd is None
    if own_fd:
        dir_fd = open_dir(path.parent)
    name = path.name
    tmp = f".{name}.{os.getpid()}.{os.urandom(3).hex()}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if not stat.S_ISREG(mode):
                raise _refuse(path, _kind(mode))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                         0o666, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise RunStoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        if durable:
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
    finally:
        if own_fd:
            os.close(dir_fd)


def open_append(path: PathLike, dir_fd: Optional[int] = None,
                name: Optional[str] = None) -> int:
    """An append-only fd of a regular file, created when missing; never through a
    link, never blocking on a FIFO."""
    try:
        return open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                            dir_fd=dir_fd, name=name)
    except FileNotFoundError as exc:  # the directory itself is gone
        raise RunStoreError(f"cannot open {path}: {exc.strerror or exc}") from exc


def append_text(path: PathLike, text: str) -> None:
    fd = open_append(path)
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)


@contextlib.contextmanager
def append_run_file(path: PathLike) -> Iterator[Any]:
    """A binary file object appending to ``path``, a file molexp owns in a run
    directory (e.g. a job's output file): never through a link.  For scheduler plugins."""
    fd = open_append(path)
    with os.fdopen(fd, "ab") as handle:
        yield handle


def write_run_file(path: PathLike, text: str) -> None:
    """Write a file molexp owns in a run directory (e.g. a batch script): atomically,
    never through a link.  For scheduler plugins."""
    write_atomic(path, text.encode("utf-8"), durable=False)


def make_run_subdir(path: PathLike) -> Path:
    """A directory molexp (or a plugin) owns in a run directory or a sweep record
    (e.g. a job array's log directory), made when missing: a link or a file
    planted at ``path`` is refused (its target untouched), never used.  For
    scheduler plugins."""
    path = Path(path)
    parent = open_dir(path.parent)
    try:
        os.close(open_subdir(parent, path.name, path, create=True))
    finally:
        os.close(parent)
    return path


def read_small_text(path: PathLike, cap: int = SMALL_CAP) -> str:
    """A short note (e.g. the lock holder), '' when missing or unusable."""
    try:
        return read_bytes(path, cap, "note").decode("utf-8", "replace")
    except (OSError, RunStoreError):
        return ""
