"""Installing a plugin with pip is all it takes: examples/plugins/molexp-toml, for real.

.ci/run (and the README's test command) pip-install the package; these tests fail,
not skip, when it is missing.
"""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from conftest import read_record, run_dirs, task_result, write
from conftest import run_molexp as _run_molexp


def run_molexp(*args, env=None, **kwargs):
    """`molexp` with molexp-toml as the only third-party plugin (a user may have
    others installed; they must not change what these tests see)."""
    return _run_molexp(*args, env=dict({"MOLEXP_LOAD_PLUGINS": "molexp_toml"}, **(env or {})),
                       **kwargs)

TOML = """
version = 1

[defaults]
dataset = "qm9"
epochs = 100

[defaults.optimizer]
lr = 0.001

[profiles.smoke]
epochs = 3

[profiles.large-batch]
extends = "smoke"
batch_size = 64
"""


@pytest.fixture(autouse=True)
def plugin_installed():
    try:
        metadata.version("molexp-toml")
    except metadata.PackageNotFoundError:
        pytest.fail("molexp-toml is not installed: run pip install ./examples/plugins/molexp-toml")


def test_molcfg_toml_is_discovered_and_resolved(workdir, echo_script):
    write(workdir / "molcfg.toml", TOML)
    result = run_molexp("run", echo_script, "-p", "large-batch", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "molcfg.toml" in result.stderr  # says which file was used
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Echo")["config"] == {
        "dataset": "qm9", "epochs": 3, "batch_size": 64, "optimizer": {"lr": 0.001}}
    assert read_record(run_dir)["config_file"].endswith("molcfg.toml")


def test_plugin_coercion_wins_over_builtin(workdir, echo_script):
    result = run_molexp("run", echo_script, "-o", "x=null", "-o", "layers=[1,2]",
                        "-o", "big=1e3", "-o", "plain=5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    config = read_record(run_dir)["config"]
    assert config == {"x": None, "layers": [1, 2], "big": 1000.0, "plain": 5}


def test_without_the_plugin_nothing_changes(workdir, echo_script):
    write(workdir / "molcfg.toml", TOML)
    env = {"MOLEXP_LOAD_PLUGINS": ""}
    result = run_molexp("run", echo_script, "-o", "layers=[1,2]", "-o", "x=null",
                        cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["config"] == {"layers": "[1,2]", "x": "null"}  # built-in rule: strings
    assert record["config_file"] is None  # molcfg.toml not discovered
    refused = run_molexp("run", echo_script, "-p", "smoke", cwd=workdir, env=env)
    assert refused.returncode == 2  # --profile without any config file


@pytest.mark.parametrize("allow", ["molexp-toml", "molexp_toml"])
def test_allow_list_by_distribution_or_entry_point_name(workdir, allow):
    write(workdir / "molcfg.toml", TOML)
    result = run_molexp("config", "show", "--json", "-p", "smoke", cwd=workdir,
                        env={"MOLEXP_LOAD_PLUGINS": allow})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["epochs"] == 3


def test_plugins_command_lists_it(workdir):
    rows = json.loads(run_molexp("plugins", "--json", cwd=workdir).stdout)
    (row,) = [r for r in rows if r["distribution"] == "molexp-toml"]
    assert row["version"] == "0.1.0" and row["builtin"] is False and row["error"] is None
    assert row["hooks"] == ["molexp_coerce_override", "molexp_config_candidates",
                            "molexp_load_config"]


def test_toml_syntax_error_names_file_and_line(workdir, echo_script):
    write(workdir / "molcfg.toml", "version = 1\n[defaults]\nepochs = = 3\n")
    result = run_molexp("run", echo_script, cwd=workdir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{workdir / 'molcfg.toml'}:3:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "runs").exists()


def test_unreadable_suffix_lists_what_loaders_accept(workdir, echo_script):
    write(workdir / "cfg.ini", "[x]\n")
    result = run_molexp("run", echo_script, "--config", "cfg.ini", cwd=workdir)
    assert result.returncode == 2
    assert "installed loaders accept .json, .toml, .yaml, .yml" in result.stderr
