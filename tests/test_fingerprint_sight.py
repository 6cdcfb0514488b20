"""Task fingerprints see what a task depends on, and fail closed on what they cannot.

Each case runs a real two-task script with the installed `molexp`: Train succeeds,
Check fails (a marker file); the script is edited, the marker removed, and
`--resume` says whether Train's stored result is reused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write

HEADER = '''
import functools
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from molexp.workflow import Task, Workflow


class Check(Task):
    def execute(self, ctx):
        if Path("fail-now").exists():
            raise RuntimeError("not yet")
        return "checked"
'''

CASES = {
    "module constant": ('''
LR = 0.1

class Train(Task):
    def execute(self, ctx):
        return LR * 2
''', "LR = 0.1", "LR = 0.2"),
    "Path attribute": ('''
class Train(Task):
    def __init__(self, data):
        self.data = data

    def execute(self, ctx):
        return str(self.data)

workflow = Workflow([Train(Path("/data/v1")), Check()])
''', 'Path("/data/v1")', 'Path("/data/v2")'),
    "dataclass attribute": ('''
@dataclass
class Cfg:
    hidden: int = 64

class Train(Task):
    def __init__(self, cfg):
        self.cfg = cfg

    def execute(self, ctx):
        return self.cfg.hidden

workflow = Workflow([Train(Cfg(hidden=64)), Check()])
''', "Cfg(hidden=64)", "Cfg(hidden=65)"),
    "enum attribute": ('''
class Mode(Enum):
    FAST = "fast"
    SLOW = "slow"

class Train(Task):
    def __init__(self, mode):
        self.mode = mode

    def execute(self, ctx):
        return self.mode.value

workflow = Workflow([Train(Mode.FAST), Check()])
''', "Train(Mode.FAST)", "Train(Mode.SLOW)"),
    "lru_cache helper": ('''
@functools.lru_cache
def helper(x):
    return x + 1

class Train(Task):
    def execute(self, ctx):
        return helper(1)
''', "return x + 1", "return x + 2"),
    "decorated helper": ('''
def traced(function):
    def inner(*args):
        return function(*args)
    return inner

@traced
def helper(x):
    return x + 1

class Train(Task):
    def execute(self, ctx):
        return helper(1)
''', "return x + 1", "return x + 2"),
    "class defined twice": ('''
class Train(Task):
    def execute(self, ctx):
        return "first"

class Train(Task):
    def execute(self, ctx):
        return "second"
''', 'return "second"', 'return "third"'),
    "module-level object": ('''
class Net:
    def __init__(self, hidden):
        self.hidden = hidden

model = Net(
    64)

class Train(Task):
    def execute(self, ctx):
        return model.hidden
''', "    64)", "    65)"),
    "an instance of a script class": ('''
class Opts:
    def __init__(self, depth):
        self.depth = depth

class Train(Task):
    def __init__(self, opts):
        self.opts = opts

    def execute(self, ctx):
        return self.opts.depth

workflow = Workflow([Train(Opts(3)), Check()])
''', "Opts(3)", "Opts(4)"),
}

UNCHANGED = {  # edits the fingerprint must not count: Train is reused
    "unrelated constant": ("module constant", "LR = 0.1", "LR = 0.1\nOTHER = 3"),
    "dead first definition": ("class defined twice", 'return "first"', 'return "zeroth"'),
    "comment outside the task": ("lru_cache helper", "@functools.lru_cache",
                                 "# a note\n@functools.lru_cache"),
}


def failed_run(workdir: Path, body: str) -> tuple:
    """Train succeeded, Check failed."""
    if "workflow =" not in body:
        body += "\nworkflow = Workflow([Train(), Check()])\n"
    script = write(workdir / "pipeline.py", HEADER + textwrap.dedent(body))
    (workdir / "fail-now").write_text("")
    done = run_molexp("run", script, cwd=workdir)
    assert done.returncode == 1, done.stderr
    assert "task Check failed" in done.stderr
    (workdir / "fail-now").unlink()
    (run_dir,) = run_dirs(workdir / "runs")
    return script, run_dir


def resume_after_edit(workdir: Path, body: str, old: str, new: str) -> tuple:
    script, run_dir = failed_run(workdir, body)
    text = script.read_text()
    assert old in text
    script.write_text(text.replace(old, new, 1))
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if "task Train:" in x)
    return line, run_dir


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_change_the_task_depends_on_makes_it_run_again(workdir, case):
    body, old, new = CASES[case]
    line, run_dir = resume_after_edit(workdir, body, old, new)
    assert line.endswith("task Train: runs (its code changed)"), line
    assert read_record(run_dir)["tasks"]["Train"]["attempt"] == 2


@pytest.mark.parametrize("case", sorted(UNCHANGED))
def test_an_edit_the_task_does_not_depend_on_reuses_its_result(workdir, case):
    base, old, new = UNCHANGED[case]
    line, run_dir = resume_after_edit(workdir, CASES[base][0], old, new)
    assert line.endswith("task Train: reused (succeeded in attempt 1; code unchanged)"), line
    assert read_record(run_dir)["tasks"]["Train"]["attempt"] == 1


ATTRIBUTES = {  # issue 17: attributes that crashed the run; all simple data, all seen
    "mixed key types": '{1: "a", "b": 2, (1, 2): {3, 4}}',
    "a 5,000-digit int": "10 ** 5000",
    "NaN and bytes": '[float("nan"), b"raw", frozenset({"x", "y"})]',
    "a partial and a str subclass": 'functools.partial(max, 1, key=abs), Label("x")',
}


@pytest.mark.parametrize("case", sorted(ATTRIBUTES))
def test_awkward_simple_attributes_are_fingerprinted_not_a_crash(workdir, case):
    body = f'''
class Label(str):
    pass

class Train(Task):
    def __init__(self, *value, **named):
        self.value, self.named = value, named

    def execute(self, ctx):
        return "trained"

workflow = Workflow([Train({ATTRIBUTES[case]}), Check()])
'''
    line, run_dir = resume_after_edit(workdir, body, "return \"trained\"", "return \"trained\"")
    assert line.endswith("task Train: reused (succeeded in attempt 1; code unchanged)"), line


OPAQUE = {  # what the fingerprint cannot see: the task runs again, and says why
    "a lock": ("threading.Lock()", "its attribute 'value' holds a _thread.lock, which "
               "the fingerprint cannot see"),
    "a list that holds itself": ("selfish()", "its attribute 'value' holds a list that "
                                 "contains itself, which the fingerprint cannot see"),
    "an object that raises when read": ("Touchy()", "reading it raised RuntimeError"),
    "a script object holding a lock": ("Holder()", "its attribute 'value' holds a "
                                       "_thread.lock, which the fingerprint cannot see"),
    "a method of a lock": ("threading.Lock().acquire", "its attribute 'value' holds a "
                           "_thread.lock, which the fingerprint cannot see"),
}


@pytest.mark.parametrize("case", sorted(OPAQUE))
def test_what_the_fingerprint_cannot_see_fails_closed(workdir, case):
    make, reason = OPAQUE[case]
    body = f'''
def selfish():
    items = []
    items.append(items)
    return items

class Holder:
    def __init__(self):
        self.lock = threading.Lock()

class Touchy:
    def __getattr__(self, name):
        raise RuntimeError("do not touch " + name)

class Train(Task):
    def __init__(self, value):
        self.value = value

    def execute(self, ctx):
        return "trained"

workflow = Workflow([Train({make}), Check()])
'''
    script, run_dir = failed_run(workdir, body)
    record = read_record(run_dir)
    assert record["tasks"]["Train"]["status"] == "succeeded"
    assert record["tasks"]["Train"]["fingerprint"] is None
    assert record["tasks"]["Train"]["fingerprint_unseen"] == reason
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert f"    not reusable by --resume: {reason}" in shown
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert f"[1/2] task Train: runs (not reusable: {reason})" in done.stderr
    assert read_record(run_dir)["tasks"]["Train"]["attempt"] == 2
    assert task_result(run_dir, "Check") == "checked"


def test_a_module_level_object_bound_by_no_statement_fails_closed(workdir):
    body = '''
class Net:
    def __init__(self):
        self.lock = threading.Lock()

globals()["model"] = Net()
globals()["shape"] = Net  # a class: seen (its definition)

class Train(Task):
    def execute(self, ctx):
        return type(model).__name__ + shape.__name__
'''
    line, _ = resume_after_edit(workdir, body, "class Net:", "class Net:")
    assert line.endswith("task Train: runs (not reusable: the module-level name 'model' "
                         "holds a _thread.lock, bound by no statement of the script)"), line


FINGERPRINT_WITHOUT_PARSING = r'''
import ast, inspect, json, sys, tokenize
from pathlib import Path
from molexp_core.runs.workflow import load_script
from molexp_core.runs.fingerprint import task_fingerprint

workflow = load_script(Path(sys.argv[1]))

def refuse(*args, **kwargs):
    raise AssertionError("the fingerprint parsed the source")

inspect.getsource = inspect.getsourcelines = inspect.findsource = refuse
ast.parse = tokenize.generate_tokens = tokenize.tokenize = refuse
before = set(sys.modules)
prints = {name: task_fingerprint(task, workflow).record() for name, task in
          workflow.named_tasks()}
print(json.dumps({"prints": prints, "imported": sorted(set(sys.modules) - before)}))
'''


def test_fingerprints_come_from_the_loaded_bytes_without_parsing(workdir):
    """Issue 21: no inspect.getsource (an ast parse of the file) on the run path."""
    script = write(workdir / "pipeline.py", HEADER + textwrap.dedent(CASES["module-level object"][0])
                   + textwrap.dedent(CASES["lru_cache helper"][0]).replace("Train", "Other"))
    probe = write(workdir / "probe.py", FINGERPRINT_WITHOUT_PARSING)
    done = subprocess.run([sys.executable, str(probe), str(script)], capture_output=True,
                          text=True, timeout=60, cwd=workdir)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found["prints"]) == {"Check", "Train", "Other"}
    assert all(p["fingerprint"] and not p["fingerprint_unseen"]
               for p in found["prints"].values()), found
    assert set(found["imported"]) <= {"opcode", "_opcode"}, found["imported"]


REUSABLE = r'''
import json, sys
from pathlib import Path
from molexp_core.runs import store
from molexp_core.runs.reuse import results_reusable
from molexp_core.runs.snapshot import current_hash
from molexp_core.runs.workflow import load_script

run_dir, script = Path(sys.argv[1]), Path(sys.argv[2])
record = store.read_run(run_dir)
workflow = load_script(script)
print(json.dumps([results_reusable(record, workflow, run_dir=run_dir),
                  results_reusable(record, script_sha256=current_hash(script)),
                  results_reusable(record)]))
'''


def test_results_reusable_answers_for_a_whole_run(workdir):
    """The function sweeps ask: would this run's results be reused as they are?"""
    script = write(workdir / "pipeline.py", HEADER + textwrap.dedent(CASES["module constant"][0])
                   + "\nworkflow = Workflow([Train(), Check()])\n")
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    probe = write(workdir / "probe.py", REUSABLE)

    def ask() -> list:
        done = subprocess.run([sys.executable, str(probe), str(run_dir), str(script)],
                              capture_output=True, text=True, timeout=60, cwd=workdir)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert ask() == [[True, "code unchanged"], [True, "every result came from this script"],
                     [False, "the current code is unknown"]]
    script.write_text(script.read_text() + "\n# a comment\n")
    fingerprints, hashes, _ = ask()
    assert fingerprints == [True, "code unchanged"]  # the tasks' code is the same
    assert hashes[0] is False and hashes[1].startswith("task Train: its result came from")
    script.write_text(script.read_text().replace("LR = 0.1", "LR = 0.3"))
    assert ask()[0] == [False, "task Train: its code changed"]
    script.write_text(script.read_text().replace("LR = 0.3", "LR = 0.1"))
    record = read_record(run_dir)
    (run_dir / record["tasks"]["Check"]["result_file"]).unlink()
    assert ask()[0] == [False, "task Check: its stored result is missing or damaged"]
