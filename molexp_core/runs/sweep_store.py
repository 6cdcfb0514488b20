"""Sweep records: ``<runs root>/.sweeps/<sweep id>/sweep.json``.

A sweep record holds the sweep's definition, its points (each with its run id and
run directory, relative to the runs root, and the scheduler's job id), and the
arrays submitted for it, each with its manifest (``manifest-<n>.json``: the run
directories an array task picks from by index).  Like ``run.json`` it is only
ever replaced atomically, each update a read-modify-write under ``.meta.lock``.
The point runs stay ordinary run directories: the record only points at them.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from molexp_core.runs import safe_files
from molexp_core.runs import store as runstore

SWEEPS_DIR = ".sweeps"
SWEEP_FILE = "sweep.json"
SWEEP_ID = re.compile(r"^sw-\d{8}-\d{6}-\d{6}-[0-9a-f]{4}$")
MAX_RECORD_BYTES = 256 * 1024 * 1024


class SweepStoreError(runstore.RunStoreError):
    """A sweep record cannot be found, read or written."""


def new_sweep_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    return f"sw-{stamp}-{os.urandom(2).hex()}"


def sweeps_dir(root: Path) -> Path:
    return Path(root) / SWEEPS_DIR


def create_sweep(root: Path, record: Dict[str, Any]) -> Path:
    """Write a new sweep record (its id chosen here); return its directory."""
    base = sweeps_dir(root)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepStoreError(f"cannot create {base}: {exc.strerror or exc}") from exc
    for _ in range(100):
        sweep_id = new_sweep_id()
        directory = base / sweep_id
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise SweepStoreError(f"cannot create {directory}: {exc.strerror or exc}") from exc
        record["sweep_id"] = sweep_id
        try:
            runstore.write_json_atomic(directory / SWEEP_FILE, record)
        except BaseException:
            runstore.remove_tree(directory)
            raise
        return directory
    raise SweepStoreError(f"could not find a free sweep id under {base}")  # pragma: no cover


def read_sweep(directory: Path) -> Dict[str, Any]:
    path = Path(directory) / SWEEP_FILE
    try:
        if os.path.islink(directory) or os.path.islink(path):
            raise SweepStoreError(f"{path} is a symbolic link; molexp makes none")
        if os.stat(path).st_size > MAX_RECORD_BYTES:
            raise SweepStoreError(f"{path} is too large to be a sweep record")
        record = json.loads(safe_files.read_bytes(path, MAX_RECORD_BYTES, "sweep record"))
    except FileNotFoundError:
        raise SweepStoreError(f"{directory} is not a sweep (no {SWEEP_FILE})") from None
    except runstore.RunStoreError as exc:  # a FIFO, a device, over the cap
        raise SweepStoreError(exc.format_message()) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise SweepStoreError(f"cannot read {path}: {exc}") from exc
    if (not isinstance(record, dict) or not isinstance(record.get("points"), list)
            or not isinstance(record.get("sweep_id"), str)):
        raise SweepStoreError(f"{path} is not a molexp sweep record")
    return record


def update_sweep(directory: Path, mutate: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    with runstore._flock(Path(directory) / runstore.META_LOCK):
        record = read_sweep(directory)
        mutate(record)
        runstore.write_json_atomic(Path(directory) / SWEEP_FILE, record)
    return record


def list_sweeps(root: Path) -> List[Path]:
    """Sweep directories, newest first."""
    base = sweeps_dir(root)
    try:
        with os.scandir(base) as entries:
            found = [Path(e.path) for e in entries
                     if SWEEP_ID.match(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    found.sort(key=lambda p: p.name, reverse=True)
    return found


def is_sweep_ref(ref: str) -> bool:
    return ref.startswith("sw-")


def find_sweep(root: Path, ref: str) -> Path:
    """A sweep directory from a unique sweep-id prefix (``sw-...``)."""
    matches = [p for p in list_sweeps(root) if ref and p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SweepStoreError(f"no sweep {ref!r} under {root} (see `molexp sweeps`)")
    raise SweepStoreError(f"sweep id prefix {ref!r} is ambiguous: "
                          + ", ".join(p.name for p in matches[:5]))


def run_dir_of(root: Path, point: Dict[str, Any]) -> Optional[Path]:
    """A point's run directory, only if it is a safe path inside the runs root."""
    relative = point.get("run_dir")
    if not isinstance(relative, str):
        return None
    parts = relative.split("/")
    if len(parts) != 3 or any(not p or p in (".", "..") or p.startswith(".") for p in parts):
        return None
    return Path(root) / relative


def write_manifest(directory: Path, number: int, run_dirs: List[Path]) -> Path:
    """``manifest-<number>.json``: the run dirs an array's tasks execute, by index."""
    path = Path(directory) / f"manifest-{number}.json"
    runstore.write_json_atomic(path, {"sweep_id": Path(directory).name,
                                      "runs": [str(d) for d in run_dirs]})
    return path


def manifest_run(manifest: Path, index: int) -> Path:
    """The run directory at ``index`` of a manifest, checked to be a run of its runs root."""
    manifest = Path(manifest).absolute()
    directory = manifest.parent
    if directory.parent.name != SWEEPS_DIR or not SWEEP_ID.match(directory.name):
        raise SweepStoreError(f"{manifest} is not a manifest of a molexp sweep")
    root = directory.parent.parent
    try:
        data = json.loads(safe_files.read_bytes(manifest, MAX_RECORD_BYTES, "sweep manifest"))
    except runstore.RunStoreError as exc:  # a link, a FIFO, a device, over the cap
        raise SweepStoreError(exc.format_message()) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise SweepStoreError(f"cannot read {manifest}: {exc}") from exc
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not 0 <= index < len(runs):
        raise SweepStoreError(f"{manifest} has no run at index {index}")
    run_dir = Path(str(runs[index]))
    try:
        relative = run_dir.relative_to(root)
    except ValueError:
        raise SweepStoreError(f"{manifest}: {run_dir} is outside the runs root") from None
    checked = run_dir_of(root, {"run_dir": relative.as_posix()})
    if checked is None or os.path.islink(checked):
        raise SweepStoreError(f"{manifest}: {run_dir} is not a run directory of this sweep")
    return checked
