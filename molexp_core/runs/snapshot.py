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
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SCRIPT + 1)
    except OSError as exc:
        raise SnapshotError(f"cannot read the script {path}: {exc.strerror or exc}") from exc
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
    first = not snapshots and not (Path(run_dir) / SCRIPT_COPY).exists()
    name = SCRIPT_COPY if first else f"{SNAPSHOT_DIR}/{digest}.py"
    target = Path(run_dir) / name
    target.parent.mkdir(exist_ok=True)
    _write_new(target, code)
    snapshots[digest] = {"file": name, "taken_at": now_iso(), "origin": origin,
                         "source": str(source), "git": git}
    return digest


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file: never a half-written snapshot."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _intact(run_dir: Path, name: Optional[str], digest: str) -> bool:
    data = _read_snapshot(run_dir, name)
    return data is not None and sha256(data) == digest


def _read_snapshot(run_dir: Path, name: Any) -> Optional[bytes]:
    if not isinstance(name, str) or name not in (SCRIPT_COPY, f"{SNAPSHOT_DIR}/{Path(name).name}"):
        return None  # only files molexp names: never a path out of the run directory
    path = Path(run_dir) / name
    if path.is_symlink():
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_SCRIPT + 1)
    except OSError:
        return None


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
        raise SnapshotError(
            f"run {record.get('run_id')}: its stored script {Path(run_dir) / name} is "
            "missing; give --current-script to execute the file at "
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
