"""Start-up stays lean (issue 21): what `molexp run` and user scripts import, and
``MOLEXP_TIMINGS``, the per-phase timer that shows where a run's time goes.

Speed itself is measured by bench/run.py, never asserted here: these tests pin
what must (not) happen on the way, in real subprocesses of the installed command.
"""

from __future__ import annotations

import re

import pytest

from conftest import run_dirs, run_molexp, write

LINE = re.compile(r"^molexp: timings \((command|child), pid (\d+)\): (.*) \| total ([\d.]+) ms"
                  r" \(cpu: user ([\d.]+) ms, system ([\d.]+) ms; (\d+) page faults\)$")

SCRIPT = """
from molexp.workflow import Task, TaskContext


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        return {"epochs": ctx.config.get("epochs"), "a": ctx.config.get("a")}
"""

CONFIG = """
version: 1
defaults: {epochs: 100, a: 0, b: 0}
profiles:
  smoke: {epochs: 3}
"""


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", CONFIG)
    write(workdir / "train.py", SCRIPT)
    return workdir


def timing_lines(stderr: str) -> dict:
    """role -> (pid, [(phase, ms)], total ms) from the timer's lines."""
    found = {}
    for line in stderr.splitlines():
        if not line.startswith("molexp: timings"):
            continue
        match = LINE.match(line)
        assert match, f"not a timings line: {line!r}"
        role, pid, body, total = match.group(1), int(match.group(2)), match.group(3), \
            float(match.group(4))
        phases = []
        for part in body.split(" | "):
            name, _, value = part.rpartition(" ")
            phases.append((name, float(value)))
        assert role not in found, f"two {role} lines"
        found[role] = (pid, phases, total)
    return found


def test_the_timer_is_silent_unless_asked(project):
    done = run_molexp("run", "train.py", "-p", "smoke", "-o", "a=1", cwd=project,
                      env={"MOLEXP_TIMINGS": ""})
    assert done.returncode == 0, done.stderr
    assert "timings" not in done.stderr
    done = run_molexp("run", "train.py", "-p", "smoke", cwd=project,
                      env={"MOLEXP_TIMINGS": "0"})
    assert done.returncode == 0 and "timings" not in done.stderr


@pytest.mark.parametrize("setting", ["1", "cpu"])
def test_the_timer_names_each_phase_of_a_run_in_both_processes(project, setting):
    done = run_molexp("run", "train.py", "-p", "smoke", "-o", "a=1", "-o", "b=2",
                      "--quiet", cwd=project, env={"MOLEXP_TIMINGS": setting})
    assert done.returncode == 0, done.stderr
    lines = timing_lines(done.stderr)
    assert set(lines) == {"command", "child"}, done.stderr
    parent_pid, parent, parent_total = lines["command"]
    child_pid, child, child_total = lines["child"]
    assert parent_pid != child_pid
    assert [name for name, _ in parent] == [
        "python cpu", "imports", "plugins", "config", "prepare", "supervise", "fork",
        "child", "report", "exit"]
    assert [name for name, _ in child] == [
        "fork", "attempt", "fingerprint", "task", "record", "exit"]
    # the phases add up to the total (each printed to 0.1 ms)
    for phases, total in ((parent[1:], parent_total), (child, child_total)):
        assert all(ms >= 0 for _, ms in phases)
        assert abs(sum(ms for _, ms in phases) - total) <= 0.05 * len(phases) + 0.1
    if setting == "1":  # wall clock: the parent waited for the whole child
        assert dict(parent)["child"] >= child_total - dict(child)["fork"] - 1.0
    # the run itself is untouched by the timer
    (run_dir,) = run_dirs(project / "runs")
    assert (run_dir / "run.json").read_text().count('"succeeded"') >= 2


def test_the_timer_covers_in_process_runs_execute_and_spawn(project):
    done = run_molexp("run", "train.py", "-p", "smoke", "--in-process", "--quiet",
                      cwd=project, env={"MOLEXP_TIMINGS": "1"})
    assert done.returncode == 0, done.stderr
    lines = timing_lines(done.stderr)
    assert set(lines) == {"command"}  # no child: one line, the tasks' phases in it
    names = [name for name, _ in lines["command"][1]]
    assert names[:5] == ["python cpu", "imports", "plugins", "config", "prepare"]
    assert {"attempt", "fingerprint", "task", "record"} <= set(names)
    assert "child" not in names

    # `molexp execute` (what a Slurm job runs): the child imports the script itself
    write(project / "flaky.py", """
        import os
        from molexp.workflow import Task

        class Once(Task):
            def execute(self, ctx):
                if not os.path.exists("FLAG"):
                    raise RuntimeError("not yet")
                return 1
    """)
    assert run_molexp("run", "flaky.py", "-p", "smoke", cwd=project).returncode == 1
    (project / "FLAG").touch()
    (run_dir,) = [d for d in run_dirs(project / "runs") if d.parent.parent.name == "flaky"]
    done = run_molexp("execute", run_dir, "--quiet", cwd=project,
                      env={"MOLEXP_TIMINGS": "1"})
    assert done.returncode == 0, done.stderr
    lines = timing_lines(done.stderr)
    assert [n for n, _ in lines["command"][1]][:2] == ["python cpu", "imports"]
    assert [n for n, _ in lines["child"][1]] == [
        "fork", "attempt", "script", "fingerprint", "task", "record", "exit"]

    # a spawned child is a fresh interpreter: its own start-up is on its line
    done = run_molexp("run", "train.py", "-p", "smoke", "--quiet", cwd=project,
                      env={"MOLEXP_TIMINGS": "1", "MOLEXP_START_METHOD": "spawn"})
    assert done.returncode == 0, done.stderr
    lines = timing_lines(done.stderr)
    assert "spawn" in dict(lines["command"][1])
    assert [n for n, _ in lines["child"][1]] == [
        "python cpu", "imports", "attempt", "script", "fingerprint", "task", "record", "exit"]


