"""The ``molexp`` command and ``python -m molexp_core``: the CLI.

The collector's start-up setting (``process.quiet_gc_for_startup``) goes on before
Click and the CLI are imported: they are most of the modules a command loads.
"""

from molexp_core import process


def main() -> None:
    process.quiet_gc_for_startup()
    from molexp_core.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
