"""The commands the user docs show are real: the marked blocks run, the commands exist."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, molexp_command

DOCS = REPO / "docs"


def test_getting_started_blocks_run(tmp_path):
    text = (DOCS / "getting-started.md").read_text()
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S)
              if b.startswith("# test: run")]
    assert len(blocks) >= 3
    shutil.copytree(REPO / "examples" / "operations" / "run_profiles",
                    tmp_path / "examples" / "operations" / "run_profiles")
    env = dict(os.environ, MOLEXP_RUNS_DIR=str(tmp_path / "runs"),
               PATH=f"{Path(molexp_command()[0]).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MOLEXP_DEBUG", None)
    for block in blocks:
        result = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (block, result.stderr)
    assert len(list((tmp_path / "runs").glob("*/*/*/run.json"))) == 4


def test_commands_named_in_the_docs_exist():
    names = set()
    for path in [*DOCS.glob("*.md"), REPO / "README.md"]:
        text = path.read_text()
        names.update(re.findall(r"`molexp ([a-z]+)\b", text))  # inline code
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):  # code blocks
            names.update(re.findall(r"(?m)^\s*molexp ([a-z]+)\b", block))
    names -= {"run_profiles"}
    assert {"run", "runs", "show", "diff", "rerun", "execute", "config"} <= names
    for name in sorted(names):
        result = subprocess.run(molexp_command() + [name, "--help"], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0, f"`molexp {name}` is in the docs but does not exist"
