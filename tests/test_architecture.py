"""The layer rule of docs/architecture.md, checked on the source with ``ast``.

``cli -> scheduling -> runs -> config -> plugin_host -> errors``: a module may import
its own layer and the layers below it, never one above, not even lazily inside a
function (imports under ``if TYPE_CHECKING:`` are for annotations only and exempt).
No import cycles between molexp_core's modules, counting lazy imports too.  Plugins,
examples and the plugin guide use only the public names of ``molexp_core``.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "molexp_core"

#: bottom first; a module's layer is the first component after ``molexp_core``
LAYERS = ["errors", "version", "timings", "process", "plugin_host", "config", "runs",
          "scheduling", "view", "cli"]
RANK = {"errors": 0, "version": 0, "timings": 0, "process": 0, "plugin_host": 1, "config": 2,
        "runs": 3, "scheduling": 4, "view": 5, "cli": 6}
#: above every layer: the public API, ``python -m molexp_core`` and the
#: deprecated re-exports of the old paths
FACADES = {"molexp_core", "molexp_core.__main__", "molexp_core.schedulers",
           "molexp_core.hookspecs"}


def module_names(root: Path) -> Dict[str, Path]:
    """Every module of the package under ``root`` (a directory holding molexp_core)."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[Tuple[str, List[str], int]]:
    """(imported module, imported names, line) for every import that runs."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the TYPE_CHECKING body never runs
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            yield base, [a.name for a in node.names], node.lineno
        stack.extend(ast.iter_child_nodes(node))


def import_edges(root: Path) -> List[Tuple[str, str, int]]:
    """(importer, imported molexp_core module, line), imported names resolved to
    submodules where they are ones (``from molexp_core.runs import store``)."""
    modules = module_names(root)
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, names, line in _imports(tree, module, path.name == "__init__.py"):
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for imported in subs or [target]:
                if imported != module:
                    edges.append((module, imported, line))
    return edges


def layer_of(module: str) -> str:
    if module in FACADES:
        return "facade"
    return module.split(".")[1]


def upward_imports(root: Path) -> List[str]:
    problems = []
    for importer, imported, line in import_edges(root):
        if importer in FACADES:
            continue
        low, high = layer_of(importer), layer_of(imported)
        if low not in RANK:
            problems.append(f"{importer}: not in any layer (add it to one)")
        elif high == "facade" or RANK.get(high, 99) > RANK[low]:
            problems.append(f"{importer}:{line} imports {imported} ({low} -> {high})")
    return sorted(set(problems))


def import_cycles(root: Path) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: Dict[str, Set[str]] = {m: set() for m in module_names(root)}
    for importer, imported, _ in import_edges(root):
        # a submodule's import runs its package's __init__ first: not a cycle
        if not importer.startswith(imported + "."):
            graph[importer].add(imported)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    cycles = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


# -- the rule holds on the real tree ------------------------------------------------


def test_every_module_is_in_a_layer_and_imports_only_downwards():
    assert upward_imports(REPO) == []


def test_no_import_cycles():
    assert import_cycles(REPO) == []


def test_every_layer_package_says_what_it_owns_and_may_import():
    for layer in ("plugin_host", "config", "runs", "scheduling", "view", "cli"):
        doc = ast.get_docstring(ast.parse((REPO / PACKAGE / layer / "__init__.py").read_text()))
        assert doc and len(doc) > 120, layer
    for layer in ("plugin_host", "config", "runs", "scheduling", "view"):
        doc = ast.get_docstring(ast.parse((REPO / PACKAGE / layer / "__init__.py").read_text()))
        assert "import" in doc, f"{layer}/__init__.py does not say what it may import"


def test_no_module_is_much_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in (REPO / PACKAGE).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


# -- the checker itself catches what it is for ---------------------------------------


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    shutil.copytree(REPO / PACKAGE, tmp_path / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _plant(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n" + code + "\n")


def test_a_planted_upward_import_is_reported(tree_copy):
    _plant(tree_copy / PACKAGE / "config" / "hashing.py",
           "def _late():\n    from molexp_core.runs import store\n    return store")
    problems = upward_imports(tree_copy)
    assert len(problems) == 1
    assert problems[0].startswith("molexp_core.config.hashing:")
    assert "molexp_core.runs.store (config -> runs)" in problems[0]


def test_a_lower_layer_importing_the_public_facade_is_reported(tree_copy):
    _plant(tree_copy / PACKAGE / "runs" / "log.py", "from molexp_core import Scheduler")
    assert upward_imports(tree_copy) == [
        f"molexp_core.runs.log:{len((tree_copy / PACKAGE / 'runs' / 'log.py').read_text().splitlines())}"
        " imports molexp_core (runs -> facade)"]


def test_a_type_checking_import_is_exempt(tree_copy):
    _plant(tree_copy / PACKAGE / "config" / "hashing.py",
           "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
           "    from molexp_core.cli import run_cmd")
    assert upward_imports(tree_copy) == []


def test_a_planted_cycle_is_reported(tree_copy):
    _plant(tree_copy / PACKAGE / "cli" / "formatting.py",
           "def _late():\n    from molexp_core.cli import monitor\n    return monitor")
    assert import_cycles(tree_copy) == [["molexp_core.cli.formatting", "molexp_core.cli.monitor"]]


def test_a_module_outside_every_layer_is_reported(tree_copy):
    (tree_copy / PACKAGE / "stray.py").write_text("from molexp_core.errors import MolexpError\n")
    assert upward_imports(tree_copy) == ["molexp_core.stray: not in any layer (add it to one)"]


# -- one public API -------------------------------------------------------------------

DEEP_IMPORT = re.compile(r"^\s*(?:from|import)\s+(molexp_core\.[\w.]+)", re.M)


def _public_users() -> Iterator[Path]:
    yield from sorted((REPO / "molexp_plugins").glob("*.py"))
    for path in sorted((REPO / "examples").rglob("*.py")):
        if "build" not in path.parts:
            yield path
    yield REPO / "docs" / "plugins.md"


def test_plugins_examples_and_the_plugin_guide_use_only_public_names():
    import molexp_core

    deep, unknown = [], []
    for path in _public_users():
        text = path.read_text()
        deep += [f"{path.relative_to(REPO)}: {m}" for m in DEEP_IMPORT.findall(text)]
        for names in re.findall(r"^\s*from molexp_core import (?:\(([^)]*)\)|(.*))$", text, re.M):
            names = " ".join(names)
            unknown += [f"{path.relative_to(REPO)}: {n}" for n in re.split(r"[,\s]+", names)
                        if n and not n.startswith("#") and n not in molexp_core.__all__]
    assert deep == []
    assert unknown == []


def test_every_public_name_is_importable_and_documented():
    import molexp_core

    guide = (REPO / "docs" / "plugins.md").read_text()
    for name in molexp_core.__all__:
        assert getattr(molexp_core, name) is not None
        if name != "__version__":
            assert f"`molexp_core.{name}" in guide, f"{name} is not in docs/plugins.md"


def test_the_old_documented_paths_still_import_with_a_deprecation_warning():
    import molexp_core

    for old, names in (("molexp_core.schedulers",
                        ["Scheduler", "Submission", "SubmissionFailed", "JobState", "PreparedRun"]),
                       ("molexp_core.hookspecs", ["hookimpl"])):
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = __import__(old, fromlist=names)
        assert [w.category for w in caught] == [DeprecationWarning], old
        assert "deprecated" in str(caught[0].message)
        for name in names:
            assert getattr(module, name) is getattr(molexp_core, name), (old, name)


def test_the_public_api_imports_no_scheduling_until_asked():
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c",
         "import sys, molexp_core, molexp.workflow;"
         "print(sorted(m for m in sys.modules if m.startswith('molexp_core.scheduling')));"
         "molexp_core.Scheduler; print('molexp_core.scheduling.interface' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
