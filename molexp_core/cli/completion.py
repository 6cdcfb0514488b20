"""Shell completion for molexp's arguments: profiles, schedulers, override keys, runs.

Completers read config files and the run store only: they never import a user's
script or a heavy module, so they answer quickly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional

from click.shell_completion import CompletionItem


def _runs_root(ctx: Any) -> Path:
    from molexp_core import runstore

    return runstore.runs_root(ctx.params.get("runs_dir"))


def complete_run_ids(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Run ids (newest first) that start with what was typed."""
    from molexp_core import runstore

    items = []
    for run_dir in runstore.iter_run_dirs(_runs_root(ctx)):
        if run_dir.name.startswith(incomplete):
            items.append(CompletionItem(run_dir.name, help=f"{run_dir.parent.parent.name} "
                                                         f"{run_dir.parent.name}"))
    return items


def complete_run_dirs(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Run directories (as paths) for `molexp execute`."""
    from molexp_core import runstore

    cwd = Path.cwd()
    items = []
    for run_dir in runstore.iter_run_dirs(_runs_root(ctx)):
        try:
            shown = str(run_dir.relative_to(cwd))
        except ValueError:
            shown = str(run_dir)
        if shown.startswith(incomplete) or run_dir.name.startswith(incomplete):
            items.append(CompletionItem(shown))
    return items or [CompletionItem(incomplete, type="dir")]


def _document(ctx: Any) -> Optional[Any]:
    from molexp_core.plugins import get_plugin_host
    from molexp_core.resolution import load_document

    script = ctx.params.get("script")
    try:
        return load_document(get_plugin_host(), ctx.params.get("config_path"),
                             Path(script) if script else None)
    except Exception:  # completion must never print an error into the shell
        return None


def complete_profiles(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    document = _document(ctx)
    if document is None:
        return []
    return [CompletionItem(name) for name in document.names() if name.startswith(incomplete)]


def complete_schedulers(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    from molexp_core.plugins import get_plugin_host

    return [CompletionItem(name, help=scheduler.help)
            for name, scheduler in get_plugin_host().schedulers().items()
            if name.startswith(incomplete)]


def complete_overrides(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Dotted keys of the merged config, as ``key=``."""
    document = _document(ctx)
    if document is None:
        return []
    try:
        profile = ctx.params.get("profile")
        config = document.resolve(document.lookup(profile) if profile else None)
    except Exception:
        return []
    keys = sorted(_dotted(config))
    return [CompletionItem(f"{key}=", help=repr(value)[:40]) for key, value in keys
            if f"{key}=".startswith(incomplete)]


def _dotted(config: Any, prefix: str = ""):
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _dotted(value, dotted + ".")
        else:
            yield dotted, value


def completion_disabled() -> bool:
    return os.environ.get("MOLEXP_NO_COMPLETION") == "1"
