"""Each task starts from the same state in a fresh and in a resumed run."""

from __future__ import annotations

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write

WANDER = """
import os
from pathlib import Path
from molexp.workflow import Task

class Wander(Task):
    def execute(self, ctx):
        start = os.getcwd()
        os.makedirs("elsewhere", exist_ok=True)
        os.chdir("elsewhere")
        return start

class Look(Task):
    def execute(self, ctx):
        if Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("asked to fail")
        return os.getcwd()
"""


@pytest.mark.parametrize("how", [[], ["--in-process"]])
def test_chdir_in_a_task_does_not_leak_fresh_or_resumed(workdir, how):
    script = write(workdir / "wander.py", WANDER)
    flag = workdir / "fail.flag"
    env = {"FAIL_FLAG": str(flag)}
    fresh = run_molexp("run", script, *how, cwd=workdir, env=env)
    assert fresh.returncode == 0, fresh.stderr
    first = [d for d in run_dirs(workdir / "runs")][0]
    assert task_result(first, "Wander") == str(workdir)
    assert task_result(first, "Look") == str(workdir)

    flag.touch()
    assert run_molexp("run", script, *how, cwd=workdir, env=env).returncode == 1
    flag.unlink()
    # resumed from another directory: the run's own cwd, not this one
    other = workdir / "other"
    other.mkdir()
    resumed = run_molexp("run", script, "--resume", *how, "--runs-dir", workdir / "runs",
                         cwd=other, env=env)
    assert resumed.returncode == 0, resumed.stderr
    second = [d for d in run_dirs(workdir / "runs") if d != first][0]
    assert read_record(second)["attempts"] == 2
    assert task_result(second, "Look") == str(workdir)  # as in the fresh run


MUTATE = """
import os
from pathlib import Path
from molexp.workflow import Task

class Produce(Task):
    def execute(self, ctx):
        return {"values": [1, 2, 3], "meta": {"n": 3}}

class Mutate(Task):
    def execute(self, ctx):
        outcomes = []
        for attempt in (lambda: ctx.results["Produce"]["values"].append(99),
                        lambda: ctx.results["Produce"]["meta"].update(n=4),
                        lambda: ctx.results["Produce"].__setitem__("x", 1),
                        lambda: ctx.results.__setitem__("Produce", None),
                        lambda: ctx.results["Produce"]["values"].__iadd__([7])):
            try:
                attempt()
                outcomes.append("allowed")
            except TypeError as exc:
                outcomes.append("refused" if "read-only" in str(exc) else str(exc))
        copy = ctx.results["Produce"].to_dict()
        copy["values"].append(99)  # a copy is the user's own
        return outcomes

class Consume(Task):
    def execute(self, ctx):
        if Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("asked to fail")
        return ctx.results["Produce"]
"""


@pytest.mark.parametrize("how", [[], ["--in-process"]])
def test_ctx_results_cannot_be_mutated_fresh_or_resumed(workdir, how):
    script = write(workdir / "mutate.py", MUTATE)
    flag = workdir / "fail.flag"
    env = {"FAIL_FLAG": str(flag)}
    assert run_molexp("run", script, *how, cwd=workdir, env=env).returncode == 0
    (fresh,) = run_dirs(workdir / "runs")
    assert task_result(fresh, "Mutate") == ["refused"] * 5
    expected = {"values": [1, 2, 3], "meta": {"n": 3}}
    assert task_result(fresh, "Consume") == expected

    flag.touch()
    assert run_molexp("run", script, *how, cwd=workdir, env=env).returncode == 1
    flag.unlink()
    assert run_molexp("run", script, "--resume", *how, cwd=workdir, env=env).returncode == 0
    resumed = [d for d in run_dirs(workdir / "runs") if d != fresh][0]
    assert read_record(resumed)["attempts"] == 2
    assert task_result(resumed, "Consume") == expected  # the same as the fresh run saw
