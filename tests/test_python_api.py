"""The Python API (molexp.load_config, config_hash, runs, get_run, Run) and its docs."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conftest import EXAMPLE_DIR, REPO, molexp_command, read_record, run_dirs, run_molexp, write

DOC = REPO / "docs" / "python-api.md"
NOTEBOOK = REPO / "examples" / "notebook" / "compare_profiles.py"
HAS_PANDAS = importlib.util.find_spec("pandas") is not None


@pytest.fixture
def project(workdir):
    """The run_profiles example with the two runs docs/python-api.md says exist."""
    for name in ("train.py", "molcfg.yaml"):
        shutil.copy(EXAMPLE_DIR / name, workdir / name)
    (setup,) = [b for b in re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
                if "molexp run train.py" in b]
    env = dict(os.environ, PATH=f"{Path(molexp_command()[0]).parent}{os.pathsep}"
               f"{os.environ['PATH']}")
    env.pop("MOLEXP_RUNS_DIR", None)
    done = subprocess.run(["bash", "-e", "-c", setup], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return workdir


def test_every_example_in_the_docs_runs(project):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 8
    namespace: dict = {}
    skipped = []
    for block in blocks:
        if "import pandas" in block and not HAS_PANDAS:
            skipped.append(block)
            continue
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the docs' code
    assert len(skipped) <= 1  # only the DataFrame example needs pandas
    assert "Report" in namespace and namespace["all_runs"]


def test_import_molexp_stays_cheap():
    code = ("import sys, molexp, molexp.workflow\n"
            "heavy = ['molexp.api', 'molexp_core.config.resolution', 'ruamel.yaml',\n"
            "         'molexp_core.plugin_host.manager', 'molexp_core.runs.index']\n"
            "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
            "molexp.runs\n"
            "print(json.dumps('molexp.api' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert json.loads(first) == [] and json.loads(second) is True


def test_load_config_from_another_directory_with_plugins_hooks(workdir, tmp_path):
    import molexp

    elsewhere = write(tmp_path / "proj" / "molcfg.yaml", """
        version: 1
        defaults: {epochs: 100, tags: [a]}
        profiles:
          smoke: {extends: defaults, epochs: 3}
    """).parent
    config = molexp.load_config(" smoke ", "epochs=7", directory=elsewhere)
    assert config == {"epochs": 7, "tags": ["a"]}
    assert molexp.load_config(config="molcfg.yaml", directory=elsewhere)["epochs"] == 100
    # the installed coercion plugins (molexp-toml: null -> None) apply, as with -o
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # null over a list is deliberate: no warning
        assert molexp.load_config(overrides=["tags=null"], directory=elsewhere)["tags"] is None
    with pytest.raises(TypeError, match="'key=value' strings"):
        molexp.load_config(overrides=[("epochs", 3)], directory=elsewhere)
    with pytest.raises(molexp.MolexpUsageError, match="needs a config file"):
        molexp.load_config("smoke", directory=workdir)


def test_errors_are_molexps_own_never_system_exit(workdir):
    import molexp

    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  a: [1\n")
    with pytest.raises(molexp.ConfigError) as caught:
        molexp.load_config()
    assert isinstance(caught.value, molexp.MolexpError)
    assert caught.value.path == workdir / "molcfg.yaml" and caught.value.line
    with pytest.raises(molexp.MolexpError, match="no run 'nope'"):
        molexp.get_run("nope")
    with pytest.raises(molexp.MolexpUsageError, match="status 'done'"):
        molexp.runs(status="done")


def test_yaml_warnings_reach_python(workdir):
    import molexp

    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  use_gpu: off\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert molexp.load_config()["use_gpu"] == "off"
    (warning,) = caught
    assert warning.category is molexp.ConfigWarning
    assert f"{workdir / 'molcfg.yaml'}:3: 'use_gpu: off'" in str(warning.message)
    assert warning.filename == __file__  # points at the caller, not at molexp


SLOW = '''
from molexp.workflow import Task

class Train(Task):
    def execute(self, ctx):
        return {"loss": 1.0 / ctx.config.get("epochs", 1), "tags": ["x"]}
'''


def test_runs_filters_status_interrupted_and_sweep(workdir):
    import molexp

    write(workdir / "sweep.py", SLOW)
    assert run_molexp("run", "sweep.py", "--sweep", "epochs=1,2,4", cwd=workdir).returncode == 0
    assert run_molexp("run", "sweep.py", "-o", "epochs=8", cwd=workdir).returncode == 0
    points = [d for d in run_dirs(workdir / "runs") if "sweep" in read_record(d)]
    (sweep_id,) = {read_record(d)["sweep"]["id"] for d in points}
    swept = molexp.runs(sweep=sweep_id)
    assert sorted(r.config["epochs"] for r in swept) == [1, 2, 4]
    assert all(r.sweep["id"] == sweep_id for r in swept)
    everything = molexp.runs(script="sweep")
    assert len(everything) == 4 and everything[0].config["epochs"] == 8
    assert [r.run_id for r in everything] == sorted((r.run_id for r in everything),
                                                     reverse=True)
    # a run killed with kill -9 leaves `running` and a dead pid: shown as interrupted
    victim = everything[0].run_dir
    record = read_record(victim)
    record.update(status="running", pid=2 ** 22 + 12345, finished_at=None)
    (victim / "run.json").write_text(json.dumps(record))
    (interrupted,) = molexp.runs(status="interrupted")
    assert interrupted.run_dir == victim and molexp.get_run("latest").status == "interrupted"
    assert len(molexp.runs(status="succeeded")) == 3


def test_results_are_read_lazily_and_never_outside_the_run(workdir):
    import molexp

    write(workdir / "one.py", SLOW)
    assert run_molexp("run", "one.py", "-o", "epochs=2", cwd=workdir).returncode == 0
    run = molexp.get_run("latest")
    result_file = run.run_dir / read_record(run.run_dir)["tasks"]["Train"]["result_file"]
    stored = json.loads(result_file.read_text())
    stored["result"]["loss"] = 0.25  # changed on disk after the Run was made
    result_file.write_text(json.dumps(stored))
    assert run.results["Train"]["loss"] == 0.25  # read only now
    run.results["Train"]["tags"].append("changed")  # a copy
    assert run.results["Train"]["tags"] == ["x"]
    record = read_record(run.run_dir)
    record["tasks"]["Train"]["result_file"] = "../../../../etc/passwd"
    (run.run_dir / "run.json").write_text(json.dumps(record))
    moved = molexp.get_run(run.run_id)
    with pytest.raises(molexp.MolexpError, match="result of task Train cannot be used"):
        moved.results["Train"]
    assert moved.to_dict()["results"] == {"Train": None}
    data = molexp.get_run(run.run_id).to_dict(results=False)
    assert "results" not in data and data["config"] == {"epochs": 2}
    json.dumps(data)  # plain JSON data


@pytest.mark.parametrize("pandas", [True, False])
def test_the_notebook_example_runs_with_and_without_pandas(project, pandas):
    if pandas and not HAS_PANDAS:
        pytest.skip("pandas is not installed")
    block = "" if pandas else "import sys; sys.modules['pandas'] = None; "
    code = block + f"import runpy; runpy.run_path({str(NOTEBOOK)!r}, run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, MOLEXP_RUNS_DIR=""))
    assert out.returncode == 0, out.stderr
    assert "batch_size   smoke=8  large-batch=64" in out.stdout
    assert out.stdout.count(" succeeded ") >= 2  # lists the two runs
    if pandas:
        assert "results.Train.loss" in out.stdout
    else:
        assert "pandas is not installed: skipping the DataFrame" in out.stdout
    assert len(run_dirs(project / "runs")) == 2  # it ran nothing


def test_the_api_is_a_facade_that_imports_down_only():
    import ast

    tree = ast.parse((REPO / "molexp" / "api.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not any(name.startswith("molexp_core.cli") for name in imported if name)
    assert "molexp_core.runs.query" in imported  # the same selection as `molexp runs`
