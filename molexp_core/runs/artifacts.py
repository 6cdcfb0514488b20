"""Artifacts: the folder each task may fill (``ctx.artifact_dir``) and its index.

A task's folder is ``RUN_DIR/artifacts/<task folder>/``, made on first use.  When the
task ends (succeeded or failed), the executor indexes what the task left there:
every regular file's relative path, size and sha256, written to
``artifacts/<task folder>.index.json`` next to it, with a summary in the task's
record in ``run.json``.  The walk trusts nothing it finds: it never follows a link
(links, FIFOs, sockets and devices are listed as skipped, with why, and never
opened), opens each file without following a link and without blocking, and is
bounded (:data:`MAX_ENTRIES` entries, :data:`MAX_DEPTH` levels, :data:`HASH_BUDGET`
bytes hashed; files past the budget are listed with ``sha256: null``).

Imported only when a task asks for its folder, a run has an ``artifacts/`` folder
when a task ends, or something reads an index.  See docs/runs.md, "Artifacts".
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Dict, List, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files
from molexp_core.runs.result_files import result_name

ARTIFACTS_DIR = "artifacts"
INDEX_SUFFIX = ".index.json"
MAX_ENTRIES = 10_000  # files, folders and skipped entries visited per task
MAX_DEPTH = 64
HASH_BUDGET = 1024 * safe_files.MiB  # bytes hashed per task; later files: sha256 null
MAX_SKIPPED = 100  # skipped entries listed (all are counted)
INDEX_CAP = 16 * safe_files.MiB  # what an index of MAX_ENTRIES files can take
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def folder_name(task: str) -> str:
    """The task's folder in ``artifacts/``: its name when that is a plain file name,
    else a slug plus a hash of the exact name (as result files are named)."""
    if _PLAIN.match(task) and not task.endswith(INDEX_SUFFIX):
        return task
    return result_name(task)[:-len(".json")]


def task_artifact_dir(run_dir: Path, task: str) -> Path:
    """``RUN_DIR/artifacts/<task folder>``, created when missing; a link or a file
    in the place of either folder is refused (RunStoreError), never followed."""
    run_dir = Path(run_dir)
    folder = folder_name(task)
    run_fd = safe_files.open_dir(run_dir)
    try:
        top = safe_files.open_subdir(run_fd, ARTIFACTS_DIR, run_dir / ARTIFACTS_DIR,
                                     create=True)
        try:
            os.close(safe_files.open_subdir(top, folder, run_dir / ARTIFACTS_DIR / folder,
                                            create=True))
        finally:
            os.close(top)
    finally:
        os.close(run_fd)
    return run_dir / ARTIFACTS_DIR / folder


# -- indexing (when a task ends) --------------------------------------------
class _Walk:
    def __init__(self) -> None:
        self.files: List[Dict[str, Any]] = []
        self.skipped: List[Dict[str, str]] = []
        self.skipped_count = 0
        self.entries = 0
        self.hashed = 0
        self.notes: List[str] = []
        self.complete = True

    def skip(self, path: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED:
            self.skipped.append({"path": path, "reason": reason})

    def stop(self, note: str) -> None:
        self.complete = False
        if note not in self.notes:
            self.notes.append(note)


def _shown(name: str) -> str:
    """A file name as text (bytes that are not UTF-8 shown as \\xNN escapes)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _walk(dir_fd: int, prefix: str, depth: int, walk: _Walk, shown_dir: Path) -> None:
    names = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if walk.entries + len(names) >= MAX_ENTRIES:
                walk.stop(f"stopped after {MAX_ENTRIES:,} entries; the rest is not indexed")
                break
            names.append(entry.name)
    for name in sorted(names):
        walk.entries += 1
        path = prefix + _shown(name)
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except OSError as exc:
            walk.skip(path, f"cannot be read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(mode):
            if depth >= MAX_DEPTH:
                walk.skip(path + "/", f"nested deeper than {MAX_DEPTH} folders; not indexed")
                walk.stop(f"folders deeper than {MAX_DEPTH} levels are not indexed")
                continue
            try:
                sub = safe_files.open_subdir(dir_fd, name, shown_dir / name)
            except MolexpError as exc:  # swapped for a link since the stat: not followed
                walk.skip(path + "/", exc.format_message())
                continue
            try:
                _walk(sub, path + "/", depth + 1, walk, shown_dir / name)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            _index_file(dir_fd, name, path, walk, shown_dir / name)
        else:
            kind = safe_files._kind(mode)
            walk.skip(path, kind + (" (not followed)" if stat.S_ISLNK(mode) else
                                    " (not a regular file; not read)"))


def _index_file(dir_fd: int, name: str, path: str, walk: _Walk, shown: Path) -> None:
    import hashlib

    try:
        fd = safe_files.open_regular(shown, os.O_RDONLY, dir_fd=dir_fd, name=name)
    except (OSError, MolexpError) as exc:  # replaced by a link or a FIFO since the stat
        message = exc.format_message() if isinstance(exc, MolexpError) else str(exc)
        walk.skip(path, message)
        return
    try:
        size = os.fstat(fd).st_size
        if walk.hashed + size > HASH_BUDGET:
            walk.files.append({"path": path, "size": size, "sha256": None})
            walk.stop(f"files past the {HASH_BUDGET // safe_files.MiB} MiB hashing budget "
                      "are listed without a sha256")
            return
        digest, read = hashlib.sha256(), 0
        while read < size:  # what the file held when opened; it may still be growing
            chunk = os.read(fd, min(safe_files.MiB, size - read))
            if not chunk:
                break
            digest.update(chunk)
            read += len(chunk)
        walk.hashed += read
        walk.files.append({"path": path, "size": read, "sha256": digest.hexdigest()})
    except OSError as exc:
        walk.skip(path, f"cannot be read: {exc.strerror or exc}")
    finally:
        os.close(fd)


def index_task(run_dir: Path, task: str, attempt: Optional[int]) -> Dict[str, Any]:
    """Index the task's folder, if it has one: write its index file and return the
    fields for its record in run.json (``{"artifacts": summary}``; ``{}`` when the
    task has no folder).  Never raises: a folder that cannot be indexed gives a
    summary with ``error``."""
    run_dir = Path(run_dir)
    folder = folder_name(task)
    where = f"{ARTIFACTS_DIR}/{folder}"
    try:
        run_fd = safe_files.open_dir(run_dir)
    except (OSError, MolexpError):
        return {}
    try:
        try:
            os.stat(f"{ARTIFACTS_DIR}/{folder}", dir_fd=run_fd, follow_symlinks=False)
        except OSError:
            return {}  # the task left no folder (the usual case)
        try:
            summary = _index(run_fd, run_dir, task, folder, attempt)
        except (OSError, MolexpError) as exc:
            text = exc.format_message() if isinstance(exc, MolexpError) else str(exc)
            summary = {"dir": where, "files": 0, "bytes": 0, "skipped": 0,
                       "complete": False, "error": f"not indexed: {text}"}
        return {"artifacts": summary}
    finally:
        os.close(run_fd)


def _index(run_fd: int, run_dir: Path, task: str, folder: str,
           attempt: Optional[int]) -> Dict[str, Any]:
    from molexp_core.runs.records import now_iso

    top_dir = run_dir / ARTIFACTS_DIR
    top = safe_files.open_subdir(run_fd, ARTIFACTS_DIR, top_dir)
    try:
        walk = _Walk()
        sub = safe_files.open_subdir(top, folder, top_dir / folder)
        try:
            _walk(sub, "", 0, walk, top_dir / folder)
        finally:
            os.close(sub)
        walk.files.sort(key=lambda f: f["path"])
        total = sum(f["size"] for f in walk.files)
        index = {"task": task, "attempt": attempt, "indexed_at": now_iso(),
                 "dir": f"{ARTIFACTS_DIR}/{folder}", "files": walk.files,
                 "count": len(walk.files), "bytes": total, "complete": walk.complete,
                 "skipped": walk.skipped, "skipped_count": walk.skipped_count,
                 "notes": walk.notes}
        text = json.dumps(index, indent=1, ensure_ascii=False, allow_nan=False)
        while len(text) > INDEX_CAP - 4096:  # very long paths: keep what the cap holds
            keep = len(walk.files) * (INDEX_CAP // 2) // len(text)
            del walk.files[keep:]
            walk.stop("the index was cut at its size cap; later files are not listed")
            index.update(files=walk.files, count=len(walk.files), complete=False,
                         bytes=sum(f["size"] for f in walk.files))
            text = json.dumps(index, indent=1, ensure_ascii=False, allow_nan=False)
        total = index["bytes"]
        safe_files.write_atomic(top_dir / (folder + INDEX_SUFFIX),
                                (text + "\n").encode("utf-8", "surrogatepass"),
                                durable=False, sync=False, dir_fd=top)
    finally:
        os.close(top)
    return {"dir": index["dir"], "files": len(walk.files), "bytes": total,
            "skipped": walk.skipped_count, "complete": walk.complete}


# -- reading ------------------------------------------------------------------
NOT_INDEXED = "not indexed (the task has not ended, or was cancelled or killed)"


def read_artifacts(run_dir: Path, record: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Task name -> its artifact index, for the tasks of ``record`` that have a folder
    or an index, in task order.  One task's unusable index gives an entry with
    ``error`` (and no files); RunStoreError only when ``artifacts/`` itself is a link
    or not a folder."""
    run_dir = Path(run_dir)
    tasks = record.get("tasks") if isinstance(record, dict) else None
    if not isinstance(tasks, dict) or not tasks:
        return {}
    run_fd = safe_files.open_dir(run_dir)
    try:
        if not _exists(run_fd, ARTIFACTS_DIR):
            return {}
        top = safe_files.open_subdir(run_fd, ARTIFACTS_DIR, run_dir / ARTIFACTS_DIR)
        try:
            found = {}
            for name, task in tasks.items():
                entry = _read_index(top, run_dir, name, task)
                if entry is not None:
                    found[name] = entry
            return found
        finally:
            os.close(top)
    finally:
        os.close(run_fd)


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except OSError:
        return False


def _read_index(top: int, run_dir: Path, name: str, task: Any) -> Optional[Dict[str, Any]]:
    folder = folder_name(name)
    where = f"{ARTIFACTS_DIR}/{folder}"
    index_file = folder + INDEX_SUFFIX
    recorded = task.get("artifacts") if isinstance(task, dict) else None
    base = {"task": name, "dir": where, "files": [], "count": 0, "bytes": 0}
    if not _exists(top, index_file):
        if isinstance(recorded, dict) and isinstance(recorded.get("error"), str):
            return dict(base, error=recorded["error"])
        return dict(base, error=NOT_INDEXED) if _exists(top, folder) else None
    try:
        data = safe_files.read_bytes(run_dir / ARTIFACTS_DIR / index_file, INDEX_CAP,
                                     "artifact index", dir_fd=top, name=index_file)
        index = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
        return _checked(index, name, where)
    except (OSError, ValueError, RecursionError, MolexpError) as exc:
        text = exc.format_message() if isinstance(exc, MolexpError) else str(exc)
        return dict(base, error=f"{where}{INDEX_SUFFIX} cannot be used: {text}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"holds {name}")


def _checked(index: Any, name: str, where: str) -> Dict[str, Any]:
    """The index's known fields, type-checked (it is input like any file)."""
    if not isinstance(index, dict) or index.get("task") != name:
        raise ValueError(f"it is not the index of task {name!r}")
    files = index.get("files")
    if not isinstance(files, list):
        raise ValueError("'files' is not a list")
    clean = []
    for item in files:
        if not (isinstance(item, dict) and isinstance(item.get("path"), str)
                and type(item.get("size")) is int and item["size"] >= 0
                and (item.get("sha256") is None
                     or (isinstance(item["sha256"], str)
                         and re.fullmatch(r"[0-9a-f]{64}", item["sha256"])))):
            raise ValueError(f"a 'files' entry is malformed: {str(item)[:120]}")
        clean.append({"path": item["path"], "size": item["size"], "sha256": item["sha256"]})
    skipped = [s for s in index.get("skipped") or [] if isinstance(s, dict)
               and isinstance(s.get("path"), str) and isinstance(s.get("reason"), str)]
    notes = [n for n in index.get("notes") or [] if isinstance(n, str)]
    count = index.get("skipped_count")
    return {"task": name, "dir": where, "files": clean, "count": len(clean),
            "bytes": sum(f["size"] for f in clean),
            "complete": index.get("complete") is True,
            "attempt": index.get("attempt") if type(index.get("attempt")) is int else None,
            "indexed_at": index.get("indexed_at") if isinstance(index.get("indexed_at"),
                                                                str) else None,
            "skipped": [{"path": s["path"], "reason": s["reason"]} for s in skipped],
            "skipped_count": count if type(count) is int and count >= 0 else len(skipped),
            "notes": notes}
