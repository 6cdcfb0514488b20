"""Selecting runs under a runs root: by script, profile and status, newest first,
from the per-profile indexes (what ``molexp runs`` and ``molexp.runs()`` list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.config.profiles import normalize_profile_name
from molexp_core.errors import MolexpUsageError
from molexp_core.runs import index as run_index
from molexp_core.runs import store as runstore

# reconciling with a scheduler may still move runs recorded with these statuses
MAY_CHANGE = ("submitted", "running", "created")


def load_runs(root: Path, profile: Optional[str] = None, status: Optional[str] = None,
              script: Optional[str] = None) -> List[Tuple[Path, Dict[str, Any]]]:
    """(run dir, summary) pairs, newest first; filtered by script (a name such as
    ``train.py`` or ``train``, or a path to it), profile and recorded status
    before anything costly is done.  Runs whose status may still change are kept
    for the caller to reconcile and filter by their shown status."""
    wanted = normalize_profile_name(profile.strip()) if profile else None
    stem = runstore.script_dir_name(Path(script.strip())) if script else None
    for value, what in ((wanted, "--profile"), (stem, "--script")):
        if value is not None:  # each names a directory: never one outside the runs root
            try:
                runstore.safe_segment(value, what.lstrip("-"))
            except runstore.RunStoreError as exc:
                raise MolexpUsageError(f"{what}: {exc.format_message()}") from None

    def want(stored: str, run_profile: Optional[str], run_script: Optional[str]) -> bool:
        if wanted is not None and run_profile != wanted:
            return False
        return status is None or stored == status or stored in MAY_CHANGE

    pairs = run_index.summaries(root, script_stem=stem, profile_dir_name=wanted, want=want)
    return [(Path(d), r) for d, r in pairs]
