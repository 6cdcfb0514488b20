"""How run values read on a terminal: shared by `runs`, `status`, `show`, the
failure line of `run` and the live monitor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional


def duration_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def resume_hint(status: str, run_dir: Path, record: Dict[str, Any]) -> Optional[str]:
    """How to continue a run that ended without succeeding (None otherwise)."""
    if status not in ("failed", "cancelled", "interrupted", "lost"):
        return None
    return resume_command(record, run_dir)


def resume_command(record: Dict[str, Any], run_dir: Path) -> Optional[str]:
    """The command that continues this run, as the user would type it here:
    script, profile and overrides as given, ``--resume RUN_ID``; ``--config`` and
    ``--runs-dir`` only where the defaults would not find the same ones."""
    import os
    import shlex

    from molexp_core.runs import store as runstore

    if not record.get("run_id") or not record.get("script"):
        return None
    here = Path.cwd()
    words = ["molexp", "run", _shown_path(record["script"], here)]
    if record.get("profile"):
        words += ["-p", record["profile"]]
    config_file = record.get("config_file")
    if config_file:
        found_by_default = Path(config_file).parent in (here, Path(record["script"]).parent)
        if not found_by_default:
            words += ["--config", _shown_path(config_file, here)]
    words += [part for text in record.get("overrides") or [] for part in ("-o", text)]
    scheduler = (record.get("scheduler") or {}).get("name")
    if scheduler and scheduler != "local":
        words += ["--scheduler", scheduler]
    root = Path(run_dir).absolute().parent.parent.parent
    if root != runstore.runs_root(None) and not os.environ.get("MOLEXP_RUNS_DIR"):
        words += ["--runs-dir", _shown_path(str(root), here)]
    words += ["--resume", record["run_id"]]
    return " ".join(shlex.quote(word) for word in words)


def _shown_path(path: str, here: Path) -> str:
    try:
        return str(Path(path).relative_to(here))
    except ValueError:
        return path


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (an escape code's
    ESC, a carriage return, C1 controls, bidirectional overrides) shown as escapes
    (``\\x1b``, ``\\r``, ``\\u202e``) instead of acting on the screen."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _ESCAPES.get(c) or
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                    f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
                   for c in text)
