"""Which classes of a script are its tasks (issue 17: abstract bases are not run;
issue 22: a typo'd execute() is named, imported Task classes are said on the run)."""

from __future__ import annotations

import pytest

from conftest import read_record, run_dirs, run_molexp, write

BASES = {
    "abc": '''
        from abc import ABC, abstractmethod
        class Base(Task, ABC):
            @abstractmethod
            def loss(self): ...
            def execute(self, ctx):
                return {"loss": self.loss()}
    ''',
    "abstractmethod-without-abc": '''
        from abc import abstractmethod
        class Base(Task):
            @abstractmethod
            def execute(self, ctx): ...
    ''',
    "raises-not-implemented": '''
        class Base(Task):
            def execute(self, ctx):
                """Subclasses say how."""
                raise NotImplementedError("subclasses define execute")
    ''',
    "async-raises-not-implemented": '''
        class Base(Task):
            async def execute(self, ctx):
                raise NotImplementedError
    ''',
    "helpers-only": '''
        class Base(Task):
            def loss(self):
                return 1.0
    ''',
}


@pytest.mark.parametrize("kind", sorted(BASES))
def test_an_abstract_base_task_is_not_run(workdir, kind):
    import textwrap

    body = textwrap.dedent(BASES[kind])
    write(workdir / "study.py", "from molexp.workflow import Task\n" + body + '''
class Train(Base):
    def loss(self):
        return 0.5
    def execute(self, ctx):
        return {"loss": self.loss()}
''')
    result = run_molexp("run", "study.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert list(record["tasks"]) == ["Train"], record["tasks"]
    assert record["status"] == "succeeded"


def test_a_script_with_only_an_abstract_base_names_it(workdir):
    write(workdir / "study.py", '''
from molexp.workflow import Task
class Base(Task):
    def execute(self, ctx):
        raise NotImplementedError
''')
    result = run_molexp("run", "study.py", cwd=workdir)
    assert result.returncode == 1
    assert "no tasks found; Base is abstract (its execute() raises NotImplementedError)" \
        in result.stderr
    assert not (workdir / "runs").exists()


def test_a_task_whose_execute_is_typod_is_named(workdir):
    write(workdir / "study.py", '''
from molexp.workflow import Task
class Prepare(Task):
    def execute(self, ctx):
        return {}
class Train(Task):
    def run(self, ctx):
        return {"loss": 1}
''')
    result = run_molexp("run", "study.py", cwd=workdir)
    assert result.returncode == 1
    error = result.stderr.strip()
    assert error.startswith("Error: ") and "\n" not in error, error
    assert "task class Train has no execute() method (it defines run())" in error
    assert not (workdir / "runs").exists()  # not silently a 1-task study


def test_a_typod_only_task_is_named_not_no_tasks_found(workdir):
    write(workdir / "study.py", '''
from molexp.workflow import Task
class Train(Task):
    def run(self, ctx):
        return {"loss": 1}
''')
    result = run_molexp("run", "study.py", cwd=workdir)
    assert result.returncode == 1
    assert "Train has no execute() method" in result.stderr


def test_task_classes_imported_from_another_module_are_said_on_the_run(workdir):
    write(workdir / "common.py", '''
from molexp.workflow import Task
class Prepare(Task):
    def execute(self, ctx):
        return {"prepared": True}
class Base(Task):
    def execute(self, ctx):
        raise NotImplementedError
''')
    write(workdir / "study.py", '''
from common import Base, Prepare
class Train(Base):
    def execute(self, ctx):
        return {"loss": 1}
''')
    result = run_molexp("run", "study.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "note: not run: Prepare (from common)" in result.stderr
    assert "Base" not in result.stderr.split("note:")[1]  # an abstract base: nothing to say
    (run_dir,) = run_dirs(workdir / "runs")
    assert list(read_record(run_dir)["tasks"]) == ["Train"]
