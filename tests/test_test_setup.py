"""The suite holds on a user's machine: other plugins installed, a cache present,
another test run (with its own Slurm cluster) on the same machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from conftest import CLUSTER_SH, REPO
from test_plugins import make_dist

NOISY = '''
from pathlib import Path
import click
from molexp_core import Scheduler, Submission, hookimpl

class Queue(Scheduler):
    name = "aqueue"
    help = "a third-party scheduler"
    def options(self):
        return [click.Option(["--aqueue-priority"], type=int, default=0, help="Priority.")]
    def submit(self, run, options):
        return Submission(status="created", message="prepared")

@hookimpl
def molexp_register_schedulers(register):
    register(Queue())

@hookimpl
def molexp_register_commands(cli):
    @cli.command("noisy-hello")
    def hello():
        """Say hello."""

@hookimpl
def molexp_config_candidates(directory):
    return [Path(directory) / "molcfg.ini"]

@hookimpl
def molexp_load_config(path):
    return {"version": 1, "defaults": {}} if Path(path).suffix == ".ini" else None
'''

# the tests that count installed plugins or schedulers, or pick an "unknown" suffix
SENSITIVE = [
    "tests/test_run.py::test_unknown_scheduler_is_usage_error_listing_installed",
    "tests/test_plugins.py::test_load_config_hook_reads_a_new_format",
    "tests/test_plugins.py::test_allow_list_limits_third_party_plugins",
    "tests/test_third_party_plugin.py",
    "tests/test_bad_input.py::test_bad_input[config-unknown-suffix]",
    "tests/test_docs_cli.py",
]


def test_sensitive_tests_pass_with_another_plugin_and_a_stale_cache(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "molexp-noisy", NOISY)
    cache = tmp_path / "cache" / "molexp"
    (cache / "configs").mkdir(parents=True)
    for name in ("entry-points-00000000.json", "configs/0123.json"):
        (cache / name).write_text("{not json")
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("MOLEXP_LOAD_PLUGINS", None)
    listed = subprocess.run([sys.executable, "-m", "molexp_core", "schedulers"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "aqueue" in listed.stdout, listed.stderr  # the plugin is really there
    nodes = [n for n in SENSITIVE if "::" not in n or _exists(n)]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *nodes], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


def _exists(node: str) -> bool:
    path, name = node.split("::")
    return f"def {name.split('[')[0]}(" in (REPO / path).read_text()


def _config(directory) -> tuple:
    out = subprocess.run(["bash", str(CLUSTER_SH), "config", str(directory)],
                         capture_output=True, text=True, timeout=60, env=_no_ports())
    assert out.returncode == 0, out.stderr
    return tuple(int(p) for p in out.stdout.split())


def _no_ports() -> dict:
    env = dict(os.environ)
    env.pop("CTLD_PORT", None)
    env.pop("SLURMD_PORT", None)
    return env


def test_two_test_clusters_get_ports_of_their_own(tmp_path):
    first = _config(tmp_path / "a")
    with socket.socket() as busy:  # the first cluster is up: its port is taken
        busy.bind(("127.0.0.1", first[0]))
        busy.listen()
        second = _config(tmp_path / "b")
    assert len(set(first) | set(second)) == 4
    text = (tmp_path / "b" / "etc" / "slurm.conf").read_text()
    assert f"SlurmctldPort={second[0]}\n" in text and f"SlurmdPort={second[1]}\n" in text
    assert _config(tmp_path / "a") == first  # a restart keeps its cluster's ports
    for port in second:  # free when picked
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
