"""Reading and resolving molcfg: from a file on disk to one profile's merged mapping.

Owns config documents and their line numbers (``documents``), finding and loading
config files through the loader hooks (``files``) and their parse cache
(``cache``), profile definitions and ``extends`` (``profiles``), overrides and
their coercion (``overrides``), the resolution that puts them together
(``resolution``), the config hash (``hashing``) and the read-only mapping tasks see
(``profile_config``).  It may import the plugin host and ``molexp_core.errors``;
never runs, scheduling or the CLI.
"""
