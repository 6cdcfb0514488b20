"""The plugin host: one ``PluginManager``, built on demand, never at import time.

Every plugin, built-in or third-party, comes from the ``molexp`` entry-point
group.  Built-ins (those shipped in the ``molexp`` distribution) always load;
third-party plugins load unless ``MOLEXP_LOAD_PLUGINS`` (a comma list of entry
point or distribution names; empty means none) leaves them out.  A plugin that
fails to import, register or validate is reported on stderr by name and
skipped; ``MOLEXP_STRICT_PLUGINS=1`` makes that fatal.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, Callable, Dict, List, Optional

import pluggy

from molexp_core import timings
from molexp_core.plugin_host import hookspecs
from molexp_core.errors import MolexpError

ENTRY_POINT_GROUP = "molexp"
OWN_DISTRIBUTION = "molexp"


class PluginInfo:
    """What ``molexp plugins`` reports about one plugin."""

    __slots__ = ("name", "distribution", "version", "builtin", "hooks", "error")

    def __init__(self, name: str, distribution: Optional[str] = None,
                 version: Optional[str] = None, builtin: bool = False) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self.builtin = builtin
        self.hooks: List[str] = []
        self.error: Optional[str] = None


_HOOKABLE = (types.FunctionType, types.MethodType, classmethod, staticmethod)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, quicker to register a module.

    pluggy examines every attribute of a plugin with a static lookup (made for
    instances whose properties must not run), about half of the cost of loading
    molexp's plugins.  A module's attribute that is plainly no function (an
    imported module, a class, a constant) can be skipped on a dictionary lookup;
    everything else still goes through pluggy, which decides as before.
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if _plainly_not_a_hook(plugin, name):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        if _plainly_not_a_hook(module_or_class, name):
            return None
        return super().parse_hookspec_opts(module_or_class, name)


def _plainly_not_a_hook(namespace: Any, name: str) -> bool:
    if not isinstance(namespace, types.ModuleType):
        return False
    value = namespace.__dict__.get(name, _HOOKABLE)  # absent: pluggy looks itself
    return value is not _HOOKABLE and not isinstance(value, _HOOKABLE)


class PluginHost:
    """The plugin manager plus what molexp learned while loading plugins."""

    def __init__(self) -> None:
        self.pm = _PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: List[PluginInfo] = []
        self.left_out: List[PluginInfo] = []  # installed, not in MOLEXP_LOAD_PLUGINS
        self._schedulers: Optional[Dict[str, Any]] = None

    # -- loading -----------------------------------------------------------
    def load_entry_points(self) -> None:
        from molexp_core.plugin_host import entry_points

        allowed = _allow_list()
        found = entry_points.discover()
        # built-ins first, so that their candidates and options come first
        found.sort(key=lambda ep: ep["dist"] != OWN_DISTRIBUTION)
        for ep in found:
            dist = ep["dist"]
            builtin = dist == OWN_DISTRIBUTION
            info = PluginInfo(name=ep["name"], distribution=dist, version=ep["version"],
                              builtin=builtin)
            if not builtin and allowed is not None and not (
                ep["name"] in allowed or (dist or "") in allowed
            ):
                self.left_out.append(info)
                continue
            self.infos.append(info)
            try:
                plugin = entry_points.load(ep["value"])
            except BaseException as exc:  # a broken plugin must not take the CLI down
                self._failed(info, f"failed to import: {describe(exc)}")
                continue
            self.add(plugin, info)
        loaded = [i for i in self.infos if not i.error]
        entry_points.remember_hooks(found, {i.name: i.hooks for i in loaded},
                                    {i.name: self._module_file(i.name) for i in loaded})

    def _module_file(self, name: str) -> Optional[str]:
        plugin = self.pm.get_plugin(name)
        module = plugin if hasattr(plugin, "__file__") else sys.modules.get(
            getattr(type(plugin), "__module__", ""))
        return getattr(module, "__file__", None)

    def add(self, plugin: Any, info: PluginInfo) -> None:
        """Register one plugin object; report and drop it if it is invalid."""
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
        except BaseException as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._failed(info, f"failed to register: {describe(exc)}")
            return
        info.hooks = sorted(
            caller.name for caller in (self.pm.get_hookcallers(plugin) or [])
        )

    def _info(self, name: str) -> PluginInfo:
        for info in self.infos:
            if info.name == name:
                return info
        info = PluginInfo(name)
        self.infos.append(info)
        return info

    def _failed(self, info: PluginInfo, message: str) -> None:
        info.error = message
        text = f"molexp: plugin {info.name!r}"
        if info.distribution and info.distribution != info.name:
            text += f" (from {info.distribution})"
        text += f" {message}; skipped"
        if os.environ.get("MOLEXP_STRICT_PLUGINS") == "1":
            raise MolexpError(text.replace("; skipped", ""))
        sys.stderr.write(text + " (MOLEXP_STRICT_PLUGINS=1 makes this fatal)\n")

    # -- calling hooks -----------------------------------------------------
    def call_each(self, hook_name: str, firstresult: bool = False,
                  builtins_first: bool = False, skip_failing: bool = False,
                  **kwargs: Any) -> Any:
        """Call a hook's implementations one by one, in pluggy's order
        (or, with ``builtins_first``, built-ins before every third-party plugin,
        whatever ``tryfirst`` it sets; pluggy's order within each group).

        A plugin that raises anything but a molexp error is named in the error,
        so a faulty plugin is identifiable instead of a bare traceback.  With
        ``skip_failing`` (the registration hooks) it is reported and skipped
        instead, like a plugin that fails to import.
        """
        caller = getattr(self.pm.hook, hook_name)
        results = []
        impls = caller.get_hookimpls()
        ordered = list(reversed(impls))
        if builtins_first:
            builtin = {info.name for info in self.infos if info.builtin}
            ordered.sort(key=lambda impl: impl.plugin_name not in builtin)  # stable
        for impl in ordered:
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception as exc:
                from click import ClickException

                if skip_failing:  # whatever it raised, molexp errors included
                    self._failed(self._info(impl.plugin_name),
                                 f"failed in {hook_name}: {describe(exc)}")
                    continue
                if isinstance(exc, ClickException):
                    raise
                raise MolexpError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {describe(exc)}"
                ) from exc
            if result is None:
                continue
            if firstresult:
                return result
            results.append(result)
        return None if firstresult else results

    def schedulers(self) -> Dict[str, Any]:
        """name -> Scheduler, from ``molexp_register_schedulers``; computed once."""
        if self._schedulers is None:
            registry: Dict[str, Any] = {}

            def register(scheduler: Any) -> None:
                name = getattr(scheduler, "name", None)
                if not isinstance(name, str) or not name:
                    raise TypeError(f"scheduler {scheduler!r} has no name")
                if name in registry:
                    sys.stderr.write(
                        f"molexp: a second scheduler named {name!r} was ignored\n"
                    )
                    return
                registry[name] = scheduler

            # built-ins register first, so a plugin cannot take over their names
            self.call_each("molexp_register_schedulers", builtins_first=True,
                           skip_failing=True, register=register)
            self._schedulers = dict(sorted(registry.items()))
        return self._schedulers


_HOST: Optional[PluginHost] = None


def get_plugin_host(reload: bool = False) -> PluginHost:
    """The process's plugin host, built (and entry points loaded) on first use."""
    global _HOST
    if _HOST is None or reload:
        host = PluginHost()
        host.load_entry_points()
        _HOST = host
        timings.mark("plugins")
    return _HOST


def _allow_list() -> Optional[set]:
    raw = os.environ.get("MOLEXP_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line reports."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def hook_names() -> List[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("molexp_"))


Register = Callable[[Any], None]
