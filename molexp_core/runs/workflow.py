"""The workflow API users write against, and loading a user's script.

Every script imports this module (through ``molexp.workflow``), often outside molexp:
it imports neither Click nor molexp's errors (they load when a script fails to load)
nor anything else heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, Optional

from molexp_core import process
from molexp_core.config.profile_config import ProfileConfig

if TYPE_CHECKING:  # pragma: no cover
    import logging

    from molexp_core.errors import ScriptError


class Task:
    """One step of a workflow.

    Subclass it and implement ``async def execute(self, ctx)`` (a plain ``def``
    works too).  The return value must be JSON data; it is stored with the run
    and given back on resume instead of running the task again.  Set ``name`` to
    name the task; otherwise its class name is used.
    """

    name: Optional[str] = None

    def execute(self, ctx: "TaskContext") -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")


class TaskContext:
    """What a task sees of its run.

    ``config`` (the read-only merged config), ``run_dir``, ``run_id``,
    ``profile`` (normalized, or None), ``task_name``, ``results`` (earlier tasks'
    results by name, read-only), ``attempt``, and ``logger``: a
    ``logging.Logger`` writing to the run's ``run.log`` (and stderr), made the
    first time a task uses it.  ``log_metric``/``log_metrics`` record per-step
    metrics (``metrics.jsonl``); ``artifact_dir`` is the task's folder for files
    (indexed when the task ends).
    """

    __slots__ = ("config", "run_dir", "run_id", "profile", "task_name", "results",
                 "attempt", "_logger", "_make_logger", "_metrics")

    def __init__(self, *, config: ProfileConfig, run_dir: Path, run_id: str,
                 profile: Optional[str], task_name: str, results: Any = None,
                 attempt: int = 1, logger: Optional[logging.Logger] = None,
                 make_logger: Optional[Callable[[], logging.Logger]] = None) -> None:
        self.config = config
        self.run_dir = run_dir
        self.run_id = run_id
        self.profile = profile
        self.task_name = task_name
        self.results = results
        self.attempt = attempt
        self._logger = logger
        self._make_logger = make_logger
        self._metrics: Any = None  # runs.metrics.MetricsWriter, made on first use

    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            if self._make_logger is not None:
                self._logger = self._make_logger()
            else:
                import logging as _logging

                self._logger = _logging.getLogger(f"molexp.task.{self.task_name}")
        return self._logger

    def log_metric(self, name: str, value: Any, step: Optional[int] = None) -> Optional[int]:
        """Append ``value`` of metric ``name`` at ``step`` to the run's
        ``metrics.jsonl``; ``step=None``: one more than the metric's highest step so
        far in this run (0 at first).  Returns the step used.  See docs/runs.md."""
        from molexp_core.runs.metrics import check_name

        return self.log_metrics({check_name(name): value}, step)

    def log_metrics(self, values: Mapping[str, Any],
                    step: Optional[int] = None) -> Optional[int]:
        """Append several metrics (name -> number) as one line at one ``step``
        (``None``: the next step of whichever of them is furthest along); an empty
        mapping records nothing and returns None."""
        if self._metrics is None:
            from molexp_core.runs.metrics import MetricsWriter

            self._metrics = MetricsWriter(self.run_dir, self.task_name, self.attempt)
        return self._metrics.log(values, step)

    @property
    def artifact_dir(self) -> Path:
        """This task's folder for files it wants kept (``RUN_DIR/artifacts/<task>``),
        made on first use; what it holds when the task ends is indexed (path, size,
        sha256) and shown by ``molexp show``."""
        from molexp_core.runs.artifacts import task_artifact_dir

        return task_artifact_dir(self.run_dir, self.task_name)

    def __repr__(self) -> str:
        return (f"TaskContext(run_id={self.run_id!r}, task_name={self.task_name!r}, "
                f"profile={self.profile!r})")


class Workflow:
    """Task instances, in execution order."""

    source: Optional[bytes] = None  # the script's bytes, once loaded by molexp
    script_code: Any = None  # the module code compiled from them (runs/fingerprint.py)
    script_module: Optional[str] = None  # the module name the script ran under
    notes: List[str] = []  # what discovery says on the run (classes it did not run)

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.tasks: List[Task] = list(tasks)
        for task in self.tasks:
            if not isinstance(task, Task):
                raise TypeError(
                    f"Workflow takes Task instances, got {type(task).__name__}"
                )

    def named_tasks(self) -> List[tuple]:
        """``(name, task)`` pairs; repeats get ``_2``, ``_3``, ...

        A generated name never takes one that a task was given (``name`` or a
        class name), so an explicit ``name = "Train_2"`` keeps its results.
        """
        bases = [getattr(task, "name", None) or type(task).__name__ for task in self.tasks]
        reserved = set(bases)
        used: set = set()
        pairs = []
        for base, task in zip(bases, self.tasks):
            name, count = base, 1
            # a repeat takes the next suffix that is neither used nor another's own name
            while name in used or (name != base and name in reserved):
                count += 1
                name = f"{base}_{count}"
            used.add(name)
            pairs.append((name, task))
        return pairs


def _script_error(message: str) -> ScriptError:
    from molexp_core.errors import ScriptError

    return ScriptError(message)


def __getattr__(name: str) -> Any:
    if name == "ScriptError":  # where it was defined before: still importable from here
        from molexp_core.errors import ScriptError

        return ScriptError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_script(path: Path, code: Optional[bytes] = None) -> Workflow:
    """Import the script at ``path`` under a module name of its own; find its workflow.

    ``code``: the bytes to execute (a run's stored snapshot) instead of the file's
    current content.  Either way the bytes are read once and executed as if they
    were the file at ``path``: its module name, ``__file__``, its directory on
    ``sys.path`` (sibling imports work); tracebacks and ``inspect.getsource``
    show the executed bytes.  They are kept as ``workflow.source``.
    """
    path = Path(path).resolve()
    if code is None:
        try:
            code = path.read_bytes()
        except OSError as exc:
            raise _script_error(f"{path}: cannot read the script: "
                              f"{exc.strerror or exc}") from exc
    import importlib.util

    module_name = script_module_name(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise _script_error(f"{path}: not a Python script")
    module = importlib.util.module_from_spec(spec)
    script_dir = str(path.parent)
    if not sys.path or sys.path[0] != script_dir:
        _import_what_molexp_needs(path.parent)
        sys.path.insert(0, script_dir)  # sibling imports work, as with `python SCRIPT`
    sys.modules[module_name] = module
    pid = os.getpid()
    noted = process.begin_user_script()  # the interpreter's GC settings; atexit noted
    try:
        compiled = compile(code, str(path), "exec", dont_inherit=True)
        _remember_source(path, code)
        try:
            exec(compiled, module.__dict__)
        except BaseException as exc:
            if os.getpid() != pid:  # a process the script forked: not molexp's
                _stray(exc)
            raise
        if os.getpid() != pid:
            _stray(None)  # the script is over for it, as with `python SCRIPT`
    except SyntaxError as exc:
        raise _script_error(
            f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}"
        ) from exc
    except SystemExit as exc:
        line = _script_line(exc, path)
        raise _script_error(
            f"{path}{':' + str(line) if line else ''}: the script called "
            f"sys.exit({exc.code!r}) while being imported; put script-level code under "
            "'if __name__ == \"__main__\":'"
        ) from exc
    except Exception as exc:
        line = _script_line(exc, path)
        raise _script_error(
            f"{path}{':' + str(line) if line else ''}: importing the script raised "
            f"{_exception_text(exc)}"
        ) from exc
    finally:
        process.end_user_script(noted)
    workflow = find_workflow(module, path)
    workflow.source = code
    workflow.script_code, workflow.script_module = compiled, module_name  # fingerprints
    return workflow


def _stray(exc: Optional[BaseException]) -> None:
    from molexp_core.runs import teardown

    teardown.stray_exit(exc)


def _exception_text(exc: BaseException) -> str:
    from molexp_core.runs.failures import exception_text
    from molexp_core.runs.records import error_text

    return error_text(exception_text(exc))


def _remember_source(path: Path, code: bytes) -> None:
    """Tracebacks and ``inspect`` read the executed bytes, not the file as it is now.

    A ``linecache`` entry without a modification time is never invalidated."""
    import linecache

    text = code.decode("utf-8", "replace")
    linecache.cache[str(path)] = (len(text), None, text.splitlines(True), str(path))


# what molexp imports lazily once a script is loaded (executing, logging, failing,
# recording), with what those import in turn
MOLEXP_NEEDS = ("asyncio", "logging", "traceback", "inspect", "faulthandler", "_ctypes", "ctypes",
                "threading", "subprocess", "shutil", "fcntl", "hashlib", "datetime",
                "collections", "platform", "errno", "stat", "contextlib", "copy", "difflib",
                "textwrap", "tempfile", "selectors", "socket", "signal", "time", "json",
                "io", "types", "functools", "warnings", "weakref", "linecache", "tokenize",
                "string", "enum", "struct", "base64", "concurrent.futures", "queue",
                "random", "math", "operator", "pickle", "codecs", "locale", "gettext",
                "uuid", "dataclasses", "heapq", "bisect", "numbers", "decimal", "fractions",
                "opcode", "select")


def _import_what_molexp_needs(directory: Path) -> None:
    """When the script's directory holds a module named like one of the standard
    library's (``logging.py``, ``asyncio/``, the script itself), import what molexp
    needs now, before that directory goes first on sys.path: molexp's own imports
    never resolve to the user's files.  Costs nothing in the usual case."""
    stdlib = _stdlib_names()
    try:
        with os.scandir(directory) as entries:
            names = {e.name[:-3] if e.name.endswith(".py") else e.name for e in entries}
    except OSError:
        return
    if not names & stdlib:
        return
    import importlib

    for name in MOLEXP_NEEDS:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this platform lacks
            pass


def script_module_name(path: Path) -> str:
    """The name the script is imported under: its stem, as ``import stem`` would.

    Objects a task pickles (multiprocessing with ``spawn``, saved models) then
    refer to a module that can be imported again.  A stem that is no identifier,
    or that names a module already imported or in the standard library, gets a
    ``molexp_script_`` prefix instead, so nothing is shadowed.
    """
    import keyword

    stem = path.stem
    if (stem.isidentifier() and not keyword.iskeyword(stem) and stem not in sys.modules
            and stem not in _stdlib_names()):
        return stem
    import re

    return "molexp_script_" + re.sub(r"\W", "_", stem)


def _stdlib_names() -> frozenset:
    return getattr(sys, "stdlib_module_names", frozenset(sys.builtin_module_names))


def check_syntax(path: Path, code: Optional[bytes] = None) -> None:
    """Compile ``path`` (or ``code``) without running it: syntax errors surface
    before submission."""
    path = Path(path)
    try:
        source = path.read_bytes() if code is None else code
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _script_error(
            f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise _script_error(f"{path}: cannot read the script: {exc}") from exc


def find_workflow(module: Any, path: Path) -> Workflow:
    """The script's ``workflow``, else its Task classes (``task_discovery``)."""
    workflow = getattr(module, "workflow", None)
    if isinstance(workflow, Workflow):
        if not workflow.tasks:
            raise _script_error(f"{path}: 'workflow' has no tasks")
        return workflow
    from molexp_core.runs.task_discovery import Refused, task_classes

    try:
        classes, skipped, notes = task_classes(module, Task)
    except Refused as exc:
        raise _script_error(f"{path}: {exc}") from None
    if not classes:
        why = "".join(f"; {text}" for text in skipped)
        raise _script_error(
            f"{path}: no tasks found{why}; define Task subclasses with an execute(self, "
            "ctx) method at module level, or a module-level 'workflow = Workflow([...])'"
        )
    tasks = []
    for cls in classes:
        try:
            tasks.append(cls())
        except Exception as exc:
            raise _script_error(
                f"{path}: task {cls.__name__}() could not be created without "
                f"arguments ({type(exc).__name__}: {exc}); use a module-level "
                "'workflow = Workflow([...])' to pass arguments"
            ) from exc
    found = Workflow(tasks)
    found.notes = notes
    return found


def _script_line(exc: BaseException, path: Path) -> Optional[int]:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
