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
from molexp_core.plugin_host import hookspecs


def make_dist(site: Path, name: str, module_source: str, entry: str = None) -> None:
    """A distribution called ``name`` whose module ``name`` is a molexp plugin."""
    module = name.replace("-", "_")
    info = site / f"{module}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[molexp]\n{entry or module} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))


def molexp_with(site: Path, *args, cwd, env=None):
    """`molexp` with the distributions in ``site`` and no other third-party plugin
    (the user's environment may have any installed; ``env`` may widen the list)."""
    return run_molexp(*args, cwd=cwd, env=dict(
        {"PYTHONPATH": str(site), "MOLEXP_LOAD_PLUGINS": ",".join(site_plugins(site))},
        **(env or {})))


def site_plugins(site: Path) -> list:
    """Entry-point and distribution names of the distributions make_dist wrote."""
    modules = [info.name.split("-")[0] for info in Path(site).glob("*.dist-info")]
    return sorted(set(modules) | {m.replace("_", "-") for m in modules})


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
        from molexp_core import Scheduler

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


def test_a_plugin_edited_in_place_to_add_a_command_is_seen(workdir, site):
    """The hooks cache must notice a plugin module that changed (editable installs)."""
    import os

    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    make_dist(site, "molexp-grows", """
        from molexp_core import hookimpl

        @hookimpl
        def molexp_config_candidates(directory):
            return []
    """)
    assert molexp_with(site, "plugins", cwd=workdir, env=env).returncode == 0  # learned
    module = site / "molexp_grows.py"
    module.write_text(module.read_text() + textwrap.dedent("""
        import click

        @hookimpl
        def molexp_register_commands(cli):
            @cli.command()
            def grown():
                "Added later."
                click.echo("grown")
    """))
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "Added later." in molexp_with(site, "--help", cwd=workdir, env=env).stdout
    result = molexp_with(site, "grown", cwd=workdir, env=env)
    assert result.returncode == 0 and result.stdout == "grown\n"


@pytest.mark.parametrize("hook,body", [
    ("molexp_register_schedulers", "def molexp_register_schedulers(register):"),
    ("molexp_register_commands", "def molexp_register_commands(cli):"),
])
def test_a_plugin_failing_in_a_registration_hook_is_skipped(workdir, site, echo_script,
                                                           hook, body):
    make_dist(site, "molexp-badreg", f"""
        from molexp_core import hookimpl

        @hookimpl
        {body}
            raise RuntimeError("no registry today")
    """)
    expected = (f"plugin 'molexp_badreg' (from molexp-badreg) failed in {hook}: "
                "RuntimeError: no registry today; skipped")
    help_ = molexp_with(site, "--help", cwd=workdir)
    assert help_.returncode == 0 and "Commands:" in help_.stdout
    run_help = molexp_with(site, "run", "--help", cwd=workdir)
    assert run_help.returncode == 0 and "--partition" in run_help.stdout
    result = molexp_with(site, "run", echo_script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert expected in help_.stderr + result.stderr
    rows = json.loads(molexp_with(site, "plugins", "--json", cwd=workdir).stdout)
    (row,) = [r for r in rows if r["name"] == "molexp_badreg"]
    assert row["error"] == f"failed in {hook}: RuntimeError: no registry today"
    strict = molexp_with(site, "run", echo_script, cwd=workdir,
                         env={"MOLEXP_STRICT_PLUGINS": "1"})
    if hook == "molexp_register_schedulers":
        assert strict.returncode == 1 and "no registry today" in strict.stderr


def test_tryfirst_does_not_put_a_plugin_candidate_before_molcfg(workdir, site):
    make_dist(site, "molexp-eager", """
        from molexp_core import hookimpl

        @hookimpl(tryfirst=True)
        def molexp_config_candidates(directory):
            return [directory / "experiment.json"]
    """)
    write(workdir / "experiment.json", '{"version": 1, "defaults": {"from": "experiment"}}')
    write(workdir / "molcfg.json", '{"version": 1, "defaults": {"from": "json"}}')
    result = molexp_with(site, "config", "show", "--json", cwd=workdir)
    assert json.loads(result.stdout)["config"] == {"from": "json"}
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {from: yaml}\n")
    result = molexp_with(site, "config", "show", "--json", cwd=workdir)
    assert json.loads(result.stdout)["config"] == {"from": "yaml"}


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
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    loaded = {name for name, row in rows.items() if row["loaded"]}
    assert "molexp_broken" not in loaded and "molexp_toml" not in loaded
    assert {"molexp_yaml", "molexp_json", "molexp_coerce", "molexp_local",
            "molexp_slurm"} <= loaded  # built-ins always load
    # left out, not hidden: listed as not loaded, never imported (so no error)
    assert rows["molexp_broken"]["loaded"] is False and rows["molexp_broken"]["error"] is None
    assert result.stderr == ""
    text = molexp_with(site, "plugins", cwd=workdir, env={"MOLEXP_LOAD_PLUGINS": ""})
    assert "molexp_broken  (plugin, molexp-broken" in text.stdout
    assert "not loaded: not in MOLEXP_LOAD_PLUGINS" in text.stdout


def test_every_hook_has_a_test():
    """datasette's rule: a hook nobody tests is a hook that silently breaks."""
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    untested = [name for name in dir(hookspecs)
                if name.startswith("molexp_") and f"def {name}(" not in tests]
    assert untested == []
