"""The workflow API as scripts use it: task names, ctx.config copies, the script's
module, and what molexp does with scripts that misbehave while being imported."""

from __future__ import annotations

import json
from pathlib import Path

from molexp_core.cli import cli

from conftest import read_record, run_dirs, run_molexp, task_result, write


def test_generated_names_never_take_a_name_a_task_was_given(cli_runner, workdir):
    script = write(workdir / "flow.py", """
        from molexp.workflow import Task, Workflow

        class T(Task):
            def __init__(self, value, name=None):
                self.value = value
                if name:
                    self.name = name
            def execute(self, ctx):
                return self.value

        workflow = Workflow([T("a"), T("b"), T("c"), T("d", name="T_2")])
    """)
    result = cli_runner.invoke(cli, ["run", str(script)])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(Path("runs"))
    assert list(read_record(run_dir)["tasks"]) == ["T", "T_3", "T_4", "T_2"]
    assert [task_result(run_dir, n) for n in ("T", "T_3", "T_4", "T_2")] == ["a", "b", "c", "d"]


def test_ctx_config_copies_pickles_and_crosses_a_spawn_pool(workdir, spec_config):
    script = write(workdir / "mp.py", """
        import copy, multiprocessing, pickle
        from molexp.workflow import Task

        def epochs_of(config):
            return config["epochs"]

        class Copies(Task):
            def execute(self, ctx):
                deep = copy.deepcopy(ctx.config)
                deep["optimizer"]["lr"] = 1.0  # a mutable copy...
                back = pickle.loads(pickle.dumps(ctx.config))
                try:
                    back["x"] = 1
                    still_read_only = False
                except TypeError:
                    still_read_only = True
                return {"copy": deep["optimizer"]["lr"],
                        "original": ctx.config["optimizer"]["lr"],  # ...not a view
                        "pickled_equal": back == ctx.config,
                        "still_read_only": still_read_only,
                        "module": __name__}

        class Spawned(Task):
            def execute(self, ctx):
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    return pool.apply_async(epochs_of, (ctx.config,)).get(timeout=60)
    """)
    result = run_molexp("run", script, "-p", "smoke", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Copies") == {"copy": 1.0, "original": 0.001,
                                              "pickled_equal": True,
                                              "still_read_only": True, "module": "mp"}
    assert task_result(run_dir, "Spawned") == 3


def test_script_named_like_a_stdlib_module_shadows_nothing(workdir):
    script = write(workdir / "json.py", """
        from molexp.workflow import Task

        class A(Task):
            def execute(self, ctx):
                import json as std
                return [__name__, std.dumps([1])]
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "A") == ["molexp_script_json", "[1]"]


def test_imported_task_subclasses_are_not_run(workdir):
    write(workdir / "shared_tasks.py", """
        from pathlib import Path
        from molexp.workflow import Task

        class Imported(Task):
            def execute(self, ctx):
                Path("IMPORTED_RAN").touch()
                return "imported"
    """)
    script = write(workdir / "main.py", """
        from shared_tasks import Imported
        from molexp.workflow import Task

        class Own(Task):
            def execute(self, ctx):
                return "own"
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert list(read_record(run_dir)["tasks"]) == ["Own"]
    assert not (workdir / "IMPORTED_RAN").exists()


def test_sys_exit_while_importing_is_a_script_error(workdir):
    script = write(workdir / "quits.py", """
        import sys
        from molexp.workflow import Task

        class A(Task):
            def execute(self, ctx):
                return 1

        sys.exit(0)
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 1
    assert "quits.py:8: the script called sys.exit(0) while being imported" in result.stderr
    assert "Traceback" not in result.stderr


def test_execute_fails_the_run_when_the_script_exits_at_import(workdir):
    """The node's path (execute) must not leave the run `running` with exit 0."""
    script = write(workdir / "later.py", """
        from molexp.workflow import Task

        class A(Task):
            def execute(self, ctx):
                return 1
    """)
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    record.update(status="created", tasks={})
    (run_dir / "run.json").write_text(json.dumps(record))
    script.write_text(script.read_text() + "\nimport sys\nsys.exit(0)\n")
    # the edited file (the stored snapshot has no sys.exit)
    result = run_molexp("execute", run_dir, "--current-script", cwd=workdir)
    assert result.returncode == 1
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert "sys.exit(0) while being imported" in record["error"]
