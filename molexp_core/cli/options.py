"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import click

from molexp_core.config.overrides import OverrideType


def completer(name: str) -> Callable:
    """The shell-completion callback ``name`` of cli/completion.py, loaded only when a
    shell completes (every `molexp run` builds its options)."""
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
        from molexp_core.cli import completion

        return getattr(completion, name)(ctx, param, incomplete)

    complete.__name__ = name
    return complete


class ShortOptionsFirst:
    """A command mixin: a token that is exactly a short option (``-o``, ``-p``) is
    parsed as one at once.

    Click tries every option token as a long option first and, for a short one,
    falls back only after that lookup failed, and the failure builds an error with
    spelling suggestions (``difflib`` imported, every option compared) that is then
    dropped.  The parse is the same either way; this skips the detour.  It uses
    Click's parser internals where they are as expected, and changes nothing where
    they are not.
    """

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)  # type: ignore[misc]
        shorts = getattr(parser, "_short_opt", None)
        process = getattr(parser, "_process_opts", None)
        match_short = getattr(parser, "_match_short_opt", None)
        if isinstance(shorts, dict) and callable(process) and callable(match_short) \
                and ctx.token_normalize_func is None:
            def process_opts(arg: str, state: Any) -> None:
                if arg in shorts:  # "-o" exactly: what Click's fallback would do
                    match_short(arg, state)
                else:
                    process(arg, state)

            parser._process_opts = process_opts
        return parser


def runs_dir_option(func: Callable) -> Callable:
    return click.option(
        "--runs-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="MOLEXP_RUNS_DIR",
        default=None,
        help="Runs root (default ./runs; env MOLEXP_RUNS_DIR).",
    )(func)


def config_options(func: Callable) -> Callable:
    """--config, --profile, --override and --strict, as `run` and `config show` take them."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Config file (default: molcfg.yaml/.yml/.json in the current "
            "directory, else in the script's directory).",
        ),
        click.option("--profile", "-p", default=None, help="Profile to resolve.",
                     shell_complete=completer("complete_profiles")),
        click.option(
            "--override",
            "-o",
            "overrides",
            multiple=True,
            type=OverrideType(),
            shell_complete=completer("complete_overrides"),
            help="KEY=VALUE, dotted keys for nested mappings; repeatable.",
        ),
        strict_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def strict_option(func: Callable) -> Callable:
    return click.option(
        "--strict", is_flag=True, envvar="MOLEXP_STRICT",
        help="Refuse (exit 2) what would only be a warning: an override that adds "
        "a key or replaces a mapping, a YAML 1.2 yes/no, an unread molcfg.* file "
        "(env MOLEXP_STRICT=1).")(func)


def report_warnings(warnings: Sequence[str], strict: bool) -> None:
    """Print each config warning as one line on stderr, or, with --strict, refuse."""
    from molexp_core.errors import MolexpUsageError

    if strict and warnings:
        raise MolexpUsageError(f"--strict: {warnings[0]}"
                               + (f" (and {len(warnings) - 1} more)" if len(warnings) > 1
                                  else ""))
    for line in warnings:
        click.echo(f"warning: {line}", err=True)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def echo_json(data: Any) -> None:
    """A record as JSON, as molexp stores records and results: NaN and infinities as
    the bare tokens ``NaN``/``Infinity`` (Python's json).  The comparison tables'
    ``--json`` is strict JSON instead (``table_text.json_text``)."""
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
