"""The extension surface of molexp: every hook a plugin can implement.

A plugin is a module (or object) registered under the ``molexp`` entry-point
group whose functions are decorated with :data:`molexp_core.hookimpl`.  The
built-in YAML and JSON loaders, the override coercion rule and the schedulers
are plugins of exactly this kind (see ``molexp_plugins``).

An implementation may accept any subset of a hook's arguments, so hooks can
grow arguments later without breaking plugins.  See ``docs/plugins.md`` for a
complete example of each hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import click

    from molexp_core.scheduling.interface import Scheduler

PROJECT_NAME = "molexp"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def molexp_config_candidates(directory: "Path") -> List["Path"]:
    """Name the config files molexp should look for in ``directory``.

    :param directory: the directory being searched (the current working
        directory first, then the script's own directory).
    :return: candidate paths in preference order; they need not exist.

    The first candidate that exists wins.  Built-in candidates
    (``molcfg.yaml``, ``molcfg.yml``, ``molcfg.json``) come before those of
    third-party plugins.

    Example::

        @hookimpl
        def molexp_config_candidates(directory):
            return [directory / "molcfg.toml"]
    """


@hookspec(firstresult=True)
def molexp_load_config(path: "Path") -> Optional[Mapping[str, Any]]:
    """Parse the config file at ``path`` into a plain mapping.

    :param path: an existing file.
    :return: the parsed document, or ``None`` to decline (for example because
        the suffix is not yours) so that the next loader can try.

    Raise :class:`molexp_core.ConfigError` for a malformed file; give the line
    when you know it.  A loader may return a :class:`molexp_core.LineDict`
    (a ``dict`` that also knows the line of each key) so that molexp's own
    errors about the document can name lines too.

    Example::

        @hookimpl
        def molexp_load_config(path):
            if path.suffix != ".toml":
                return None
            import tomllib
            return tomllib.loads(path.read_text())
    """


@hookspec(firstresult=True)
def molexp_coerce_override(key: str, raw: str) -> Any:
    """Turn the text of one ``--override KEY=VALUE`` into a value.

    :param key: the dotted key as typed (``optimizer.lr``).
    :param raw: the text after the first ``=``.
    :return: the value, or ``None`` to decline.  To produce a real ``None``
        (YAML ``null``), return :data:`molexp_core.NULL`.

    The built-in rule runs last (``trylast``): ``true``/``false`` (any case)
    become bools, then int, then float (finite only), else the string.

    Example::

        @hookimpl
        def molexp_coerce_override(key, raw):
            if raw == "null":
                return molexp_core.NULL
            return None
    """


@hookspec
def molexp_register_schedulers(register: Callable[["Scheduler"], None]) -> None:
    """Offer scheduler backends by calling ``register(scheduler)``.

    :param register: call it once per :class:`molexp_core.Scheduler`
        instance.  molexp owns the registry: a second scheduler with a name
        that is already taken is reported and skipped.

    Example::

        @hookimpl
        def molexp_register_schedulers(register):
            register(MyClusterScheduler())
    """


@hookspec
def molexp_register_commands(cli: "click.Group") -> None:
    """Add subcommands to the ``molexp`` command group.

    :param cli: the root Click group.

    Example::

        @hookimpl
        def molexp_register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")
    """
