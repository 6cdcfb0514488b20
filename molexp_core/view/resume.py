"""The command that fills a sweep's holes: ``molexp run SCRIPT ... --sweep ... --resume``.

It repeats what the sweep record says the sweep was started with (script,
profile, config file, overrides, the named sweep and the inline axes, the
scheduler and its options, the runs root), so that ``--resume`` finds this sweep
again.  What ``--resume`` then does is ``runs/sweep_members.py``'s rule, which
the page states: a point that did not succeed runs again (its unfinished run is
resumed; a point with no run of its own, never prepared or whose run is gone,
gets a new one); while a point is queued or running, or the sweep's process is
still going, it refuses; of the sweeps with the same script, profile and points
it continues the newest with a point left to run.  Paths are shown relative to
the directory ``molexp view`` ran in (the page says which), as ``molexp status``
shows a run's resume command.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional

from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_members, sweep_store

WAITING = ("created", "submitted", "running")
NO_RUN = ("missing",)  # no run of its own: --resume makes a new one


def hole_filling(root: Path, record: Dict[str, Any], statuses: List[str]) -> Dict[str, Any]:
    """``{"command", "cwd", "holes", "waiting", "missing", "notes"}`` for the page, from
    each point's status as shown."""
    holes, waiting, missing = [], [], []
    for point, status in zip(record.get("points") or [], statuses):
        index = point.get("index") if isinstance(point, dict) else None
        if status in WAITING:
            waiting.append(index)
        elif status in NO_RUN:
            missing.append(index)
        elif status != "succeeded":
            holes.append(index)
    notes = []
    if sweep_members.owner_alive(record):
        notes.append(f"the sweep is still running here (pid {record.get('pid')}): --resume "
                     "refuses until it ends")
    elif waiting:
        notes.append(f"{len(waiting)} point(s) still queued or running: --resume refuses "
                     "while they are; wait for them (or `molexp cancel "
                     f"{record.get('sweep_id')}`) first")
    if missing:
        notes.append(f"{len(missing)} point(s) have no run of their own (deleted, or replaced "
                     "by another's): --resume makes a new run for each")
    newer = _newer_twin(root, record) if holes or waiting or missing else None
    if newer:
        notes.append(f"--resume continues the newer sweep {newer} (the same script, profile "
                     "and points, with points left to run), not this one")
    return {"command": command(root, record) if holes or waiting or missing else None,
            "cwd": str(Path.cwd()), "holes": holes, "waiting": waiting,
            "missing": missing, "notes": notes}


def command(root: Path, record: Dict[str, Any]) -> Optional[str]:
    script = record.get("script")
    if not isinstance(script, str) or not script:
        return None
    here = Path.cwd()
    words = ["molexp", "run", _shown(script, here)]
    if record.get("profile"):
        words += ["-p", str(record["profile"])]
    config_file = record.get("config_file")
    if isinstance(config_file, str) and config_file:
        if Path(config_file).parent not in (here, Path(script).parent):
            words += ["--config", _shown(config_file, here)]
    words += [part for text in _strings(record.get("overrides")) for part in ("-o", text)]
    if record.get("name"):
        words += ["--sweep", str(record["name"])]
    words += [part for text in _strings(record.get("inline")) for part in ("--sweep", text)]
    words.append("--resume")
    scheduler = record.get("scheduler") if isinstance(record.get("scheduler"), dict) else {}
    if scheduler.get("name") and scheduler["name"] != "local":
        words += ["--scheduler", str(scheduler["name"])]
        words += _scheduler_options(str(scheduler["name"]), scheduler.get("options"))
    if Path(root) != runstore.runs_root(None) and not os.environ.get("MOLEXP_RUNS_DIR"):
        words += ["--runs-dir", _shown(str(root), here)]
    return " ".join(shlex.quote(word) for word in words)


def _strings(value: Any) -> List[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _scheduler_options(name: str, options: Any) -> List[str]:
    """The scheduler options the sweep was submitted with, as flags again."""
    if not isinstance(options, dict) or not options:
        return []
    try:
        from molexp_core.plugin_host.manager import get_plugin_host

        scheduler = get_plugin_host().schedulers().get(name)
        params = {p.name: p for p in scheduler.options()} if scheduler else {}
    except Exception:  # a broken plugin: the command without its options
        return []
    words: List[str] = []
    for key, value in options.items():
        param = params.get(key)
        if param is None or value is None or value == param.default or value in ((), []):
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            if value:
                words.append(flag)
            elif param.secondary_opts:
                words.append(param.secondary_opts[0])
        elif getattr(param, "multiple", False) and isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return words


def _newer_twin(root: Path, record: Dict[str, Any]) -> Optional[str]:
    """A newer sweep that ``--resume`` would continue instead of this one: of the
    same script, profile, definition and point configs, with a point left to run."""
    hashes = [p.get("config_hash") for p in record.get("points") or []
              if isinstance(p, dict)]
    for directory in sweep_store.list_sweeps(root):  # newest first
        if directory.name == record.get("sweep_id"):
            return None
        try:
            other = sweep_store.read_sweep(directory)
        except sweep_store.SweepStoreError:
            continue
        if (all(other.get(k) == record.get(k) for k in ("script", "profile", "definition_hash"))
                and [p.get("config_hash") for p in other.get("points") or []] == hashes
                and not sweep_members.all_succeeded(root, other)):
            return directory.name
    return None


def _shown(path: str, here: Path) -> str:
    try:
        return str(Path(path).relative_to(here))
    except ValueError:
        return path
