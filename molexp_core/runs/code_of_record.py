"""Which code an attempt executes, and recording it (see ``snapshot`` for storage).

- ``molexp execute`` (what a scheduler's job runs) imports the snapshot named by
  ``next_script_sha256``: the code the run was prepared (or resumed) with, even
  if the file at ``script`` changed meanwhile (one line in run.log says so).
- ``execute --current-script`` imports the file as it is now, snapshotted first.
- An in-process run (``molexp run``, ``--resume``) executes the bytes it loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import snapshot
from molexp_core.runs.snapshot import SCRIPT_COPY  # noqa: F401  (re-exported)


class Code:
    """The bytes an attempt executes: their hash, and where they came from."""

    def __init__(self, data: bytes, sha256: Optional[str], origin: str, source: str,
                 stored: Optional[str] = None) -> None:
        self.data = data
        self.sha256 = sha256
        self.origin = origin  # "snapshot", "current-script", "loaded"
        self.source = source  # the path the bytes were read from
        self.stored = stored  # the snapshot file in the run dir, once stored


def choose(run_dir: Path, record: Dict[str, Any], workflow: Any, current_script: bool,
           log: Any) -> Code:
    script = Path(record.get("script") or "")
    if workflow is not None:  # loaded by the caller (molexp run): exactly those bytes
        data = getattr(workflow, "source", None)
        if data is None:  # a Workflow built in Python: the stored snapshot stands for it
            data, digest, name = _stored_or_empty(run_dir, record)
            return Code(data, digest, "loaded", str(script), name)
        return Code(data, snapshot.sha256(data), "loaded", str(script))
    if current_script:
        data = snapshot.read_script(script)
        digest = snapshot.sha256(data)
        log.notice(f"executing the current file {script} (--current-script), "
                   f"sha256 {digest[:16]}")
        return Code(data, digest, "current-script", str(script))
    data, digest, name = snapshot.stored_code(run_dir, record)
    now = snapshot.current_hash(script)
    if now != digest:
        state = "is gone" if now is None else f"has changed (sha256 {now[:16]})"
        log.notice(f"{script} {state} since the run was prepared; executing the stored "
                   f"snapshot {name} (sha256 {digest[:16]}); molexp execute "
                   "--current-script runs the file instead")
    return Code(data, digest, "snapshot", str(Path(run_dir) / name), name)


def _stored_or_empty(run_dir: Path, record: Dict[str, Any]):
    try:
        return snapshot.stored_code(run_dir, record)
    except snapshot.SnapshotError:
        return b"", None, None


class Capture:
    """What an attempt learns before its record is written (outside the record's lock):
    its environment file and, for code not snapshotted yet, the git state."""

    def __init__(self, env: Optional[tuple], git: Any = None) -> None:
        self.env = env
        self.git = git


def capture_attempt(run_dir: Path, record: Dict[str, Any], code: Optional[Code]) -> Capture:
    from molexp_core.runs import environment

    script_dir = str(Path(record.get("script") or ".").parent)
    env = environment.capture(run_dir, exclude=[script_dir])
    git = None
    if (code is not None and code.sha256 and code.data and code.origin == "current-script"
            and code.sha256 not in (record.get("snapshots") or {})):
        git = snapshot_git(run_dir, record, Path(code.source), code.sha256)
    return Capture(env, git)


def record_attempt(run_dir: Path, rec: Dict[str, Any], code: Optional[Code],
                   captured: Optional[Capture] = None) -> None:
    """In the read-modify-write that starts an attempt: which code and environment."""
    from molexp_core.runs.environment import platform_text

    rec["platform"] = platform_text()
    if captured is not None:  # unrecorded (None) rather than the previous attempt's
        rec["environment_sha256"], rec["environment_file"] = captured.env or (None, None)
        if rec.get("history"):
            rec["history"][-1]["environment_sha256"] = rec["environment_sha256"]
    if code is None or code.sha256 is None:
        return
    try:
        if code.sha256 not in (rec.get("snapshots") or {}) and code.data:
            snapshot.add_snapshot(run_dir, rec, code.data, code.origin, Path(code.source),
                                  captured.git if captured is not None else None)
    except (OSError, MolexpError):
        pass  # the run still executes; the snapshot list says what was kept
    entry = (rec.get("snapshots") or {}).get(code.sha256) or {}
    rec["next_script_sha256"] = code.sha256
    rec.setdefault("script_sha256", code.sha256)
    if rec.get("history"):
        rec["history"][-1].update(script_sha256=code.sha256,
                                  script_file=entry.get("file"), script_origin=code.origin)


def snapshot_git(run_dir: Path, record: Dict[str, Any], script: Path,
                 digest: str) -> Any:
    """The git state to record with the snapshot ``digest`` (its diff written beside
    it); call it before taking the record's lock: git may take seconds."""
    from molexp_core.runs.provenance import git_info

    first = not record.get("snapshots")
    return git_info(run_dir, script,
                    "git.diff" if first else f"{snapshot.SNAPSHOT_DIR}/{digest}.diff")


_UNSET = object()


def prepare_snapshot(run_dir: Path, rec: Dict[str, Any], script: Path,
                     data: Optional[bytes], origin: str, git: Any = _UNSET) -> str:
    """Store the code a new or resumed run will execute; name it the next to run.

    ``git``: from :func:`snapshot_git`, taken beforehand (default: taken here)."""
    if data is None:
        data = snapshot.read_script(script)
    digest = snapshot.sha256(data)
    if digest in (rec.get("snapshots") or {}):
        git = None
    elif git is _UNSET:
        git = snapshot_git(run_dir, rec, script, digest)
    snapshot.add_snapshot(run_dir, rec, data, origin, script, git)
    rec["next_script_sha256"] = digest
    return digest
