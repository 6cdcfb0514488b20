"""Script snapshots: the exact bytes each attempt of a run executes.

The code a run was prepared with is ``script.py`` in the run directory; any
other version an attempt executes (``--resume`` after an edit, ``execute
--current-script``) is kept beside it as ``snapshots/<sha256>.py``.  ``run.json``
lists them under ``snapshots`` (hash -> file, when and from where it was taken,
its git provenance) and names the one the next attempt executes in
``next_script_sha256``; each ``history`` entry names the one it ran.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from molexp_core.errors import MolexpError

SCRIPT_COPY = "script.py"
SNAPSHOT_DIR = "snapshots"
MAX_SCRIPT = 64 << 20  # a "script" larger than this is not one


class SnapshotError(MolexpError):
    """A run's stored code is missing or does not match its recorded hash."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_script(path: Path) -> bytes:
    """The script's bytes; a FIFO or a device at its path is refused, never waited on."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SnapshotError(f"cannot read the script {path}: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SnapshotError(f"the script {path} is not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_SCRIPT + 1)
    except OSError as exc:
        raise SnapshotError(f"cannot read the script {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_SCRIPT:
        raise SnapshotError(f"{path} is larger than {MAX_SCRIPT >> 20} MiB; not a script")
    return data


def add_snapshot(run_dir: Path, record: Dict[str, Any], code: bytes, origin: str,
                 source: Path, git: Any = None) -> str:
    """Store ``code`` in the run directory (once per content); register it in ``record``.

    ``origin``: why it was taken (``prepared``, ``resume``, ``current-script``).
    The first snapshot of a run is ``script.py``; later ones ``snapshots/<hash>.py``.
    Returns the hash.
    """
    from molexp_core.runs.store import now_iso

    digest = sha256(code)
    snapshots = record.setdefault("snapshots", {})
    if digest in snapshots and _intact(run_dir, snapshots[digest].get("file"), digest):
        return digest
    first = not snapshots and not os.path.lexists(Path(run_dir) / SCRIPT_COPY)
    name = SCRIPT_COPY if first else f"{SNAPSHOT_DIR}/{digest}.py"
    write_run_file(run_dir, name, code)
    snapshots[digest] = {"file": name, "taken_at": now_iso(), "origin": origin,
                         "source": str(source), "git": git}
    return digest


def write_run_file(run_dir: Path, name: str, data: bytes, sync: bool = True) -> None:
    """Write ``name`` (``file`` or ``dir/file``) in the run directory by the run
    store's rules: atomically, never through a link (neither the file nor ``dir``);
    a link or a FIFO planted there is a RunStoreError naming it."""
    from molexp_core.runs import safe_files

    directory, _, base = name.rpartition("/")
    run_fd = safe_files.open_dir(run_dir)
    try:
        if not directory:
            safe_files.write_atomic(Path(run_dir) / base, data, durable=False, sync=sync,
                                    dir_fd=run_fd)
            return
        sub_fd = safe_files.open_subdir(run_fd, directory, Path(run_dir) / directory,
                                        create=True)
        try:
            safe_files.write_atomic(Path(run_dir) / name, data, durable=False, sync=sync,
                                    dir_fd=sub_fd)
        finally:
            os.close(sub_fd)
    finally:
        os.close(run_fd)


def read_run_file(run_dir: Path, name: str, cap: int) -> Optional[bytes]:
    """The bytes of ``name`` (``file`` or ``dir/file``) in the run directory; None when
    it is missing, a link (or under one), not a regular file, or over ``cap``."""
    from molexp_core.runs import safe_files

    directory, _, base = name.rpartition("/")
    try:
        run_fd = safe_files.open_dir(run_dir)
    except (OSError, safe_files.RunStoreError):
        return None
    try:
        if not directory:
            return safe_files.read_bytes(Path(run_dir) / base, cap, "run file",
                                         dir_fd=run_fd, name=base)
        sub_fd = safe_files.open_subdir(run_fd, directory, Path(run_dir) / directory)
        try:
            return safe_files.read_bytes(Path(run_dir) / name, cap, "run file",
                                         dir_fd=sub_fd, name=base)
        finally:
            os.close(sub_fd)
    except (OSError, safe_files.RunStoreError):
        return None
    finally:
        os.close(run_fd)


def _intact(run_dir: Path, name: Optional[str], digest: str) -> bool:
    data = _read_snapshot(run_dir, name)
    return data is not None and sha256(data) == digest


def _read_snapshot(run_dir: Path, name: Any) -> Optional[bytes]:
    if not isinstance(name, str) or name not in (SCRIPT_COPY, f"{SNAPSHOT_DIR}/{Path(name).name}"):
        return None  # only files molexp names: never a path out of the run directory
    return read_run_file(run_dir, name, MAX_SCRIPT)


def stored_code(run_dir: Path, record: Dict[str, Any],
                digest: Optional[str] = None) -> Tuple[bytes, str, str]:
    """The bytes of the snapshot ``digest`` (default: the one the next attempt runs).

    Returns ``(bytes, hash, file name)``; SnapshotError when it is missing or its
    bytes no longer hash to its name (the run directory was edited).
    """
    digest = digest or record.get("next_script_sha256") or record.get("script_sha256")
    snapshots = record.get("snapshots") or {}
    name = (snapshots.get(digest) or {}).get("file") or SCRIPT_COPY  # runs made before
    data = _read_snapshot(run_dir, name)
    if data is None:
        state = ("is not a file molexp wrote (a link, a FIFO, or under a link)"
                 if os.path.lexists(Path(run_dir) / name) else "is missing")
        raise SnapshotError(
            f"run {record.get('run_id')}: its stored script {Path(run_dir) / name} "
            f"{state}; give --current-script to execute the file at "
            f"{record.get('script')} instead")
    actual = sha256(data)
    if digest and actual != digest:
        raise SnapshotError(
            f"run {record.get('run_id')} is corrupt or was edited: its stored script "
            f"{Path(run_dir) / name} hashes to {actual[:16]}, but run.json says "
            f"{str(digest)[:16]}; give --current-script to execute the file at "
            f"{record.get('script')} instead")
    return data, actual, name


def current_hash(path: Path) -> Optional[str]:
    """The hash of the file at ``path`` now, or None when it cannot be read."""
    try:
        return sha256(read_script(path))
    except SnapshotError:
        return None
