"""Code fingerprints of tasks, and which stored results ``--resume`` may reuse.

A task's fingerprint is the SHA-256 of what it depends on in the script molexp
loaded, read from the bytes molexp executed and the module code it compiled (no
parse; ``runs/script_statements.py``), followed from the task's class transitively:

- the statements that define its class and each base class of the script (their
  text, decorators included; a class defined twice is told apart by its code);
- for every name those statements refer to that the script binds at module level:
  the text of each statement binding it (``LR = 0.1``, ``@cache def helper``,
  ``model = Net(64)``, ``from model import Net``), and, for a function or class of the
  script, its definition in turn; plus the *value* of simple data
  (``fingerprint_values``: numbers, strings, paths, enums, dataclasses, containers);
- base classes from other modules (not molexp's, not the standard library's): their
  methods' compiled code and their simple class attributes;
- the task's attributes (``vars(task)`` and slots), by value.

Not seen: code in other modules (a sibling ``model.py``, installed packages: git and
the environment file record those), data files, the config (compared by
``config_hash``), the module-level names used by a task class defined outside the
script.  Fail closed: a task attribute that is not simple data, a module-level object
bound by no statement of the script, a class or function of the script whose source
cannot be found, or more than :data:`MAX_OBJECTS` things make the fingerprint
*unseeable* (``digest`` None, ``unseen`` says why): the task then runs again.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Dict, List, Optional, Set, Tuple

from molexp_core.runs.fingerprint_values import (Feed, Unseen, feed_code, instance_state,
                                                type_name)
from molexp_core.runs.script_statements import (ScriptStatements, code_lines, code_names,
                                                stdlib_module)

MAX_OBJECTS = 2000
_SCRIPTS: Dict[int, Tuple[Any, ScriptStatements]] = {}


class Fingerprint:
    """``digest`` (hex SHA-256), or None and ``unseen``: why it cannot be computed."""

    __slots__ = ("digest", "unseen")

    def __init__(self, digest: Optional[str], unseen: Optional[str] = None) -> None:
        self.digest, self.unseen = digest, unseen

    def record(self) -> Dict[str, Optional[str]]:
        """The fields of a task's record in ``run.json``."""
        return {"fingerprint": self.digest, "fingerprint_unseen": self.unseen}


def task_fingerprint(task: Any, workflow: Any = None) -> Fingerprint:
    """The fingerprint of ``task`` of ``workflow`` (as ``load_script`` returned it).
    Never raises: whatever goes wrong makes it unseeable."""
    try:
        return Fingerprint(_Walk(_script(workflow)).task(task))
    except Unseen as exc:
        return Fingerprint(None, str(exc))
    except RecursionError:
        return Fingerprint(None, "its objects are nested too deeply")
    except Exception as exc:  # a value's own code raised while it was read
        return Fingerprint(None, f"reading it raised {type(exc).__name__}")


def _script(workflow: Any) -> Optional[ScriptStatements]:
    code = getattr(workflow, "script_code", None)
    source = getattr(workflow, "source", None)
    module = getattr(workflow, "script_module", None)
    if code is None or source is None or module not in sys.modules:
        return None
    known = _SCRIPTS.get(id(code))
    if known is None or known[0] is not code:
        if len(_SCRIPTS) > 4:
            _SCRIPTS.clear()
        known = _SCRIPTS[id(code)] = (code, ScriptStatements(module, source, code))
    return known[1]


def _molexp(module: str) -> bool:
    return (module or "").partition(".")[0] in ("molexp", "molexp_core", "molexp_plugins")


