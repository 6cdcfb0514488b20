"""Generate docs/cli.md from the Click commands: `python docs/gen_cli.py > docs/cli.md`.

tests/test_docs_cli.py fails when docs/cli.md is not what this prints.
"""

from __future__ import annotations

import sys

import click

from molexp_core.cli import BUILTIN_COMMANDS, cli


def command_help(path: list, command: click.Command) -> str:
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=88,
                        max_content_width=88, **cli.context_settings)
    return command.get_help(ctx)


def walk(path: list, command: click.Command):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=" ".join(path))
        names = BUILTIN_COMMANDS if command is cli else command.list_commands(ctx)
        for name in sorted(names):
            yield from walk(path + [name], command.get_command(ctx, name))


def render() -> str:
    out = ["# CLI reference", "",
           "Generated from the Click commands by `python docs/gen_cli.py > docs/cli.md`;",
           "a test fails when this file is out of date. Plugin commands are not listed.", ""]
    for path, command in walk(["molexp"], cli):
        out += [f"## {' '.join(path)}", "", "```text", command_help(path, command).rstrip(),
                "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
