"""Deprecated: import ``hookimpl`` from ``molexp_core``; the hook specifications
now live in ``molexp_core.plugin_host.hookspecs``.  Kept for one release.
"""

import warnings

from molexp_core.plugin_host.hookspecs import *  # noqa: F401,F403
from molexp_core.plugin_host.hookspecs import hookimpl, hookspec  # noqa: F401

warnings.warn(
    "molexp_core.hookspecs is deprecated; import hookimpl from molexp_core "
    "(the specifications are in molexp_core.plugin_host.hookspecs)",
    DeprecationWarning,
    stacklevel=2,
)
