"""Provenance of a run: the git state of its script, and the Python environment.

Git is read from the ``.git`` directory itself (HEAD, loose refs, packed-refs,
the index); a ``git`` process runs only when the work tree may differ from
HEAD: once, ``git diff HEAD``, whose output (capped at :data:`DIFF_CAP`) is
stored beside the snapshot.  A tree known clean (every tracked file's stat
matches the index, and the index was seen to match this commit before) needs
no process at all.  Nothing here ever fails a run: what cannot be learnt is
recorded as unknown.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

DIFF_CAP = 1 << 20
GIT_TIMEOUT = 20.0
MAX_INDEX = 64 << 20
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git_info(run_dir: Path, script: Path, diff_name: str) -> Optional[Dict[str, Any]]:
    """``{"commit", "branch", "dirty", "diff_file", "diff_truncated", "root"}`` for the
    work tree holding ``script``; None when it is in none.  The diff, when dirty,
    is written to ``run_dir / diff_name``."""
    try:
        return _git_info(Path(run_dir), Path(script), diff_name)
    except Exception as exc:  # provenance never fails a run
        return {"commit": None, "branch": None, "dirty": None, "diff_file": None,
                "diff_truncated": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _git_info(run_dir: Path, script: Path, diff_name: str) -> Optional[Dict[str, Any]]:
    found = find_repo(script.parent)
    if found is None:
        return None
    root, gitdir, common = found
    commit, branch = read_head(gitdir, common)
    info: Dict[str, Any] = {"commit": commit, "branch": branch, "dirty": None,
                            "diff_file": None, "diff_truncated": False, "root": str(root)}
    if commit is None:
        return info  # no commit yet: nothing to compare with
    index_stamp = _stamp(gitdir / "index")
    if _index_matches_tree(root, gitdir) and _known_clean(root, commit, index_stamp):
        info["dirty"] = False
        return info
    diff = _git_diff(root)
    if diff is None:
        return info  # no git, or it failed: dirty stays unknown
    text, truncated = diff
    info["dirty"] = bool(text)
    if not text:
        if _index_matches_tree(root, gitdir):
            _remember_clean(root, commit, _stamp(gitdir / "index"))
        return info
    if truncated:
        text += (f"\n# molexp: diff cut at {DIFF_CAP} bytes (git diff HEAD in "
                 f"{root} for the rest)\n").encode()
    target = run_dir / diff_name
    target.parent.mkdir(exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)
    info.update(diff_file=diff_name, diff_truncated=truncated)
    return info


def find_repo(start: Path) -> Optional[Tuple[Path, Path, Path]]:
    """(work tree, git dir, common git dir) of the repository holding ``start``."""
    try:
        here = start.resolve()
    except OSError:
        return None
    for directory in [here, *here.parents]:
        dotgit = directory / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():  # a linked work tree or a submodule: "gitdir: <path>"
            text = _read(dotgit, 4096)
            if not text or not text.startswith("gitdir:"):
                return None
            gitdir = (directory / text[len("gitdir:"):].strip()).resolve()
        else:
            continue
        common = gitdir
        pointer = _read(gitdir / "commondir", 4096)
        if pointer:
            common = (gitdir / pointer.strip()).resolve()
        return directory, gitdir, common
    return None


def read_head(gitdir: Path, common: Path) -> Tuple[Optional[str], Optional[str]]:
    """(commit, branch) from HEAD; branch None when detached, commit None when unborn."""
    head = (_read(gitdir / "HEAD", 4096) or "").strip()
    if _SHA.match(head):
        return head, None
    if not head.startswith("ref:"):
        return None, None
    ref = head[4:].strip()
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    if ".." in ref.split("/"):
        return None, branch
    for base in (gitdir, common):
        value = (_read(base / ref, 4096) or "").strip()
        if _SHA.match(value):
            return value, branch
    packed = _read(common / "packed-refs", 16 << 20) or ""
    for line in packed.splitlines():
        if line.startswith(("#", "^")):
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _SHA.match(sha):
            return sha, branch
    return None, branch


def _read(path: Path, limit: int) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _stamp(path: Path) -> Optional[List[int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _index_matches_tree(root: Path, gitdir: Path) -> bool:
    """True when every tracked file's stat matches the index (git's own test).

    False whenever in doubt: an unreadable or unknown index format, a conflict,
    a submodule, a file changed in the same instant the index was written."""
    try:
        return _walk_index(root, gitdir / "index")
    except (ValueError, IndexError, struct.error):
        return False


def _walk_index(root: Path, path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INDEX + 1)
        index_mtime = os.stat(path).st_mtime_ns
    except OSError:
        return False
    if len(data) > MAX_INDEX or len(data) < 12 or data[:4] != b"DIRC":
        return False
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        return False
    offset, previous = 12, b""
    for _ in range(count):
        if offset + 62 > len(data):
            return False
        (_cs, _cn, ms, mn, _dev, ino, mode, _uid, _gid, size) = struct.unpack(
            ">10I", data[offset:offset + 40])
        flags = struct.unpack(">H", data[offset + 60:offset + 62])[0]
        pos = offset + 62
        extended = 0
        if flags & 0x4000:
            if version < 3:
                return False
            extended = struct.unpack(">H", data[pos:pos + 2])[0]
            pos += 2
        if flags & 0x3000:  # a merge conflict: dirty
            return False
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
            return False
        try:
            st = os.lstat(root / os.fsdecode(name))
        except OSError:
            return False  # deleted, or not readable
        kind_ok = (stat.S_ISLNK(st.st_mode) if mode >> 12 == 0o12 else
                   stat.S_ISREG(st.st_mode) and bool(mode & 0o100) == bool(st.st_mode & 0o100))
        if (not kind_ok
                or (st.st_mtime_ns // 1_000_000_000) & 0xFFFFFFFF != ms
                or (mn and st.st_mtime_ns % 1_000_000_000 != mn)
                or st.st_size & 0xFFFFFFFF != size
                or (ino and st.st_ino & 0xFFFFFFFF != ino)
                or st.st_mtime_ns >= index_mtime):  # racy: changed as the index was written
            return False
    return True


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    byte = data[pos]
    value = byte & 0x7F
    pos += 1
    while byte & 0x80:
        byte = data[pos]
        value = ((value + 1) << 7) | (byte & 0x7F)
        pos += 1
    return value, pos


def _git_diff(root: Path) -> Optional[Tuple[bytes, bool]]:
    """``git diff HEAD`` (tracked files), at most DIFF_CAP bytes; None if git cannot say."""
    import subprocess  # only when the tree may be dirty

    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_PAGER="cat")
    try:
        process = subprocess.Popen(
            ["git", "-C", str(root), "diff", "HEAD", "--no-color", "--no-ext-diff",
             "--no-textconv"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, env=env)
    except OSError:
        return None  # no git installed
    try:
        text = process.stdout.read(DIFF_CAP + 1)
        truncated = len(text) > DIFF_CAP
        if truncated:
            process.kill()
        process.stdout.close()
        code = process.wait(timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    if code != 0 and not truncated:
        return None
    return text[:DIFF_CAP], truncated


# -- remembering clean trees (so a clean tree costs no process) ------------------------
def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "molexp" / "git-clean.json"


def _known_clean(root: Path, commit: str, stamp: Optional[List[int]]) -> bool:
    if stamp is None:
        return False
    try:
        with open(_cache_path(), encoding="utf-8") as handle:
            known = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(known, dict) and known.get(str(root)) == [commit, stamp]


def _remember_clean(root: Path, commit: str, stamp: Optional[List[int]]) -> None:
    if stamp is None:
        return
    path = _cache_path()
    try:
        with open(path, encoding="utf-8") as handle:
            known = json.load(handle)
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    known.pop(str(root), None)
    known[str(root)] = [commit, stamp]
    known = dict(list(known.items())[-50:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def describe_git(info: Any) -> Optional[str]:
    """One line for ``molexp show``."""
    if not isinstance(info, dict):
        return None
    if info.get("error"):
        return f"unknown ({info['error']})"
    text = (info.get("commit") or "(no commit yet)")[:12]
    if info.get("branch"):
        text += f" on {info['branch']}"
    dirty = info.get("dirty")
    if dirty:
        text += ", dirty"
        if info.get("diff_file"):
            text += f" (diff: {info['diff_file']}{', cut' if info.get('diff_truncated') else ''})"
    elif dirty is None and info.get("commit"):
        text += ", dirty state unknown"
    else:
        text += ", clean" if info.get("commit") else ""
    return text
