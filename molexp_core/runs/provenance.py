"""Provenance of a run: the git state of its script.

The commit and branch are read from ``.git`` itself (``runs/git_dir.py``: HEAD, loose
refs, packed-refs, the index; regular files only, never a read that blocks).  A
``git`` process runs only when the work tree may differ from the commit: once,
``git diff COMMIT`` in a sealed environment that never reads the repository's
configuration (``runs/git_diff.py``), within ``$MOLEXP_GIT_TIMEOUT`` seconds; its
output (capped at :data:`DIFF_CAP`) is stored beside the snapshot.  A tree known clean
(every tracked file's stat matches the index, and the index was seen to match this
commit before) needs no process at all.  Nothing here ever fails or hangs a run: what
cannot be learnt is recorded as unknown, with the reason in ``unavailable``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.runs.git_dir import IndexWalk, Unreadable, find_repo, read_head, stamp

DIFF_CAP = 1 << 20
CACHE_CAP = 1 << 20


def git_info(run_dir: Path, script: Path, diff_name: str) -> Optional[Dict[str, Any]]:
    """``{"commit", "branch", "dirty", "diff_file", "diff_truncated", "root"[,
    "unavailable"]}`` for the work tree holding ``script``; None when it is in none.
    The diff, when dirty, is written to ``run_dir / diff_name``."""
    info: Dict[str, Any] = {"commit": None, "branch": None, "dirty": None,
                            "diff_file": None, "diff_truncated": False}
    try:
        found = find_repo(Path(script).parent)
        if found is None:
            return None
        return _git_info(Path(run_dir), diff_name, found, info)
    except Unreadable as exc:  # a FIFO, a device, a huge file where git keeps its state
        info["unavailable"] = str(exc)[:300]
        return info
    except Exception as exc:  # provenance never fails a run
        info["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return info


def _git_info(run_dir: Path, diff_name: str, found: tuple,
              info: Dict[str, Any]) -> Dict[str, Any]:
    root, gitdir, common = found
    info["root"] = str(root)
    info["commit"], info["branch"] = read_head(gitdir, common)
    commit = info["commit"]
    if commit is None:
        return info  # no commit yet (or HEAD unreadable): nothing to compare with
    index = gitdir / "index"
    _regular_or_missing(index)  # git would block on a FIFO there
    index_stamp = stamp(index)
    walk = IndexWalk(root, gitdir)
    if walk.clean and _known_clean(root, commit, index_stamp):
        info["dirty"] = False
        return info
    key, settled = _diff_key(root, commit, index_stamp, walk)
    outcome = _cached_diff(root, key)
    if outcome is None:
        from molexp_core.runs.git_diff import git_diff

        outcome = git_diff(root, index, common / "objects", commit, DIFF_CAP)
        _remember_diff(root, key, settled, outcome)
    if outcome.data is None:
        info["unavailable"] = outcome.reason  # no git, it failed, or it timed out
        return info
    text = outcome.data
    info["dirty"] = bool(text)
    if not text:
        if IndexWalk(root, gitdir).clean:
            _remember_clean(root, commit, stamp(index))
        return info
    if outcome.truncated:
        text += (f"\n# molexp: diff cut at {DIFF_CAP} bytes (git diff HEAD in "
                 f"{root} for the rest)\n").encode()
    from molexp_core.runs.snapshot import write_run_file

    write_run_file(run_dir, diff_name, text, sync=False)  # as before: no fsync
    info.update(diff_file=diff_name, diff_truncated=outcome.truncated)
    return info


def _regular_or_missing(path: Path) -> None:
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise Unreadable(f"{path} is not a regular file; git was not asked")


# -- remembering diffs (so a tree diffed before at the same state costs no process) -----
SETTLED_NS = 2_000_000_000  # a file changed more recently than this: stat may not tell
_DIFFS: Dict[str, Any] = {}  # this process's diffs by key (a sweep prepares many runs)


def _diff_key(root: Path, commit: str, index_stamp: Optional[List[int]],
              walk: IndexWalk) -> Tuple[Optional[str], bool]:
    """(key, settled): what git's answer depends on (the commit, the index, the stat
    of each tracked file that differs from it, the root's .gitattributes), hashed;
    ``settled`` when no such file changed in the last two seconds (then a later
    edit changes its stat, as git itself assumes)."""
    if walk.changed is None or walk.racy or index_stamp is None:
        return None, False
    import hashlib
    import time

    now = time.time_ns()
    settled = all(st is None or now - st[0] > SETTLED_NS for _, st in walk.changed)
    text = json.dumps([str(root), commit, index_stamp, walk.changed,
                       stamp(root / ".gitattributes")])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(), settled


def _diff_cache_path(root: Path) -> Path:
    import hashlib

    name = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return _cache_path().with_name(f"git-diff-{name}.bin")


def _cached_diff(root: Path, key: Optional[str]) -> Any:
    """The diff remembered for ``key`` (this process's, else the one-per-work-tree
    cache file), or None."""
    if key is None:
        return None
    if key in _DIFFS:
        return _DIFFS[key]
    from molexp_core.runs import safe_files
    from molexp_core.runs.git_diff import Outcome

    try:
        data = safe_files.read_bytes(_diff_cache_path(root), DIFF_CAP + 256, "cache")
    except (OSError, safe_files.RunStoreError):
        return None
    header, _, body = data.partition(b"\n")
    if header not in (f"molexp-git-diff {key} 0".encode(), f"molexp-git-diff {key} 1".encode()):
        return None
    return Outcome(body, truncated=header.endswith(b"1"))


def _remember_diff(root: Path, key: Optional[str], settled: bool, outcome: Any) -> None:
    if key is None or outcome.data is None:
        return
    _DIFFS.clear()
    _DIFFS[key] = outcome
    if not settled or not outcome.data:  # a clean tree is remembered below instead
        return
    from molexp_core.runs import safe_files

    header = f"molexp-git-diff {key} {int(outcome.truncated)}\n".encode()
    path = _diff_cache_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        safe_files.write_atomic(path, header + outcome.data, durable=False, sync=False)
    except (OSError, safe_files.RunStoreError):
        pass


# -- remembering clean trees (so a clean tree costs no process) ------------------------
def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "molexp" / "git-clean.json"


def _read_cache() -> Dict[str, Any]:
    from molexp_core.runs import safe_files

    try:
        known = json.loads(safe_files.read_bytes(_cache_path(), CACHE_CAP, "cache"))
    except (OSError, ValueError, safe_files.RunStoreError):
        return {}
    return known if isinstance(known, dict) else {}


def _known_clean(root: Path, commit: str, index_stamp: Optional[List[int]]) -> bool:
    return index_stamp is not None and _read_cache().get(str(root)) == [commit, index_stamp]


def _remember_clean(root: Path, commit: str, index_stamp: Optional[List[int]]) -> None:
    from molexp_core.runs import safe_files

    if index_stamp is None:
        return
    known = _read_cache()
    known.pop(str(root), None)
    known[str(root)] = [commit, index_stamp]
    known = dict(list(known.items())[-50:])
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        safe_files.write_atomic(path, json.dumps(known).encode(), durable=False, sync=False)
    except (OSError, safe_files.RunStoreError):
        pass  # an unwritable cache only costs a git process next time


def describe_git(info: Any) -> Optional[str]:
    """One line for ``molexp show``."""
    if not isinstance(info, dict):
        return None
    if info.get("error"):
        return f"unknown ({info['error']})"
    if not info.get("commit") and info.get("unavailable"):
        return f"unknown ({info['unavailable']})"
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
    if info.get("unavailable"):
        text += f" ({info['unavailable']})"
    return text
