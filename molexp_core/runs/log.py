"""A run's log (``run.log``): molexp's own progress lines, and task loggers on demand.

molexp writes its lines directly; the ``logging`` machinery is set up only when a
task first touches ``ctx.logger`` (a run that never logs does not pay for it).
Task messages go to run.log and, unless ``--quiet``, to stderr; molexp's own
progress lines reach stderr only on a terminal.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

from molexp_core.runs import safe_files

LOG_FILE = "run.log"


class RunLog:
    def __init__(self, run_dir: Path, run_id: str, quiet: bool) -> None:
        self.path = Path(run_dir) / LOG_FILE
        self.run_id = run_id
        self.quiet = quiet
        self._root: Optional[Any] = None  # the logging.Logger, once a task asks for one

    def _write(self, level: str, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{stamp} {level} molexp: {text}\n"
        safe_files.append_text(self.path, line)  # never through a link

    def progress(self, text: str) -> None:
        self._write("INFO", text)
        if not self.quiet and sys.stderr.isatty():
            sys.stderr.write(text + "\n")

    def notice(self, text: str) -> None:
        """run.log, and stderr unless quiet (what the user must hear, terminal or not)."""
        self._write("INFO", text)
        if not self.quiet:
            sys.stderr.write(text + "\n")

    def note(self, text: str) -> None:
        """run.log only (the CLI that loaded the script has said it already)."""
        self._write("INFO", text)

    def failure(self, text: str) -> None:
        """File only: the CLI prints its own one-line summary."""
        self._write("ERROR", text)

    def task_logger(self, task_name: str) -> Any:
        if self._root is None:
            self._root = _make_logger(self.path, self.run_id, self.quiet)
        return self._root.getChild(task_name)

    def close(self) -> None:
        if self._root is not None:
            for handler in list(self._root.handlers):
                handler.close()
                self._root.removeHandler(handler)
                stream = getattr(handler, "stream", None)
                if stream is not None and stream is not sys.stderr:
                    stream.close()


def _make_logger(path: Path, run_id: str, quiet: bool) -> Any:
    import logging

    logger = logging.getLogger(f"molexp.run.{run_id}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # not logging.FileHandler: it would follow a link planted as run.log
    stream = open(safe_files.open_append(path), "a", encoding="utf-8", errors="replace")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    return logger
