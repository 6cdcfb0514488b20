"""The docs work as written from a fresh virtualenv (issue 22): the README's set-up,
`import molexp` beside a checkout named `molexp`, the plugin page's packaging, and the
marked blocks of getting-started.md and sweeps.md, with nothing but what they install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, copy_example

README = REPO / "README.md"
DOCS = REPO / "docs"


def _env(bin_dir: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MOLEXP_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(bin_dir.parent),
               XDG_CACHE_HOME=str(home / "cache"))
    return env


def _bash(block: str, cwd: Path, env: dict, timeout: int = 600):
    done = subprocess.run(["bash", "-e", "-c", block], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (block, done.stdout[-2000:], done.stderr[-3000:])
    return done


def _blocks(path: Path, marker: str):
    return [b for b in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S)
            if b.startswith(marker)]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A copy of the checkout in a directory named `molexp`, and a new venv with the
    README's first command run in it (which installs molexp and runs the example)."""
    home = tmp_path_factory.mktemp("fresh")
    checkout = copy_example(REPO, home / "src" / "molexp")
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True,
                   timeout=300)
    bin_dir = home / "venv" / "bin"
    env = _env(bin_dir, home)
    (setup,) = [b for b in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
                if "molexp run examples" in b]
    done = _bash(setup, checkout, env)
    return home, checkout, bin_dir, env, done


def test_the_readmes_first_command_runs_the_example(fresh):
    home, checkout, bin_dir, env, done = fresh
    assert (bin_dir / "molexp").exists()
    assert len(list((checkout / "runs").glob("train/smoke/*/run.json"))) == 1
    assert "succeeded" in done.stdout + done.stderr


def test_import_molexp_beside_a_checkout_named_molexp(fresh):
    """From the checkout's parent directory `molexp/` is on sys.path[0]: the installed
    package must still be the one imported, not the checkout as a namespace package."""
    home, checkout, bin_dir, env, _ = fresh
    code = ("import molexp, molexp.workflow\n"
            "print(molexp.__file__)\n"
            "print(molexp.load_config.__module__, molexp.workflow.Task.__name__)\n")
    done = subprocess.run([str(bin_dir / "python"), "-c", code], cwd=checkout.parent,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, names = done.stdout.splitlines()
    assert where == str(checkout / "molexp" / "__init__.py")
    assert names == "molexp.api Task"


def test_the_plugin_pages_packaging_example_installs_and_loads(fresh):
    home, checkout, _, env, _ = fresh
    text = (DOCS / "plugins.md").read_text()
    (toml,) = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S)
               if "# pyproject.toml" in b]
    (module,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                 if b.startswith("# molexp_mything.py")]
    (install,) = _blocks(DOCS / "plugins.md", "# test: plugin")
    work = home / "plugin-user"
    (work / "molexp-mything").mkdir(parents=True)
    (work / "molexp-mything" / "pyproject.toml").write_text(toml)
    (work / "molexp-mything" / "molexp_mything.py").write_text(module)
    block = install.replace("/path/to/molexp", str(checkout))
    block += "\nmolexp plugins --json > plugins.json\n"
    done = _bash(block, work, {k: v for k, v in env.items() if k != "VIRTUAL_ENV"})
    assert "mything" in done.stdout
    plugins = {p["name"]: p for p in json.loads((work / "plugins.json").read_text())}
    assert plugins["mything"]["loaded"] is True
    assert plugins["mything"]["hooks"] == ["molexp_config_candidates"]


def test_the_marked_doc_blocks_run_from_the_fresh_venv(fresh):
    home, checkout, _, env, _ = fresh
    work = home / "docs-user"
    for example in ("run_profiles", "sweeps", "study"):
        copy_example(REPO / "examples" / "operations" / example,
                     work / "examples" / "operations" / example)
    blocks = _blocks(DOCS / "getting-started.md", "# test: run") + \
        _blocks(DOCS / "sweeps.md", "# test: run")
    assert len(blocks) >= 5
    for block in blocks:
        _bash(block, work, env)
    assert list((work / "examples" / "operations" / "sweeps" / "runs" / ".sweeps").iterdir())
