"""``python -m molexp_core``: the same CLI as the ``molexp`` command."""

from molexp_core.cli import main

if __name__ == "__main__":
    main()
