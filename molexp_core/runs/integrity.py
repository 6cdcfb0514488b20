"""Integrity of a stored run: its ``config`` must still hash to its ``config_hash``.

``execute``, ``--resume``, ``rerun`` and ``diff`` act on the stored config; a
``run.json`` edited by hand (or damaged) would otherwise run or compare values
that the recorded hash does not describe.  Such a run is refused, never repaired.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from molexp_core.config.hashing import config_hash
from molexp_core.errors import MolexpError


class RunCorrupt(MolexpError):
    """A run's record does not match its own hashes (edited or damaged)."""


def check_config_hash(run_dir: Path, record: Dict[str, Any]) -> None:
    """Refuse a run whose stored ``config`` does not hash to its ``config_hash``."""
    from molexp_core.runs.store import RUN_FILE

    where = Path(run_dir) / RUN_FILE
    stored = record.get("config_hash")
    config = record.get("config")
    if config is None:
        config = {}
    try:
        actual = config_hash(config) if isinstance(config, dict) else None
    except (TypeError, ValueError):
        actual = None
    if actual is not None and isinstance(stored, str) and actual == stored:
        return
    name = record.get("run_id") or Path(run_dir).name
    if actual is None:
        found = "its config is not a JSON mapping"
    else:
        found = f"its config hashes to {actual[:16]}"
    said = f"config_hash says {stored[:16]}" if isinstance(stored, str) else "it has no config_hash"
    raise RunCorrupt(
        f"run {name} is corrupt or was edited: {found}, but {said} ({where}); "
        "molexp will not execute, resume, rerun or compare it"
    )


def check_run_id(run_dir: Path, record: Dict[str, Any]) -> None:
    """Refuse a ``run.json`` whose ``run_id`` is not its directory's name."""
    from molexp_core.runs.store import RUN_FILE

    said = record.get("run_id")
    if said != Path(run_dir).name:
        raise RunCorrupt(
            f"{Path(run_dir) / RUN_FILE} says run_id {said!r}, but its directory is "
            f"named {Path(run_dir).name!r}: the run was copied or edited"
        )


def check_run(run_dir: Path, record: Dict[str, Any]) -> None:
    """Both checks: what ``execute``, ``--resume``, ``rerun`` and ``diff`` require."""
    check_run_id(run_dir, record)
    check_config_hash(run_dir, record)
