"""The ``molexp`` command: a Click group whose subcommands load on demand.

Built-in commands are imported only when called (start-up stays cheap); plugin
commands come from ``molexp_register_commands`` the first time the full list is
needed.  Errors a user can act on print one line; ``MOLEXP_DEBUG=1`` adds the
traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, List, Optional

import click

from molexp_core.version import __version__

BUILTIN_COMMANDS = {
    "run": "molexp_core.cli.run_cmd:run",
    "execute": "molexp_core.cli.execute_cmd:execute",
    "runs": "molexp_core.cli.runs_cmd:runs",
    "status": "molexp_core.cli.runs_cmd:status",
    "cancel": "molexp_core.cli.cancel_cmd:cancel",
    "sweeps": "molexp_core.cli.sweep_cmd:sweeps",
    "show": "molexp_core.cli.replay_cmd:show",
    "diff": "molexp_core.cli.replay_cmd:diff",
    "rerun": "molexp_core.cli.replay_cmd:rerun",
    "config": "molexp_core.cli.config_cmd:config",
    "plugins": "molexp_core.cli.plugins_cmd:plugins",
    "schedulers": "molexp_core.cli.plugins_cmd:schedulers",
    "view": "molexp_core.cli.view_cmd:view",
}


def debug_enabled() -> bool:
    return os.environ.get("MOLEXP_DEBUG", "") not in ("", "0")


class MolexpGroup(click.Group):
    """Lazy built-in commands, plugin commands, and molexp's error policy."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from molexp_core.plugin_host import entry_points

        if not entry_points.may_add_commands(entry_points.discover()):
            return  # known from the cache: no plugin adds commands, none need loading
        from molexp_core.plugin_host.manager import get_plugin_host

        get_plugin_host().call_each("molexp_register_commands", skip_failing=True, cli=self)

    def list_commands(self, ctx: click.Context) -> List[str]:
        self._load_plugin_commands()
        return sorted(set(BUILTIN_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in BUILTIN_COMMANDS:
            module, attr = BUILTIN_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        if name not in self.commands:
            self._load_plugin_commands()
        return self.commands.get(name)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Run the CLI; turn every failure into a message and an exit code."""
        kwargs["standalone_mode"] = False
        try:
            if os.environ.get("MOLEXP_STRICT_PLUGINS") == "1":
                _load_every_plugin(self)  # a failing plugin fails every command
            result = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if debug_enabled():
                import traceback

                traceback.print_exc()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                # Click's own usage errors: one line, not Click's usage banner
                click.echo(f"Error: {exc.format_message()} "
                           f"(see '{exc.ctx.command_path} -h')", err=True)
            else:
                exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except (BrokenPipeError, SystemExit):
            raise
        except Exception as exc:  # a bug, not a user error: still no traceback by default
            if debug_enabled():
                raise
            message = str(exc).strip().splitlines()
            click.echo(
                f"Error: internal error: {type(exc).__name__}"
                + (f": {message[0]}" if message else "")
                + " (set MOLEXP_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(1)
        if isinstance(result, int):
            sys.exit(result)
        sys.exit(0)


@click.group(cls=MolexpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="molexp")
def cli() -> None:
    """Run one experiment script in several shapes.

    Profiles in molcfg.yaml hold the shapes (smoke, default, production);
    `molexp run SCRIPT --profile NAME` runs one and records it under ./runs.
    """


def _load_every_plugin(group: MolexpGroup) -> None:
    """Load all plugins and call their registration hooks now; under
    ``MOLEXP_STRICT_PLUGINS=1`` the first failure raises (exit 1)."""
    from molexp_core.plugin_host.manager import get_plugin_host

    get_plugin_host().schedulers()
    group._load_plugin_commands()


def main() -> None:
    from molexp_core import process, timings

    timings.mark("imports")
    process.quiet_gc_for_startup()
    process.handle_sigint()
    try:
        cli(prog_name="molexp")
    except SystemExit as exc:
        process.exit_now(exc.code)
