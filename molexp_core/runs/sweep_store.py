"""Sweep records: ``<runs root>/.sweeps/<sweep id>/sweep.json``.

A sweep record holds the sweep's definition, its points (each with its run id and
run directory, relative to the runs root, and the scheduler's job id), and the
arrays submitted for it, each with its manifest (``manifest-<n>.json``: the run
directories an array task picks from by index).  Like ``run.json`` it is only
ever replaced atomically, each update a read-modify-write under ``.meta.lock``.
The point runs stay ordinary run directories: the record only points at them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from molexp_core.runs import safe_files
from molexp_core.runs import store as runstore

SWEEPS_DIR = ".sweeps"
SWEEP_FILE = "sweep.json"
SWEEP_ID = re.compile(r"^sw-\d{8}-\d{6}-\d{6}-[0-9a-f]{4}$")
MAX_RECORD_BYTES = 64 * safe_files.MiB  # a sweep record (and a manifest), read and written


class SweepStoreError(runstore.RunStoreError):
    """A sweep record cannot be found, read or written."""


def new_sweep_id(root: Optional[Path] = None, existing: Sequence[str] = ()) -> str:
    """A sweep id that sorts after every sweep (and run) made before it under
    ``root``, whatever the clock does (as run ids do, ``runs/ids.py``)."""
    from molexp_core.runs import ids

    stamp = ids.utc_now().strftime("%Y%m%d-%H%M%S-%f")
    last = max([name[3:25] for name in existing if SWEEP_ID.match(name)], default=None)
    if root is not None:
        last = max(filter(None, [last, ids._read_last(Path(root) / ids.LAST_ID_FILE)]),
                   default=None)
    if last and last >= stamp:
        stamp = ids._after(last) or stamp
    return f"sw-{stamp}-{os.urandom(2).hex()}"


def sweeps_dir(root: Path) -> Path:
    return Path(root) / SWEEPS_DIR


def _refused(exc: runstore.RunStoreError) -> SweepStoreError:
    return SweepStoreError(exc.format_message())


@contextlib.contextmanager
def _base_fd(root: Path, create: bool = False) -> Iterator[int]:
    """``<root>/.sweeps`` as a directory fd: never through a link planted there."""
    base = sweeps_dir(root)
    try:
        if create:
            Path(root).mkdir(parents=True, exist_ok=True)
        root_fd = safe_files.open_dir(root)
    except FileNotFoundError:
        raise SweepStoreError(f"no sweeps under {root} (see `molexp sweeps`)") from None
    except OSError as exc:
        raise SweepStoreError(f"cannot open {root}: {exc.strerror or exc}") from None
    except runstore.RunStoreError as exc:
        raise _refused(exc) from None
    try:
        fd = safe_files.open_subdir(root_fd, SWEEPS_DIR, base, create=create)
    except FileNotFoundError:
        raise SweepStoreError(f"no sweeps under {root} (see `molexp sweeps`)") from None
    except runstore.RunStoreError as exc:
        raise _refused(exc) from None
    finally:
        os.close(root_fd)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _sweep_fd(directory: Path) -> Iterator[int]:
    """A sweep's directory as an fd, opened from its runs root without following a
    link at ``.sweeps`` or at the sweep's own name."""
    directory = Path(directory)
    if directory.parent.name != SWEEPS_DIR:
        raise SweepStoreError(f"{directory} is not a sweep directory (not under "
                              f"{SWEEPS_DIR}/)")
    with _base_fd(directory.parent.parent) as base:
        try:
            fd = safe_files.open_subdir(base, directory.name, directory)
        except FileNotFoundError:
            raise SweepStoreError(f"{directory} is not a sweep (no such directory)") from None
        except runstore.RunStoreError as exc:
            raise _refused(exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def encode(record: Dict[str, Any], path: Any = SWEEP_FILE) -> bytes:
    """``record`` as the bytes of ``sweep.json``; over :data:`MAX_RECORD_BYTES` is
    refused here, so molexp never writes a record it would refuse to read."""
    text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    data = text.encode("utf-8")
    if len(data) > MAX_RECORD_BYTES:
        raise SweepStoreError(
            f"{path}: the sweep record would be {len(data) / safe_files.MiB:.0f} MiB, over "
            f"the {MAX_RECORD_BYTES // safe_files.MiB} MiB cap; sweep fewer points or "
            "smaller values")
    return data


def _write(fd: int, path: Path, data: bytes) -> None:
    from molexp_core.runs.records import _deferred

    try:
        safe_files.write_atomic(path, data, durable=not _deferred, sync=not _deferred,
                                dir_fd=fd)
    except runstore.RunStoreError as exc:
        raise _refused(exc) from None


def create_sweep(root: Path, record: Dict[str, Any]) -> Path:
    """Write a new sweep record (its id chosen here); return its directory.

    Staged like a run directory: the record is written into a hidden directory
    that is then renamed into place, so a sweep appears complete or not at all
    (a kill -9 between the two leaves only a hidden staging directory).
    """
    import time

    base_path = sweeps_dir(root)
    record["sweep_id"] = new_sweep_id()  # its length, for the size check
    _check_room(record, base_path / record["sweep_id"] / SWEEP_FILE)
    with _base_fd(root, create=True) as base:
        names = os.listdir(base)
        _remove_stale_staging(base_path, names, time.time())
        for _ in range(100):
            sweep_id = new_sweep_id(root, names)
            directory = base_path / sweep_id
            record["sweep_id"] = sweep_id
            staging = f".{sweep_id}.{os.getpid()}.staging"
            try:
                os.mkdir(staging, 0o777, dir_fd=base)
            except FileExistsError:
                continue
            except OSError as exc:
                raise SweepStoreError(f"cannot create {directory}: "
                                      f"{exc.strerror or exc}") from exc
            record["sweep_id"] = sweep_id
            try:
                data = encode(record, directory / SWEEP_FILE)
                fd = safe_files.open_subdir(base, staging, base_path / staging)
                try:
                    _write(fd, directory / SWEEP_FILE, data)
                finally:
                    os.close(fd)
                os.rename(staging, sweep_id, src_dir_fd=base, dst_dir_fd=base)
            except OSError as exc:
                runstore.remove_tree(base_path / staging)
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    names.append(sweep_id)  # taken in the same microsecond: the next id
                    continue
                raise SweepStoreError(f"cannot create {directory}: "
                                      f"{exc.strerror or exc}") from exc
            except BaseException:
                runstore.remove_tree(base_path / staging)
                raise
            with contextlib.suppress(OSError):
                os.fsync(base)
            return directory
    raise SweepStoreError(f"could not find a free sweep id under {base_path}")  # pragma: no cover


def _check_room(record: Dict[str, Any], path: Path) -> None:
    """Refuse a sweep whose record, once every point has its run and job id, would
    be over the cap: before anything is made, not half-way through it."""
    full = dict(record)
    stem = Path(str(record.get("script") or "x")).stem
    profile = record.get("profile") or runstore.DEFAULT_PROFILE_DIR
    sample = {"run_id": "0" * 27, "run_dir": f"{stem}/{profile}/{'0' * 27}",
              "job_id": "0" * 24, "reused": False}
    full["points"] = [dict(point, **sample) for point in record.get("points") or []]
    encode(full, path)


STAGING_MAX_AGE = 3600.0  # seconds; a sweep's staging directory lives milliseconds


def _remove_stale_staging(base: Path, names: List[str], now: float) -> None:
    """Staging directories left by a sweep start killed before its rename (by age,
    not pid: a start on another host sharing the runs root is never touched)."""
    for name in names:
        if name.startswith(".sw-") and name.endswith(".staging"):
            path = base / name
            with contextlib.suppress(OSError):
                if now - os.lstat(path).st_mtime > STAGING_MAX_AGE:
                    runstore.remove_tree(path)


def read_sweep(directory: Path) -> Dict[str, Any]:
    """The sweep's record, checked against ``runs/sweep_schema.py``; a link, a FIFO,
    a file over the cap or a record of the wrong shape is a SweepStoreError."""
    with _sweep_fd(directory) as fd:
        return _read(fd, Path(directory))


def _read(fd: int, directory: Path) -> Dict[str, Any]:
    from molexp_core.runs.sweep_schema import check_sweep

    path = directory / SWEEP_FILE
    try:
        data = safe_files.read_bytes(path, MAX_RECORD_BYTES, "sweep record", dir_fd=fd,
                                     name=SWEEP_FILE)
        record = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise SweepStoreError(f"{directory} is not a sweep (no {SWEEP_FILE})") from None
    except runstore.RunStoreError as exc:  # a link, a FIFO, a device, over the cap
        raise _refused(exc) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise SweepStoreError(f"cannot read {path}: {exc}") from None
    reason = check_sweep(record, directory.name)
    if reason:
        raise SweepStoreError(f"{path} is not a usable molexp sweep record: {reason}")
    return record


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def update_sweep(directory: Path, mutate: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    """Read-modify-write of the record, under the sweep's ``.meta.lock``."""
    import fcntl

    directory = Path(directory)
    with _sweep_fd(directory) as fd:
        try:
            lock = safe_files.open_regular(directory / runstore.META_LOCK,
                                           os.O_RDWR | os.O_CREAT, dir_fd=fd,
                                           name=runstore.META_LOCK)
        except runstore.RunStoreError as exc:
            raise _refused(exc) from None
        except OSError as exc:
            raise SweepStoreError(f"cannot lock {directory}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = _read(fd, directory)
            mutate(record)
            _write(fd, directory / SWEEP_FILE, encode(record, directory / SWEEP_FILE))
        finally:
            os.close(lock)
    return record


def list_sweeps(root: Path) -> List[Path]:
    """Sweep directories, newest first (none when there is no ``.sweeps`` yet; a
    link or a file there is refused)."""
    base = sweeps_dir(root)
    try:
        mode = os.lstat(base).st_mode
    except OSError:
        return []
    if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
        raise SweepStoreError(f"{base} is {safe_files._kind(mode)}, not a directory molexp "
                              "made; refused, nothing was read or written through it")
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
    data = encode({"sweep_id": Path(directory).name, "runs": [str(d) for d in run_dirs]},
                  path)
    with _sweep_fd(directory) as fd:
        _write(fd, path, data)
    return path


def make_subdir(directory: Path, name: str) -> Path:
    """A directory of the sweep's own (an array's log directory), made when missing;
    a link or a file planted at that name is refused, its target untouched."""
    with _sweep_fd(directory) as fd:
        try:
            os.close(safe_files.open_subdir(fd, name, Path(directory) / name, create=True))
        except runstore.RunStoreError as exc:
            raise _refused(exc) from None
    return Path(directory) / name


def manifest_run(manifest: Path, index: int) -> Path:
    """The run directory at ``index`` of a manifest, checked to be a run of its runs root."""
    manifest = Path(manifest).absolute()
    directory = manifest.parent
    if directory.parent.name != SWEEPS_DIR or not SWEEP_ID.match(directory.name):
        raise SweepStoreError(f"{manifest} is not a manifest of a molexp sweep")
    root = directory.parent.parent
    try:
        with _sweep_fd(directory) as fd:
            data = json.loads(safe_files.read_bytes(manifest, MAX_RECORD_BYTES,
                                                    "sweep manifest", dir_fd=fd,
                                                    name=manifest.name))
    except FileNotFoundError:
        raise SweepStoreError(f"no manifest {manifest}") from None
    except runstore.RunStoreError as exc:  # a link, a FIFO, a device, over the cap
        raise _refused(exc) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise SweepStoreError(f"cannot read {manifest}: {exc}") from None
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
