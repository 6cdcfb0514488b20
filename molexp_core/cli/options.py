"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from molexp_core.cli.completion import complete_overrides, complete_profiles
from molexp_core.config.overrides import OverrideType


def runs_dir_option(func: Callable) -> Callable:
    return click.option(
        "--runs-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="MOLEXP_RUNS_DIR",
        default=None,
        help="Runs root (default ./runs; env MOLEXP_RUNS_DIR).",
    )(func)


def config_options(func: Callable) -> Callable:
    """--config, --profile and --override, as `run` and `config show` take them."""
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
                     shell_complete=complete_profiles),
        click.option(
            "--override",
            "-o",
            "overrides",
            multiple=True,
            type=OverrideType(),
            shell_complete=complete_overrides,
            help="KEY=VALUE, dotted keys for nested mappings; repeatable.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def echo_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
