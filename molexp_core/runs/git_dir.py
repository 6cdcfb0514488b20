"""Reading a repository's ``.git`` directly, running nothing: HEAD, refs, the index.

Everything under ``.git`` is input from whoever made the repository (a tarball, a
shared directory, a hostile clone).  Files are opened ``O_NONBLOCK`` and read only
when they are regular files under a size cap: a FIFO, a device or a huge file where
git keeps HEAD, a ref, ``packed-refs`` or the index is :class:`Unreadable` (with the
reason), never a read that blocks.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
from pathlib import Path
from typing import List, Optional, Tuple

MAX_INDEX = 64 << 20
MAX_DIRTY = 1000  # files seen changed before the walk stops keeping their stamps
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class Unreadable(Exception):
    """A file under ``.git`` that is not a readable regular file (the message says why)."""


def read_file(path: Path, limit: int) -> Optional[bytes]:
    """The bytes of the regular file ``path`` (at most ``limit``); None when it does
    not exist; :class:`Unreadable` when it is anything else or too large."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return None
        raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{path} is {_kind(st.st_mode)}, not a file; not read")
        if st.st_size > limit:
            raise Unreadable(f"{path} is larger than {limit} bytes; not read")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise Unreadable(f"{path} grew past {limit} bytes while read; not read")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = 4096) -> Optional[str]:
    data = read_file(path, limit)
    return None if data is None else data.decode("utf-8", "replace")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def find_repo(start: Path) -> Optional[Tuple[Path, Path, Path]]:
    """(work tree, git dir, common git dir) of the repository holding ``start``."""
    try:
        here = start.resolve()
    except OSError:
        return None
    for directory in [here, *here.parents]:
        dotgit = directory / ".git"
        try:
            mode = os.stat(dotgit).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            gitdir = dotgit
        elif stat.S_ISREG(mode):  # a linked work tree or a submodule: "gitdir: <path>"
            text = read_text(dotgit) or ""
            if not text.startswith("gitdir:"):
                return None
            gitdir = (directory / text[len("gitdir:"):].strip()).resolve()
        else:
            raise Unreadable(f"{dotgit} is {_kind(mode)}, not a git directory; not read")
        common = gitdir
        pointer = read_text(gitdir / "commondir")
        if pointer and pointer.strip():
            common = (gitdir / pointer.strip()).resolve()
        return directory, gitdir, common
    return None


def read_head(gitdir: Path, common: Path) -> Tuple[Optional[str], Optional[str]]:
    """(commit, branch) from HEAD; branch None when detached, commit None when unborn."""
    head = (read_text(gitdir / "HEAD") or "").strip()
    if SHA.match(head):
        return head, None
    if not head.startswith("ref:"):
        return None, None
    ref = head[4:].strip()
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    if ".." in ref.split("/") or ref.startswith("/"):
        return None, branch
    for base in (gitdir, common):
        value = (read_text(base / ref) or "").strip()
        if SHA.match(value):
            return value, branch
    packed = read_text(common / "packed-refs", 16 << 20) or ""
    for line in packed.splitlines():
        if line.startswith(("#", "^")):
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref and SHA.match(sha):
            return sha, branch
    return None, branch


def stamp(path: Path) -> Optional[List[int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


class IndexWalk:
    """Every tracked file's stat against the index (git's own test), in Python.

    ``clean``: every file matches; ``changed``: (path, stamp) of the files that do not
    (None when unknown: an unreadable or unknown index format, a conflict, a submodule,
    more than MAX_DIRTY files); ``racy``: a file changed in the same instant the index
    was written, when stat cannot tell."""

    def __init__(self, root: Path, gitdir: Path) -> None:
        self.clean = False
        self.racy = False
        self.changed: Optional[List[Tuple[str, Optional[List[int]]]]] = None
        try:
            self._walk(root, gitdir / "index")
        except (ValueError, IndexError, struct.error, Unreadable):
            self.clean, self.changed = False, None

    def _walk(self, root: Path, path: Path) -> None:
        data = read_file(path, MAX_INDEX)
        index_stamp = stamp(path)
        if data is None or index_stamp is None or len(data) < 12 or data[:4] != b"DIRC":
            return
        version, count = struct.unpack(">II", data[4:12])
        if version not in (2, 3, 4):
            return
        index_mtime = index_stamp[0]
        changed: List[Tuple[str, Optional[List[int]]]] = []
        base = os.fsencode(root) + b"/"
        offset, previous = 12, b""
        for _ in range(count):
            if offset + 62 > len(data):
                return
            (_cs, _cn, ms, mn, _dev, ino, mode, _uid, _gid, size) = struct.unpack(
                ">10I", data[offset:offset + 40])
            flags = struct.unpack(">H", data[offset + 60:offset + 62])[0]
            pos = offset + 62
            extended = 0
            if flags & 0x4000:
                if version < 3:
                    return
                extended = struct.unpack(">H", data[pos:pos + 2])[0]
                pos += 2
            if flags & 0x3000:  # a merge conflict: only git can say
                return
            if version == 4:
                strip, pos = _varint(data, pos)
                end = data.index(b"\0", pos)
                name = previous[:len(previous) - strip] + data[pos:end]
                offset = end + 1
            else:
                end = data.index(b"\0", pos)
                name = data[pos:end]
                offset = offset + ((pos - offset + len(name) + 8) & ~7)
            previous = name
            if extended & 0x4000 or flags & 0x8000:
                continue  # skip-worktree / assume-valid: git does not look either
            if mode >> 12 == 0o16:  # a submodule: only git can say
                return
            try:
                st = os.lstat(base + name)
            except OSError:
                changed.append((os.fsdecode(name), None))  # deleted, or not readable
                continue
            kind_ok = (stat.S_ISLNK(st.st_mode) if mode >> 12 == 0o12 else
                       stat.S_ISREG(st.st_mode)
                       and bool(mode & 0o100) == bool(st.st_mode & 0o100))
            same = (kind_ok and (st.st_mtime_ns // 1_000_000_000) & 0xFFFFFFFF == ms
                    and (not mn or st.st_mtime_ns % 1_000_000_000 == mn)
                    and st.st_size & 0xFFFFFFFF == size
                    and (not ino or st.st_ino & 0xFFFFFFFF == ino))
            if same and st.st_mtime_ns >= index_mtime:
                self.racy = True  # changed as the index was written: stat cannot tell
            if not same or st.st_mtime_ns >= index_mtime:
                changed.append((os.fsdecode(name), [st.st_mtime_ns, st.st_size, st.st_ino]))
                if len(changed) > MAX_DIRTY:
                    return
        self.changed = changed
        self.clean = not changed


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    byte = data[pos]
    value = byte & 0x7F
    pos += 1
    while byte & 0x80:
        byte = data[pos]
        value = ((value + 1) << 7) | (byte & 0x7F)
        pos += 1
    return value, pos
