"""``molexp config show|profiles``: look at resolved configs without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple

import click

from molexp_core.cli.options import config_options, echo_json, json_option, report_warnings


@click.group()
def config() -> None:
    """Inspect config files and profiles."""


@config.command("show")
@config_options
@json_option
def show(config_path: Optional[Path], profile: Optional[str], overrides: Tuple,
         strict: bool, as_json: bool) -> None:
    """Print the merged config of a profile and its hash."""
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import resolve

    resolved = resolve(get_plugin_host(), config_path, profile, overrides)
    report_warnings(resolved.warnings, strict)
    if as_json:
        echo_json({
            "config_file": str(resolved.config_file) if resolved.config_file else None,
            "profile": resolved.profile,
            "overrides": resolved.overrides,
            "config": resolved.config,
            "config_hash": resolved.config_hash,
            "warnings": resolved.warnings,
        })
        return
    click.echo(f"# config file: {resolved.config_file or '(none)'}")
    click.echo(f"# profile: {resolved.profile or '(none)'}")
    print_config(resolved, as_json=False)


def print_config(resolved: Any, as_json: bool) -> None:
    click.echo(f"# config_hash: {resolved.config_hash}")
    dump_yaml(resolved.config)


def dump_yaml(data: Any) -> None:
    if not data:
        click.echo("{}")
        return
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.representer.add_representer(str, _represent_str)
    import io

    stream = io.StringIO()
    yaml.dump(data, stream)
    click.echo(stream.getvalue(), nl=False)


# strings a YAML 1.1 reader (PyYAML, many tools, and people) takes for a bool or null:
# printed quoted, so what `config show` prints reads back as the same string anywhere
YAML11_SPECIAL = {"yes", "no", "y", "n", "on", "off", "true", "false", "null", "~", ""}


def _represent_str(representer: Any, data: str) -> Any:
    if data.lower() in YAML11_SPECIAL:
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style="'")
    return representer.represent_str(data)


@config.command("profiles")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config file (default: discovered as for `run`).")
@json_option
def profiles(config_path: Optional[Path], as_json: bool) -> None:
    """List the profiles, each with the order in which its layers apply."""
    from molexp_core.errors import MolexpUsageError
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import load_document

    document = load_document(get_plugin_host(), config_path, None)
    if document is None:
        from molexp_core.config.files import candidate_names

        raise MolexpUsageError(f"no config file found ({candidate_names(get_plugin_host())}"
                               "); pass --config FILE")
    rows = []
    for normal, (written, _) in document.profiles.items():
        chain = ["defaults"] + [document.profiles[n][0] for n in document.chain(normal)]
        rows.append({"name": written, "normalized": normal, "chain": chain})
    if as_json:
        echo_json({"config_file": str(document.path), "profiles": rows})
        return
    click.echo(f"# {document.path}")
    click.echo("# each profile's layers, applied left to right (a later one wins)")
    if not rows:
        click.echo("(no profiles)")
    width = max((len(r["name"]) for r in rows), default=0)
    for row in rows:
        click.echo(f"{row['name']:<{width}}  {' -> '.join(row['chain'])}")


@config.command("sweeps")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config file (default: discovered as for `run`).")
@json_option
def sweeps(config_path: Optional[Path], as_json: bool) -> None:
    """List the sweeps of the config file with their sizes and swept keys."""
    from molexp_core.errors import MolexpUsageError
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import load_document

    document = load_document(get_plugin_host(), config_path, None)
    if document is None:
        from molexp_core.config.files import candidate_names

        raise MolexpUsageError(f"no config file found ({candidate_names(get_plugin_host())}"
                               "); pass --config FILE")
    rows = []
    for normal, definition in document.sweeps.items():
        keys = list(definition.grid)
        for point in definition.points:
            keys += [k for k in point if k not in keys]
        rows.append({"name": definition.name, "normalized": normal,
                     "profile": definition.profile, "size": definition.size,
                     "grid": {k: len(v) for k, v in definition.grid.items()},
                     "points": len(definition.points), "keys": keys})
    if as_json:
        echo_json({"config_file": str(document.path), "sweeps": rows})
        return
    click.echo(f"# {document.path}")
    if not rows:
        click.echo("(no sweeps)")
        return
    table = [("NAME", "PROFILE", "SIZE", "KEYS")] + [
        (r["name"], r["profile"] or "-", str(r["size"]),
         " x ".join(f"{k}({n})" for k, n in r["grid"].items())
         + (f" + {r['points']} point(s)" if r["points"] else ""))
        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
