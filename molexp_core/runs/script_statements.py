"""The statements of a loaded script, from the bytes and the module code molexp ran.

No parse: the module's code object (compiled once, when the script was loaded) already
says, instruction by instruction, which line(s) each part came from.  A module-level
name's *binding statements* are found by walking that code once: for every instruction
that binds a name (``STORE_NAME``, ``DELETE_NAME``), the statement is the run of
instructions since the previous statement ended, widened to every instruction whose
lines overlap it (``a = b = [1,\\n 2]``), plus the code objects it creates (a ``def``
or ``class`` body, to their last line).  Its *text* is those lines of the source bytes;
its *names* are every name its instructions and nested code refer to.
"""

from __future__ import annotations

import sys
import types
from typing import Dict, Iterator, List, Optional, Set, Tuple

_BINDS = ("STORE_NAME", "DELETE_NAME", "STORE_GLOBAL", "DELETE_GLOBAL")
# how this version packs flags into the argument of instructions naming a name
_SHIFTS = {"LOAD_GLOBAL": 1 if sys.version_info >= (3, 11) else 0,
           "LOAD_ATTR": 1 if sys.version_info >= (3, 12) else 0, "LOAD_SUPER_ATTR": 2}
_ENDS = _BINDS + ("POP_TOP", "RETURN_VALUE", "RETURN_CONST", "STORE_ATTR", "STORE_SUBSCR",
                  "DELETE_ATTR", "DELETE_SUBSCR", "IMPORT_STAR", "CALL_INTRINSIC_1")


class Statement:
    """Lines ``first``..``last`` (1-based) of the script, the names they refer to, and
    the code objects (function and class bodies) they create."""

    __slots__ = ("first", "last", "names", "codes")

    def __init__(self, first: int, last: int, names: Set[str],
                 codes: List[types.CodeType]) -> None:
        self.first, self.last, self.names, self.codes = first, last, names, codes


class ScriptStatements:
    """The loaded script: ``source`` (bytes) and ``code`` (its module code object)."""

    def __init__(self, module_name: str, source: bytes, code: types.CodeType) -> None:
        self.module_name = module_name
        self.filename = code.co_filename
        self.code = code
        self._source = source
        self._lines: Optional[List[bytes]] = None
        self._bindings: Optional[Dict[str, List[Statement]]] = None

    def text(self, first: int, last: int) -> bytes:
        if self._lines is None:  # lines as Python counts them: \r\n, \r and \n
            self._lines = self._source.replace(b"\r\n", b"\n").replace(b"\r", b"\n") \
                .split(b"\n")
        return b"\n".join(self._lines[max(first - 1, 0):max(last, 0)])

    def bindings(self, name: str) -> List[Statement]:
        """Every module-level statement binding ``name``, in code order."""
        if self._bindings is None:
            self._bindings = _index(self.code)
        return self._bindings.get(name, [])

    def find_body(self, qualname: str, name: str) -> List[types.CodeType]:
        """Code objects anywhere in the script whose qualified name is ``qualname``
        (a class or function body not bound at module level)."""
        return [code for code in walk_codes(self.code)
                if getattr(code, "co_qualname", code.co_name) == qualname
                and code.co_name == name and code is not self.code]


def walk_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from walk_codes(const)


def code_names(code: types.CodeType) -> Set[str]:
    """Every name ``code`` and its nested code refer to (globals, attributes, imports)."""
    names: Set[str] = set()
    for each in walk_codes(code):
        names.update(each.co_names)
    return names


def code_lines(code: types.CodeType) -> Tuple[int, int]:
    """(first, last) line of ``code`` with everything nested in it."""
    first, last = code.co_firstlineno, code.co_firstlineno
    for each in walk_codes(code):
        for _, end in _positions(each):
            if end is not None and end > last:
                last = end
    return first, last


def _positions(code: types.CodeType) -> Iterator[Tuple[Optional[int], Optional[int]]]:
    if hasattr(code, "co_positions"):  # 3.11+: start and end line of every code unit
        for start, end, _, _ in code.co_positions():
            yield start, end
    elif hasattr(code, "co_lines"):  # 3.10
        for _, _, line in code.co_lines():
            yield line, line
    else:  # 3.9
        import dis

        for _, line in dis.findlinestarts(code):
            yield line, line


def _instructions(code: types.CodeType) -> List[Tuple[str, int, Optional[int], Optional[int]]]:
    """(opname, arg, first line, last line) of each instruction of ``code``."""
    import opcode

    if not hasattr(code, "co_positions"):  # before 3.11: dis (no end lines)
        import dis

        out, line = [], None
        for ins in dis.get_instructions(code):
            line = ins.starts_line or line
            out.append((ins.opname, ins.arg or 0, line, line))
        return out
    raw, names = code.co_code, opcode.opname
    positions = list(code.co_positions())
    extended, out = 0, []
    for index in range(0, len(raw), 2):
        op, arg = raw[index], raw[index + 1] | extended
        if op == opcode.EXTENDED_ARG:
            extended = arg << 8
            continue
        extended = 0
        name = names[op]
        if name == "CACHE":
            continue
        start, end = positions[index // 2][:2] if index // 2 < len(positions) else (None, None)
        out.append((name, arg, start, end if end is not None else start))
    return out


def _index(code: types.CodeType) -> Dict[str, List[Statement]]:
    import opcode

    instructions = _instructions(code)
    owner, members = _overlap_blocks(instructions)
    has_name, has_const = set(opcode.hasname), set(opcode.hasconst)
    names, consts = code.co_names, code.co_consts
    found: Dict[str, List[Statement]] = {}
    start = 0
    for position, (op, arg, _, _) in enumerate(instructions):
        if op not in _ENDS:
            continue
        if op in _BINDS and arg < len(names):
            span = set(range(start, position + 1))
            if owner[position] >= 0:
                span.update(members[owner[position]])
            first, last, read, made = None, None, set(), []
            for i in sorted(span):
                iop, iarg, line, end = instructions[i]
                if line:
                    first = line if first is None else min(first, line)
                    last = max(last or line, end or line)
                number = opcode.opmap.get(iop)
                if number in has_name:
                    index = iarg >> _SHIFTS.get(iop, 0)
                    if index < len(names):
                        read.add(names[index])
                elif number in has_const and iarg < len(consts) and \
                        isinstance(consts[iarg], types.CodeType):
                    made.append(consts[iarg])
            for body in made:
                body_first, body_last = code_lines(body)
                first = body_first if first is None else min(first, body_first)
                last = max(last or body_last, body_last)
                read |= code_names(body)
            if first is not None:
                found.setdefault(names[arg], []).append(
                    Statement(first, last or first, read, made))
        start = position + 1
    return found


def _overlap_blocks(instructions: list) -> Tuple[List[int], List[List[int]]]:
    """Runs of consecutive instructions whose line ranges overlap (one multi-line
    expression): each instruction's run number (-1: none), and each run's members."""
    owner: List[int] = []
    members: List[List[int]] = []
    low = high = None
    for position, (_, _, line, end) in enumerate(instructions):
        if not line:
            owner.append(len(members) - 1)
            if members:
                members[-1].append(position)
            continue
        end = end or line
        if members and low is not None and line <= high and end >= low:
            low, high = min(low, line), max(high, end)
            members[-1].append(position)
        else:
            low, high = line, end
            members.append([position])
        owner.append(len(members) - 1)
    return owner, members


def stdlib_module(module: str) -> bool:
    top = (module or "").partition(".")[0]
    return top == "builtins" or top in getattr(sys, "stdlib_module_names", ())