class _Walk:
    def __init__(self, script: Optional[ScriptStatements]) -> None:
        self.script = script
        self.globals: Dict[str, Any] = (
            vars(sys.modules[script.module_name]) if script is not None else {})
        self.feed = Feed(self._owned)
        self.done: Set[Any] = set()
        self.queue: List[Any] = []

    def task(self, task: Any) -> str:
        for cls in type(task).__mro__:
            if cls is object or _molexp(cls.__module__) or stdlib_module(cls.__module__):
                continue
            if self._in_script(cls):
                self._enqueue(cls)
            else:
                self._foreign_class(cls)
        self._drain()
        for name, value in sorted(instance_state(task).items()):
            self.feed.text(b"a", name)
            try:
                self.feed.value(value, self._refer)
            except Unseen as exc:
                raise Unseen(f"its attribute {name!r} holds {exc}, which the fingerprint "
                             "cannot see") from None
        self._drain()
        return self.feed.digest.hexdigest()

    # -- the queue -----------------------------------------------------------------
    def _enqueue(self, item: Any) -> None:
        key = item if isinstance(item, tuple) else id(item)
        if key in self.done:
            return
        self.done.add(key)
        if len(self.done) > MAX_OBJECTS:
            raise Unseen(f"it depends on more than {MAX_OBJECTS} definitions")
        self.queue.append(item)

    def _drain(self) -> None:
        while self.queue:
            item = self.queue.pop(0)
            if isinstance(item, tuple):
                self._name(item[1])
            elif isinstance(item, type):
                self._class(item)
            else:
                self._function(item)

    def _names(self, names: Any) -> None:
        for name in sorted(names):
            if name in self.globals:
                self._enqueue(("name", name))

    # -- what each kind of thing contributes ---------------------------------------
    def _statement(self, statement: Any) -> None:
        key = ("lines", statement.first, statement.last)
        if key in self.done:
            return
        self.done.add(key)
        assert self.script is not None
        self.feed.part(b"L", self.script.text(statement.first, statement.last))
        self._names(statement.names)

    def _name(self, name: str) -> None:
        """A module-level name of the script that the task's code refers to."""
        assert self.script is not None
        value = self.globals.get(name)
        if _is_code(value) and self._in_script(value):
            self._refer(value)  # its own definition, not every statement binding the name
            return
        statements = self.script.bindings(name)
        for statement in statements:
            self._statement(statement)
        if _is_code(value):
            self.feed.text(b"r", self._refer(value) or "")
            return
        inner = Feed(self._owned)
        try:
            inner.value(value, self._refer)
        except Unseen as exc:
            if not statements:
                raise Unseen(f"the module-level name {name!r} holds {exc}, bound by no "
                             "statement of the script") from None
            return  # seen through the statements that make it
        self.feed.text(b"n", name)
        self.feed.part(b"v", inner.digest.digest())

    def _class(self, cls: type) -> None:
        assert self.script is not None
        own = {id(code) for code in _class_codes(cls)}
        made = [s for s in self.script.bindings(cls.__name__)
                if any(c.co_name == cls.__name__ for c in s.codes)]
        exact = [s for s in made if any(id(inner) in own for c in s.codes
                                        for inner in c.co_consts)]
        statements = exact or made
        if not statements and self.globals.get(cls.__name__) is cls:
            statements = self.script.bindings(cls.__name__)  # e.g. namedtuple("P", ...)
        for statement in statements:
            self._statement(statement)
        if not statements:
            bodies = self.script.find_body(cls.__qualname__, cls.__name__)
            if not bodies:
                raise Unseen(f"class {cls.__qualname__} is defined by no statement of the "
                             "script")
            for body in bodies:
                self.feed.part(b"L", self.script.text(*code_lines(body)))
                self._names(code_names(body))
        for name, value in sorted(vars(cls).items()):  # values set or changed later
            if not name.startswith("__") and not _is_code(value):
                self._maybe_value(name, value)

    def _function(self, function: types.FunctionType) -> None:
        assert self.script is not None
        code = function.__code__
        statements = [s for s in self.script.bindings(function.__name__)
                      if any(c is code for c in s.codes)]
        for statement in statements:
            self._statement(statement)
        if not statements:  # nested, a lambda, or bound under another name
            self.feed.part(b"L", self.script.text(*code_lines(code)))
            self._names(code_names(code))
        for value in function.__defaults__ or ():
            self._maybe_value("default", value)
        for name, value in sorted((function.__kwdefaults__ or {}).items()):
            self._maybe_value(name, value)
        for cell in function.__closure__ or ():  # a decorator's wrapper: the function
            try:
                content = cell.cell_contents
            except ValueError:
                continue
            if _is_code(content):
                self._refer(content)

    def _maybe_value(self, name: str, value: Any) -> None:
        """A value that the statements' text already shows: fed when it is simple data
        (it may come from the environment), else left to the text."""
        inner = Feed(self._owned)
        try:
            inner.value(value, self._refer)
        except Unseen:
            return
        self.feed.text(b"k", name)
        self.feed.part(b"v", inner.digest.digest())

    def _foreign_class(self, cls: type) -> None:
        """A base class from another module: its methods' compiled code."""
        self.feed.text(b"F", f"{cls.__module__}.{cls.__qualname__}")
        for name, value in sorted(vars(cls).items()):
            codes = _codes_of(value)
            if codes:
                self.feed.text(b"k", name)
                for code in codes:
                    feed_code(self.feed, code)
            elif not name.startswith("__"):
                self._maybe_value(name, value)

    def _refer(self, obj: Any) -> Optional[str]:
        """A name for a function, class or module; those of the script are followed."""
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None and wrapped is not obj and _is_code(wrapped):
            self._refer(wrapped)  # a decorated function: the function itself counts
        if isinstance(obj, types.ModuleType):
            return f"module {obj.__name__}"
        if isinstance(obj, types.MethodType):
            self._refer(obj.__func__)
            return f"method {type_name(obj.__self__)}.{obj.__func__.__name__}"
        if isinstance(obj, (type, types.FunctionType)):
            if self._in_script(obj):
                self._enqueue(obj)
            return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if isinstance(obj, types.BuiltinFunctionType):
            return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
        if wrapped is not None:  # functools.lru_cache and the like
            return f"wrapper {type_name(obj)}"
        return None

    def _owned(self, kind: type) -> bool:
        """Instances of the script's own classes are seen by their class and state."""
        return self._in_script(kind)

    def _in_script(self, obj: Any) -> bool:
        script = self.script
        if script is None:
            return False
        if isinstance(obj, type):
            return obj.__module__ == script.module_name
        code = getattr(obj, "__code__", None)
        return (isinstance(code, types.CodeType) and code.co_filename == script.filename
                and getattr(obj, "__globals__", None) is self.globals)


def _is_code(value: Any) -> bool:
    return isinstance(value, (type, types.FunctionType, types.ModuleType,
                              types.BuiltinFunctionType, types.MethodType)) or (
        getattr(value, "__wrapped__", None) is not None and callable(value))


def _codes_of(value: Any) -> List[types.CodeType]:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f.__code__ for f in (value.fget, value.fset, value.fdel)
                if isinstance(f, types.FunctionType)]
    while getattr(value, "__wrapped__", None) is not None and \
            not isinstance(value, types.FunctionType):
        value = value.__wrapped__
    return [value.__code__] if isinstance(value, types.FunctionType) else []


def _class_codes(cls: type) -> List[types.CodeType]:
    codes = []
    for value in vars(cls).values():
        codes.extend(_codes_of(value))
    return codes