def _new_modules(code: str) -> list:
    """The modules a fresh interpreter imports while running ``code``."""
    import json
    import subprocess
    import sys

    probe = ("import sys, json\nbefore = set(sys.modules)\n" + code +
             "\nprint(json.dumps(sorted(set(sys.modules) - before)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_script_importing_molexp_workflow_loads_no_click_and_no_cli():
    loaded = _new_modules(
        "from molexp.workflow import ProfileConfig, Task, TaskContext, Workflow\n"
        "class Train(Task):\n"
        "    def execute(self, ctx):\n"
        "        return ctx.config['lr']\n"
        "workflow = Workflow([Train()])\n"
        "assert ProfileConfig({'lr': 1})['lr'] == 1\n")
    assert "molexp.workflow" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in ("click", "pluggy", "ruamel", "difflib",
                                                      "inspect", "asyncio", "ctypes")
             or m.startswith("molexp_core.cli") or m == "molexp_core.errors"]
    assert heavy == []


def test_molexp_core_loads_its_public_names_on_first_use():
    loaded = _new_modules("import molexp_core")
    assert not [m for m in loaded if m.split(".")[0] in ("click", "pluggy")]
    loaded = _new_modules(
        "from molexp_core import hookimpl, ConfigError, MolexpError, NULL, LineDict,"
        " MAX_CONFIG_DEPTH\n"
        "import click, molexp_core.errors as errors, molexp_core.config.values as values\n"
        "assert ConfigError is errors.ConfigError and issubclass(MolexpError,"
        " click.ClickException)\n"
        "assert MAX_CONFIG_DEPTH == values.MAX_DEPTH\n")
    assert "pluggy" in loaded and "click" in loaded


def test_a_script_that_fails_to_load_is_still_one_line_and_a_molexp_error(project):
    from molexp_core.errors import MolexpError
    from molexp_core.runs import workflow

    assert issubclass(workflow.ScriptError, MolexpError)  # the old name still imports
    write(project / "broken.py", "from molexp.workflow import Task\nraise ValueError('no')\n")
    done = run_molexp("run", "broken.py", "-p", "smoke", cwd=project)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith(
        "broken.py:2: importing the script raised ValueError: no")


def imported_by(argv: list, cwd) -> set:
    """Every module `python -X importtime -m molexp_core ARGV` imports (the
    supervised child's imports included: it inherits stderr)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "molexp_core", *argv],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


def test_a_run_with_short_options_and_new_keys_imports_no_difflib(project):
    # -p/-o are short options (Click's long-option detour builds suggestions), and
    # both overrides add keys (a warning, with no close key to suggest)
    imported = imported_by(["run", "train.py", "-p", "smoke", "-o", "x=1", "-o", "y=2",
                            "-q"], project)
    assert "molexp_core.runs.supervisor" in imported  # the run itself was seen
    assert not {"difflib", "click.shell_completion"} & imported


def test_short_options_parse_as_before(project):
    done = run_molexp("run", "train.py", "-qp", "smoke", "-oa=5", "-o", "b=-o", cwd=project)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(project / "runs")
    config = __import__("json").loads((run_dir / "run.json").read_text())["config"]
    assert config["a"] == 5 and config["b"] == "-o" and config["epochs"] == 3
    done = run_molexp("run", "train.py", "-p", "smoke", "-x", cwd=project)
    assert done.returncode == 2 and "No such option '-x'" in done.stderr
    done = run_molexp("run", "train.py", "-p", "smoke", "--quite", cwd=project)
    assert done.returncode == 2 and "--quiet" in done.stderr  # Click's own suggestion


def test_a_suggestion_still_comes_when_one_is_close(project):
    done = run_molexp("run", "train.py", "-p", "smoke", "-o", "epoch=4", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "did you mean epochs?" in done.stderr
    done = run_molexp("run", "train.py", "-p", "smok", cwd=project)
    assert done.returncode == 2 and "'smoke'" in done.stderr


@pytest.mark.parametrize("seed", range(5))
def test_closest_is_difflibs_answer(seed):
    import difflib
    import random

    from molexp_core.errors import SIMILAR, closest

    rng = random.Random(seed)
    words = lambda n: ["".join(rng.choice("abcdeE_.") for _ in range(rng.randint(0, 9)))
                       for _ in range(n)]
    for name in words(400):
        choices = words(rng.randint(0, 6))
        expected = next((c for c in choices if c.lower() == name.lower()), None)
        if expected is None:
            found = difflib.get_close_matches(name, choices, n=1, cutoff=SIMILAR)
            expected = found[0] if found else None
        assert closest(name, choices) == expected, (name, choices)


PROBE = """
import gc, sys, threading
from molexp.workflow import Task

