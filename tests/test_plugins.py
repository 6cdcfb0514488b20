"""The plugin host, with real entry-point discovery of distributions built on disk.

Each test writes a distribution (``*.dist-info`` with METADATA and entry_points.txt,
plus the plugin module) into a directory put on PYTHONPATH for a subprocess of the
installed `molexp`: importlib.metadata finds it exactly as it finds a pip install.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, write
from molexp_core import hookspecs


def make_dist(site: Path, name: str, module_source: str, entry: str = None) -> None:
    """A distribution called ``name`` whose module ``name`` is a molexp plugin."""
    module = name.replace("-", "_")
    info = site / f"{module}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[molexp]\n{entry or module} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))


def molexp_with(site: Path, *args, cwd, env=None):
    return run_molexp(*args, cwd=cwd, env=dict({"PYTHONPATH": str(site)}, **(env or {})))


BROKEN = "raise RuntimeError('this plugin is broken')\n"


@pytest.fixture
def site(tmp_path):
    return tmp_path / "site"


def test_broken_plugin_does_not_break_help_run_or_plugins(workdir, site, echo_script):
    make_dist(site, "molexp-broken", BROKEN)
    result = molexp_with(site, "--help", cwd=workdir)
    assert result.returncode == 0 and "Commands:" in result.stdout
    assert "plugin 'molexp_broken' (from molexp-broken) failed to import: " \
           "RuntimeError: this plugin is broken; skipped" in result.stderr
    result = molexp_with(site, "run", echo_script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert len(run_dirs(workdir / "runs")) == 1
    rows = json.loads(molexp_with(site, "plugins", "--json", cwd=workdir).stdout)
    (row,) = [r for r in rows if r["name"] == "molexp_broken"]
    assert row["error"] == "failed to import: RuntimeError: this plugin is broken"
    assert row["version"] == "0.3"


def test_strict_plugins_makes_a_broken_plugin_fatal(workdir, site, echo_script):
    make_dist(site, "molexp-broken", BROKEN)
    result = molexp_with(site, "run", echo_script, cwd=workdir,
                         env={"MOLEXP_STRICT_PLUGINS": "1"})
    assert result.returncode == 1
    assert "Error: molexp: plugin 'molexp_broken'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "runs").exists()


def test_misspelled_hook_is_reported_not_ignored(workdir, site):
    make_dist(site, "molexp-typo", """
        from molexp_core import hookimpl

        @hookimpl
        def molexp_load_confg(path):
            return None
    """)
    result = molexp_with(site, "plugins", "--json", cwd=workdir)
    assert result.returncode == 0
    assert "molexp_load_confg" in result.stderr and "skipped" in result.stderr
    (row,) = [r for r in json.loads(result.stdout) if r["name"] == "molexp_typo"]
    assert "unknown hook 'molexp_load_confg'" in row["error"]


def test_duplicate_scheduler_name_is_reported(workdir, site):
    make_dist(site, "molexp-dupe", """
        from molexp_core import hookimpl
        from molexp_core.schedulers import Scheduler

        class Fake(Scheduler):
            name = "local"

        @hookimpl
        def molexp_register_schedulers(register):
            register(Fake())
    """)
    result = molexp_with(site, "schedulers", "--json", cwd=workdir)
    assert result.returncode == 0
    assert "a second scheduler named 'local' was ignored" in result.stderr
    (local,) = [r for r in json.loads(result.stdout) if r["name"] == "local"]
    assert local["help"].startswith("Run on this machine")


def test_register_commands_adds_a_subcommand(workdir, site):
    make_dist(site, "molexp-hello", """
        import click
        from molexp_core import hookimpl

        @hookimpl
        def molexp_register_commands(cli):
            @cli.command()
            @click.argument("name")
            def hello(name):
                "Say hello from a plugin."
                click.echo(f"hello {name}")
    """)
    assert "Say hello from a plugin." in molexp_with(site, "--help", cwd=workdir).stdout
    result = molexp_with(site, "hello", "world", cwd=workdir)
    assert result.returncode == 0 and result.stdout == "hello world\n"


def test_coercion_hook_null_sentinel_gives_real_none(workdir, site, echo_script):
    make_dist(site, "molexp-nulls", """
        from molexp_core import NULL, hookimpl

        @hookimpl
        def molexp_coerce_override(key, raw):
            if raw == "nil":
                return NULL
            if key == "seed":
                return 42  # wins over the built-in rule for this key
            return None
    """)
    result = molexp_with(site, "run", echo_script, "-o", "a=nil", "-o", "seed=7",
                         "-o", "b=7", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["config"] == {"a": None, "seed": 42, "b": 7}


def test_config_candidates_hook_adds_a_file_name(workdir, site, echo_script):
    make_dist(site, "molexp-cfgname", """
        from molexp_core import hookimpl

        @hookimpl
        def molexp_config_candidates(directory):
            return [directory / "experiment.json"]
    """)
    write(workdir / "experiment.json", '{"version": 1, "defaults": {"from": "experiment"}}')
    result = molexp_with(site, "config", "show", "--json", cwd=workdir)
    assert json.loads(result.stdout)["config"] == {"from": "experiment"}
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {from: builtin}\n")
    result = molexp_with(site, "config", "show", "--json", cwd=workdir)
    assert json.loads(result.stdout)["config"] == {"from": "builtin"}  # built-ins first


def test_load_config_hook_reads_a_new_format(workdir, site):
    make_dist(site, "molexp-ini", """
        import configparser
        from molexp_core import hookimpl

        @hookimpl
        def molexp_load_config(path):
            if path.suffix != ".ini":
                return None
            parser = configparser.ConfigParser()
            parser.read(path)
            return {"version": 1, "defaults": dict(parser["defaults"])}
    """)
    write(workdir / "exp.ini", "[defaults]\ndataset = qm9\n")
    result = molexp_with(site, "config", "show", "--json", "--config", "exp.ini", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"] == {"dataset": "qm9"}


def test_a_plugin_that_raises_in_a_hook_is_named(workdir, site, echo_script):
    make_dist(site, "molexp-raiser", """
        from molexp_core import hookimpl

        @hookimpl
        def molexp_coerce_override(key, raw):
            raise ValueError("cannot coerce today")
    """)
    result = molexp_with(site, "run", echo_script, "-o", "a=1", cwd=workdir)
    assert result.returncode == 1
    assert "plugin 'molexp_raiser' failed in molexp_coerce_override: " \
           "ValueError: cannot coerce today" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "runs").exists()
    debug = molexp_with(site, "run", echo_script, "-o", "a=1", cwd=workdir,
                        env={"MOLEXP_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_allow_list_limits_third_party_plugins(workdir, site):
    make_dist(site, "molexp-broken", BROKEN)
    result = molexp_with(site, "plugins", "--json", cwd=workdir,
                         env={"MOLEXP_LOAD_PLUGINS": ""})
    names = {r["name"] for r in json.loads(result.stdout)}
    assert "molexp_broken" not in names and "molexp_toml" not in names
    assert {"molexp_yaml", "molexp_json", "molexp_coerce", "molexp_local",
            "molexp_slurm"} <= names  # built-ins always load
    assert result.stderr == ""


def test_every_hook_has_a_test():
    """datasette's rule: a hook nobody tests is a hook that silently breaks."""
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    untested = [name for name in dir(hookspecs)
                if name.startswith("molexp_") and f"def {name}(" not in tests]
    assert untested == []
