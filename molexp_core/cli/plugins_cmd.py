"""``molexp plugins`` and ``molexp schedulers``: what is installed and what failed."""

from __future__ import annotations

import click

from molexp_core.cli.options import echo_json, json_option


@click.command()
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List plugins: distribution, version, hooks, load errors.

    Plugins that MOLEXP_LOAD_PLUGINS leaves out are listed as not loaded.
    """
    from molexp_core.plugin_host.manager import get_plugin_host

    host = get_plugin_host()
    host.schedulers()  # so that a plugin failing in its registration hooks shows here
    ctx.find_root().command.list_commands(ctx)
    rows = [
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "loaded": loaded and info.error is None,  # failed: listed, never loaded
            "hooks": info.hooks,
            "error": info.error,
        }
        for infos, loaded in ((host.infos, True), (host.left_out, False))
        for info in infos
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        origin = f"{row['distribution'] or '?'} {row['version'] or ''}".strip()
        kind = "built-in" if row["builtin"] else "plugin"
        why = ("" if row["loaded"] else "  not loaded: failed" if row["error"]
               else "  not loaded: not in MOLEXP_LOAD_PLUGINS")
        click.echo(f"{row['name']}  ({kind}, {origin}){why}")
        if row["error"]:
            click.echo(f"    error: {row['error']}")
        for hook in row["hooks"]:
            click.echo(f"    {hook}")


@click.command()
@json_option
def schedulers(as_json: bool) -> None:
    """List installed schedulers and the options each adds to `molexp run`."""
    from molexp_core.plugin_host.manager import get_plugin_host

    rows = []
    for name, scheduler in get_plugin_host().schedulers().items():
        options = [
            {"flags": list(o.opts), "help": o.help or "", "multiple": bool(o.multiple)}
            for o in scheduler.options()
        ]
        rows.append({"name": name, "help": scheduler.help, "options": options})
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}: {row['help']}")
        for option in row["options"]:
            click.echo(f"    {', '.join(option['flags']):<22} {option['help']}")