FROZEN = None
if __import__("os").environ.get("FREEZE_AT_IMPORT"):
    FROZEN = [object() for _ in range(3)]
    gc.freeze()


class Probe(Task):
    def execute(self, ctx):
        return {"ctypes": "ctypes" in sys.modules,
                "threads": sorted(t.name for t in threading.enumerate()),
                "threshold": list(gc.get_threshold()),
                "frozen": gc.get_freeze_count(),
                "enabled": gc.isenabled()}
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="prctl")
def test_the_child_dies_with_its_parent_through_prctl_without_ctypes(project):
    import gc
    import json

    write(project / "probe.py", PROBE)
    done = run_molexp("run", "probe.py", "-p", "smoke", "-q", cwd=project)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(project / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    seen = json.loads((run_dir / record["tasks"]["Probe"]["result_file"]).read_text())["result"]
    assert seen["ctypes"] is False  # _ctypes only
    assert seen["threads"] == ["MainThread"]  # prctl took: no thread polls the parent
    assert seen["threshold"] == list(gc.get_threshold()) and seen["enabled"]
    assert seen["frozen"] == 0  # molexp freezes nothing it leaves frozen


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="prctl")
def test_prctl_sets_the_parent_death_signal_the_kernel_reports():
    import subprocess
    import sys

    code = """
import ctypes, os, signal
from molexp_core.runs.child import _set_parent_death_signal
pid = os.fork()
if pid == 0:
    ok = _set_parent_death_signal(signal.SIGUSR2)
    got = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG
    os._exit(0 if ok and got.value == signal.SIGUSR2 else 1)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_objects_a_script_froze_stay_frozen(project):
    import json

    write(project / "probe.py", PROBE)
    done = run_molexp("run", "probe.py", "-p", "smoke", "-q", cwd=project,
                      env={"FREEZE_AT_IMPORT": "1"})
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(project / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    seen = json.loads((run_dir / record["tasks"]["Probe"]["result_file"]).read_text())["result"]
    assert seen["frozen"] > 0  # molexp's gc bookkeeping never unfreezes the user's objects


ODD_HOOKS = """
import json
from pathlib import Path

from molexp_core import hookimpl

PATTERN = "not a hook"  # constants, modules and classes are skipped on sight
Path = Path


@hookimpl(specname="molexp_config_candidates")
def candidates(directory):
    return [Path(directory) / "odd.json"]


class _Coercer:
    @hookimpl(tryfirst=True)
    def molexp_coerce_override(self, key, raw):
        return "odd:" + raw if key == "odd" else None


molexp_coerce_override = _Coercer().molexp_coerce_override  # a bound method
"""


def test_plugins_register_hooks_by_specname_and_as_bound_methods(workdir, tmp_path):
    """The plugin host's quicker registration skips only what cannot be a hook."""
    import json

    from test_plugins import make_dist, molexp_with

    site = tmp_path / "site"
    make_dist(site, "molexp-odd", ODD_HOOKS)
    write(workdir / "odd.json", '{"version": 1, "defaults": {"odd": "x"}}')
    write(workdir / "train.py", SCRIPT)
    rows = json.loads(molexp_with(site, "plugins", "--json", cwd=workdir).stdout)
    (odd,) = [row for row in rows if row["name"] == "molexp_odd"]
    assert odd["hooks"] == ["molexp_coerce_override", "molexp_config_candidates"]
    shown = molexp_with(site, "config", "show", "-o", "odd=1", "--json", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["config"]["odd"] == "odd:1"


@pytest.mark.parametrize("how", [[], ["--in-process"], ["-m"]])
def test_tasks_run_with_the_interpreters_own_collector_settings(project, how):
    """molexp raises the collector's threshold while it starts (from its entry point
    on), and restores it before the user's code runs, however molexp was started."""
    import gc
    import json
    import subprocess
    import sys

    write(project / "probe.py", PROBE)
    if how == ["-m"]:  # python -m molexp_core run ...
        done = subprocess.run([sys.executable, "-m", "molexp_core", "run", "probe.py", "-p",
                               "smoke", "-q"], cwd=project, capture_output=True, text=True,
                              timeout=120)
    else:
        done = run_molexp("run", "probe.py", "-p", "smoke", "-q", *how, cwd=project)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(project / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    seen = json.loads((run_dir / record["tasks"]["Probe"]["result_file"]).read_text())["result"]
    assert seen["threshold"] == list(gc.get_threshold()) and seen["enabled"]
