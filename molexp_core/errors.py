"""The family of errors molexp reports to users without a traceback."""

from __future__ import annotations

from typing import Optional, Sequence

import click


class MolexpError(click.ClickException):
    """A failure the user can act on: printed as one line, exit 1."""

    exit_code = 1


class MolexpUsageError(click.UsageError, MolexpError):
    """Bad input on the command line or in a config file: exit 2.

    A :class:`MolexpError` too, so ``except MolexpError`` catches every error
    molexp reports (what Python API users want)."""

    exit_code = 2

    def __init__(self, message: str, ctx: Optional[click.Context] = None) -> None:
        super().__init__(message, ctx)

    def show(self, file=None) -> None:  # one line, no usage banner
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


class ConfigError(MolexpUsageError):
    """A config file that cannot be used; names the file and, when known, the line."""

    def __init__(
        self,
        message: str,
        path: Optional[object] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)


class ScriptError(MolexpError):
    """The user's script cannot be loaded or defines no tasks."""


class ConfigWarning(UserWarning):
    """Something in a config that is probably a mistake, but not an error.

    Loaders issue it with ``warnings.warn(ConfigWarning(message, path, line))``;
    molexp prints it as one ``warning:`` line naming the file and line, records
    it in ``run.json`` and, with ``--strict`` (``MOLEXP_STRICT=1``), refuses it.
    """

    def __init__(self, message: str, path: Optional[object] = None,
                 line: Optional[int] = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


def a_or_an(word: str) -> str:
    """``word`` with its indefinite article: ``an object``, ``a list``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


SIMILAR = 0.6  # the least similarity (difflib's ratio) worth a "did you mean"


def closest(name: str, choices: Sequence[str]) -> Optional[str]:
    """The choice most like ``name``, if any is close enough to suggest."""
    choices = list(choices)
    for choice in choices:  # `SMOKE` for `smoke`
        if choice.lower() == name.lower():
            return choice
    # difflib's first test of each choice, done here: the usual case (nothing is
    # close, e.g. an override that adds a key) then never imports difflib.
    # 0.6 (difflib's and argparse's default): `epoch` -> `epochs`, `optimzer.lr` ->
    # `optimizer.lr`; not `steps` -> `epochs` (0.55), which only misleads
    if not any(_letters_ratio(name, choice) >= SIMILAR for choice in choices):
        return None
    import difflib

    found = difflib.get_close_matches(name, choices, n=1, cutoff=SIMILAR)
    return found[0] if found else None


def _letters_ratio(a: str, b: str) -> float:
    """``difflib.SequenceMatcher(None, a, b).quick_ratio()``: the similarity the
    letters alone allow, an upper bound of the real one."""
    if not a and not b:
        return 1.0
    counts: dict = {}
    for letter in b:
        counts[letter] = counts.get(letter, 0) + 1
    common = 0
    for letter in a:
        left = counts.get(letter, 0)
        if left:
            counts[letter] = left - 1
            common += 1
    return 2.0 * common / (len(a) + len(b))
