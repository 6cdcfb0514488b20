"""The plugin host: the extension surface and the machinery that loads plugins.

Owns the hook specifications (``hookspecs``: the table of contents of what a plugin
can do), the plugin manager factory (``manager``: built on demand, never at import
time, with ``check_pending()``), and entry-point discovery with its cache
(``entry_points``).  It knows nothing of configs, runs or schedulers beyond type
names; it may import only ``molexp_core.errors`` and ``molexp_core.version``.
"""
