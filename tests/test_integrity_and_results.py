"""Integrity checks on stored runs, and task results as researchers produce them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write


def _edit(run_dir: Path, **fields) -> None:
    record = read_record(run_dir)
    record.update(fields)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2))


@pytest.fixture
def failed_run(workdir, spec_config):
    """A smoke run whose task fails while a file exists: easy to resume."""
    write(workdir / "flaky.py", '''
        from pathlib import Path
        from molexp.workflow import Task

        class Train(Task):
            def execute(self, ctx):
                if Path("fail-now").exists():
                    raise RuntimeError("boom")
                return {"epochs": ctx.config["epochs"]}
    ''')
    (workdir / "fail-now").write_text("")
    done = run_molexp("run", "flaky.py", "-p", "smoke", cwd=workdir)
    assert done.returncode == 1, done.stderr
    (workdir / "fail-now").unlink()
    return run_dirs(workdir / "runs")[0]


def test_an_edited_config_is_refused_by_execute_resume_rerun_and_diff(workdir, failed_run):
    record = read_record(failed_run)
    config = dict(record["config"], epochs=999)  # edited by hand, hash kept
    _edit(failed_run, config=config)
    checks = [
        ("execute", str(failed_run)),
        ("run", "flaky.py", "-p", "smoke", "--resume"),
        ("rerun", failed_run.name),
        ("diff", failed_run.name, failed_run.name),
    ]
    for argv in checks:
        done = run_molexp(*argv, cwd=workdir)
        assert done.returncode == 1, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        line = done.stderr.strip().splitlines()[-1]  # `run` names its config file first
        assert f"run {failed_run.name} is corrupt or was edited" in line
        assert record["config_hash"][:16] in line and str(failed_run / "run.json") in line
    assert read_record(failed_run)["status"] == "failed"  # nothing ran
    assert len(run_dirs(workdir / "runs")) == 1  # rerun made nothing
    assert not list(failed_run.glob("results/*.json"))


def test_unedited_runs_pass_the_check(workdir, failed_run):
    done = run_molexp("run", "flaky.py", "-p", "smoke", "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert read_record(failed_run)["status"] == "succeeded"
    assert run_molexp("diff", failed_run.name, failed_run.name, cwd=workdir).returncode == 0


def test_a_copied_run_is_reported_as_such_never_as_a_duplicate(workdir, failed_run):
    copy = failed_run.parent / (failed_run.name[:-4] + "ffff")
    shutil.copytree(failed_run, copy)
    listing = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert sorted(row["run_id"] for row in listing) == sorted([failed_run.name, copy.name])
    row = next(r for r in listing if r["run_id"] == copy.name)
    assert f"run.json says run_id {failed_run.name!r}" in row["error"]
    done = run_molexp("execute", str(copy), cwd=workdir)
    assert done.returncode == 1
    assert f"says run_id {failed_run.name!r}, but its directory is named {copy.name!r}" \
        in done.stderr
    shown = run_molexp("show", copy.name, cwd=workdir)
    assert shown.returncode == 0 and "copied or edited" in shown.stderr
    # the same directory name in two profiles: the prefix names both places
    other = failed_run.parent.parent / "elsewhere" / failed_run.name
    shutil.copytree(failed_run, other)
    done = run_molexp("show", failed_run.name, cwd=workdir)
    assert done.returncode == 1
    assert "smoke/" + failed_run.name in done.stderr
    assert "elsewhere/" + failed_run.name in done.stderr


RESULTS_SCRIPT = '''
from molexp.workflow import Task


class Loss(Task):
    def execute(self, ctx):
        return {"loss": float("nan"), "best": float("inf"), "worst": -float("inf"),
                "steps": (1, 2)}


class ArrayLike:
    """What numpy, torch and jax values offer, without importing any of them."""

    def __init__(self, data):
        self.data = data

    def tolist(self):
        return self.data


class Duck(Task):
    def execute(self, ctx):
        return {"curve": ArrayLike([0.5, float("nan")]), 3: "int key"}
'''


def test_nan_infinity_and_array_likes_are_stored_and_shown(workdir):
    write(workdir / "losses.py", RESULTS_SCRIPT)
    done = run_molexp("run", "losses.py", cwd=workdir)
    assert done.returncode == 0, done.stderr
    run_dir = run_dirs(workdir / "runs")[0]
    text = (run_dir / read_record(run_dir)["tasks"]["Loss"]["result_file"]).read_text()
    assert "NaN" in text and "Infinity" in text and "-Infinity" in text
    loss = json.loads(text)["result"]  # Python's json reads its own extensions
    assert loss["loss"] != loss["loss"] and loss["best"] == float("inf")
    assert loss["steps"] == [1, 2]
    duck = task_result(run_dir, "Duck")
    assert duck["curve"][0] == 0.5 and duck["curve"][1] != duck["curve"][1]
    assert duck["3"] == "int key"
    json.loads((run_dir / "run.json").read_text(),
               parse_constant=lambda c: pytest.fail(f"run.json holds {c}"))  # strict
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert '"loss": NaN' in shown and '"best": Infinity' in shown


def test_numpy_scalars_and_arrays_are_converted(workdir):
    pytest.importorskip("numpy")
    write(workdir / "arrays.py", '''
        import numpy as np
        from molexp.workflow import Task

        class Fit(Task):
            def execute(self, ctx):
                return {"loss": np.float32(0.25), "n": np.int64(7), "ok": np.bool_(True),
                        "w": np.arange(3), "m": np.eye(2), "bad": np.float64("nan")}
    ''')
    done = run_molexp("run", "arrays.py", cwd=workdir)
    assert done.returncode == 0, done.stderr
    run_dir = run_dirs(workdir / "runs")[0]
    result = task_result(run_dir, "Fit")
    assert result["loss"] == 0.25 and result["n"] == 7 and result["ok"] is True
    assert result["w"] == [0, 1, 2] and result["m"] == [[1.0, 0.0], [0.0, 1.0]]
    assert result["bad"] != result["bad"]


def test_a_non_json_result_fails_naming_the_key_and_type_and_keeps_its_repr(workdir):
    write(workdir / "model.py", '''
        from molexp.workflow import Task

        class Net:
            def __repr__(self):
                return "Net(layers=3, trained=True)"

        class Train(Task):
            def execute(self, ctx):
                return {"metrics": {"acc": 0.9}, "models": [Net()]}
    ''')
    done = run_molexp("run", "model.py", cwd=workdir)
    assert done.returncode == 1
    assert "task Train returned a value that is not JSON data: " \
        "the result['models'][0] holds a model.Net" in done.stderr
    run_dir = run_dirs(workdir / "runs")[0]
    assert "Net(layers=3, trained=True)" in (run_dir / "error.log").read_text()
    assert read_record(run_dir)["tasks"]["Train"]["status"] == "failed"
