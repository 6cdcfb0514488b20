"""Git provenance of a run's script (filled in below)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional


def git_info(run_dir: Path, script: Path, digest: str) -> Optional[Dict[str, Any]]:
    return None


def describe_git(info: Any) -> Optional[str]:
    return None
