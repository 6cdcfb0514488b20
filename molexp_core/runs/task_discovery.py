"""Which classes of a user's script are its tasks (when it defines no ``workflow``).

The rule, as pytest's for test classes, is in :func:`task_classes`; ``workflow``
hands it the ``Task`` base class, so this module imports nothing of molexp's.
"""

from __future__ import annotations

import inspect
from typing import Any, List, Optional, Tuple


class Refused(Exception):
    """A Task class that is a mistake (no ``execute()``); the message names it."""


def task_classes(module: Any, base: type) -> Tuple[List[type], List[str], List[str]]:
    """The script's tasks when it has no ``workflow``: (classes to run, in definition
    order; why other classes of the script are not run; notes to print on the run).

    The rule, as pytest's for test classes: a ``Task`` subclass defined in the script
    itself (not imported into it) is run, unless it is abstract: it has an abstract
    method (``@abstractmethod``, with or without ``ABC``), or its ``execute()`` starts
    by raising ``NotImplementedError``, or it defines no ``execute()`` and another
    Task class of the script subclasses it (a base class).  A class with no
    ``execute()`` that nothing subclasses is a mistake (``def run(self, ctx)``) and
    is refused, named.  Concrete Task classes imported from another module are not
    run; the run says so (list them in a ``Workflow`` to run them).
    """
    found = [value for value in vars(module).values()
             if inspect.isclass(value) and issubclass(value, base) and value is not base]
    own = [cls for cls in found if cls.__module__ == module.__name__]
    run, skipped, notes = [], [], []
    for cls in own:
        why = _not_runnable(cls, own, base)
        if why is None:
            run.append(cls)
        elif why.startswith("!"):
            raise Refused(why[1:])
        else:
            skipped.append(why)
    imported = [cls for cls in found if cls.__module__ != module.__name__
                and _not_runnable(cls, found, base) is None]
    if imported:
        names = ", ".join(f"{c.__name__} (from {c.__module__})" for c in imported)
        notes.append(f"not run: {names}: Task classes imported from another module are "
                     "not the script's tasks; to run them, list them in a module-level "
                     "workflow = Workflow([...])")
    return run, skipped, notes


def _not_runnable(cls: type, classes: List[type], base: type) -> Optional[str]:
    """Why ``cls`` is not a task to run (None: it is one); ``!...``: an error."""
    abstract = _abstract_methods(cls)
    if abstract:
        return f"{cls.__name__} is abstract ({', '.join(abstract)})"
    if getattr(cls, "execute", None) is base.execute:
        if any(other is not cls and issubclass(other, cls) for other in classes):
            return f"{cls.__name__} is a base class (no execute())"
        own = [name for name, value in vars(cls).items()
               if inspect.isfunction(value) and not name.startswith("_")]
        defines = f" (it defines {', '.join(n + '()' for n in own)})" if own else ""
        return (f"!task class {cls.__name__} has no execute() method{defines}: a Task "
                "runs its execute(self, ctx); rename the method, or mark a base class "
                "abstract (@abstractmethod)")
    if _starts_by_raising_not_implemented(getattr(cls, "execute", None)):
        return f"{cls.__name__} is abstract (its execute() raises NotImplementedError)"
    return None


def _abstract_methods(cls: type) -> List[str]:
    """Names of ``cls``'s abstract methods, with or without ``ABCMeta``."""
    names = list(getattr(cls, "__abstractmethods__", ()) or ())
    seen = set(names)
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)  # the first class in the MRO that defines it decides
            target = value.__func__ if isinstance(value, (staticmethod, classmethod)) \
                else value
            if getattr(target, "__isabstractmethod__", False) is True:
                names.append(name)
    return sorted(names)


def _starts_by_raising_not_implemented(func: Any) -> bool:
    """``execute()``'s first statement raises ``NotImplementedError`` (a template
    method meant for subclasses), judged from its bytecode: no branch, store,
    return or await before the ``raise``."""
    code = getattr(func, "__code__", None)
    if code is None or "NotImplementedError" not in code.co_names:
        return False
    import dis

    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    first_name = None
    for instruction in dis.get_instructions(code):
        name = instruction.opname
        if name == "RAISE_VARARGS":
            return first_name == "NotImplementedError"
        if (instruction.opcode in jumps or name.startswith(("STORE_", "YIELD", "SEND"))
                or name in ("RETURN_VALUE", "RETURN_CONST", "GET_AWAITABLE")):
            return False
        if first_name is None and name in ("LOAD_GLOBAL", "LOAD_NAME"):
            first_name = instruction.argval
    return False
