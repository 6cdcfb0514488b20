"""molexp's core: the CLI, the plugin host, config resolution, the run store.

Plugin authors need only this module's public names::

    from molexp_core import hookimpl, NULL, ConfigError, LineDict
"""

from molexp_core.documents import NULL, LineDict
from molexp_core.errors import ConfigError, MolexpError, MolexpUsageError
from molexp_core.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "NULL",
    "ConfigError",
    "LineDict",
    "MolexpError",
    "MolexpUsageError",
    "hookimpl",
    "__version__",
]
