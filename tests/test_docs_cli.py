"""docs/cli.md is generated from the Click commands and must be current."""

import os
import subprocess
import sys

from conftest import REPO


def test_cli_reference_is_current():
    env = dict(os.environ, MOLEXP_LOAD_PLUGINS="")  # built-in plugins only
    result = subprocess.run([sys.executable, str(REPO / "docs" / "gen_cli.py")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    current = (REPO / "docs" / "cli.md").read_text()
    assert result.stdout == current, (
        "docs/cli.md is out of date: run "
        "MOLEXP_LOAD_PLUGINS= python docs/gen_cli.py > docs/cli.md")
