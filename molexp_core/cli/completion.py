"""Shell completion for molexp's arguments: profiles, schedulers, override keys, runs.

Completers read config files and the run store only: they never import a user's
script or a heavy module, so they answer quickly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:  # pragma: no cover
    from click.shell_completion import CompletionItem
else:
    def CompletionItem(*args: Any, **kwargs: Any) -> Any:  # noqa: N802
        """Click's; its module loads when a shell completes, not on every command."""
        from click.shell_completion import CompletionItem as item

        return item(*args, **kwargs)

# A config file larger than this is completed from the parse cache only (after one
# `molexp run` or `config show` has parsed it): YAML parses at well under 1 MB/s,
# and a Tab must not hang the shell.
COMPLETION_PARSE_BYTES = 256 * 1024


def _runs_root(ctx: Any) -> Path:
    from molexp_core.runs import store as runstore

    return runstore.runs_root(ctx.params.get("runs_dir"))


def complete_run_ids(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Run ids (newest first) that start with what was typed, and ``latest``."""
    from molexp_core.runs import store as runstore

    runs = runstore.iter_run_dirs(_runs_root(ctx))
    items = []
    if runs and runstore.LATEST.startswith(incomplete):
        items.append(CompletionItem(runstore.LATEST, help=f"the newest run, {runs[0].name}"))
    for run_dir in runs:
        if run_dir.name.startswith(incomplete):
            items.append(CompletionItem(run_dir.name, help=f"{run_dir.parent.parent.name} "
                                                         f"{run_dir.parent.name}"))
    return items


def complete_sweep_ids(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Sweep ids (newest first) that start with what was typed, with each sweep's
    name or its script."""
    from molexp_core.runs import sweep_store

    items = []
    for directory in sweep_store.list_sweeps(_runs_root(ctx)):
        if directory.name.startswith(incomplete):
            items.append(CompletionItem(directory.name, help="sweep"))
    return items


def complete_runs_and_sweeps(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """For `show`, `status`, `cancel`: run ids and ``latest``, and sweep ids."""
    runs = complete_run_ids(ctx, param, incomplete)
    if incomplete.startswith("sw") or not incomplete:
        return runs + complete_sweep_ids(ctx, param, incomplete)
    return runs


def complete_sweeps(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """For `run --sweep`: the sweeps the config file names, and its keys as ``key=``
    (an inline axis)."""
    document = _document(ctx)
    if document is None:
        return []
    items = [CompletionItem(sweep.name, help=f"sweep of {len(sweep.expand())} point(s)")
             for sweep in document.sweeps.values() if sweep.name.startswith(incomplete)]
    if "=" in incomplete:
        return items
    try:
        profile = _typed(ctx)["profile"]
        config = document.resolve(document.lookup(profile) if profile else None)
    except Exception:
        return items
    keys = [CompletionItem(f"{key}=", help="an axis: KEY=V1,V2")
            for key, _ in sorted(_dotted(config)) if f"{key}=".startswith(incomplete)]
    return items + keys


def complete_run_dirs(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Run directories (as paths) for `molexp execute`."""
    from molexp_core.runs import store as runstore

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


def _typed(ctx: Any) -> Dict[str, Any]:
    """script, config_path and profile: from Click's parse, else from the words.

    While the cursor sits on an option's value (``--profile <Tab>``) Click's
    resilient parse stops early and leaves every parameter unset; the words
    typed so far (``COMP_WORDS``, which Click's bash, zsh and fish scripts all
    pass) still say which script and config the run would use.
    """
    found = {key: ctx.params.get(key) for key in ("script", "config_path", "profile")}
    if all(found.values()):
        return found
    from click.shell_completion import split_arg_string

    words = split_arg_string(os.environ.get("COMP_WORDS", ""))
    flags = {"--config": "config_path", "--profile": "profile", "-p": "profile"}
    index = 1
    while index < len(words):
        word = words[index]
        key, _, value = word.partition("=")
        if key in flags and (value or index + 1 < len(words)):
            if not value:
                index += 1
                value = words[index]
            found[flags[key]] = found[flags[key]] or value
        elif not word.startswith("-") and word.endswith(".py") and os.path.isfile(word):
            found["script"] = found["script"] or word
        index += 1
    return found


def _document(ctx: Any) -> Optional[Any]:
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import load_document

    typed = _typed(ctx)
    try:
        return load_document(get_plugin_host(),
                             Path(typed["config_path"]) if typed["config_path"] else None,
                             Path(typed["script"]) if typed["script"] else None,
                             max_parse_bytes=COMPLETION_PARSE_BYTES)
    except Exception:  # completion must never print an error into the shell
        return None


def complete_profiles(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    document = _document(ctx)
    if document is None:
        return []
    return [CompletionItem(name) for name in document.names() if name.startswith(incomplete)]


def complete_schedulers(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    from molexp_core.plugin_host.manager import get_plugin_host

    return [CompletionItem(name, help=scheduler.help)
            for name, scheduler in get_plugin_host().schedulers().items()
            if name.startswith(incomplete)]


def complete_overrides(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """Dotted keys of the merged config, as ``key=``."""
    document = _document(ctx)
    if document is None:
        return []
    try:
        profile = _typed(ctx)["profile"]
        config = document.resolve(document.lookup(profile) if profile else None)
    except Exception:
        return []
    return _override_items(config, incomplete)


def complete_stored_overrides(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """For `rerun RUN --override`: dotted keys of RUN's stored config."""
    from click.shell_completion import split_arg_string

    from molexp_core.runs import store as runstore

    ref = ctx.params.get("run")
    if not ref:  # the cursor is on an option's value: Click left params unset
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        after = words[words.index("rerun") + 1:] if "rerun" in words else []
        ref = next((w for w in after if not w.startswith("-")), None)
    try:
        run_dir = runstore.find_run(_runs_root(ctx), ref)
        config = runstore.read_run(run_dir).get("config") or {}
    except Exception:
        return []
    return _override_items(config, incomplete)


def complete_run_profiles(ctx: Any, param: Any, incomplete: str) -> List[CompletionItem]:
    """For `runs --profile`: the profiles that have runs under the runs root."""
    root = _runs_root(ctx)
    try:
        names = {p.name for script in root.iterdir() if script.is_dir()
                 for p in script.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except OSError:
        return []
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


def _override_items(config: Dict[str, Any], incomplete: str) -> List[CompletionItem]:
    import json

    items = []
    for key, value in sorted(_dotted(config)):
        current = f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
        if f"{key}=".startswith(incomplete):
            # two items per key: the shell inserts their common prefix `key=` and no
            # space after it (one item would get a space), and shows the current value
            items += [CompletionItem(f"{key}=", help=repr(value)[:40]),
                      CompletionItem(current, help="the current value")]
        elif current.startswith(incomplete):
            items.append(CompletionItem(current, help="the current value"))
    return items


def _dotted(config: Any, prefix: str = ""):
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _dotted(value, dotted + ".")
        else:
            yield dotted, value


def completion_disabled() -> bool:
    return os.environ.get("MOLEXP_NO_COMPLETION") == "1"
