"""Bad input, table-driven: exit code, one clear line, no traceback, no run directory.

Each case writes its files, runs the installed `molexp`, and checks the common
promises; a few run again with MOLEXP_DEBUG=1, which must show the traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONFIG_ECHO_SCRIPT, molexp_command

GOOD_YAML = "version: 1\ndefaults:\n  epochs: 3\nprofiles:\n  smoke: {epochs: 1}\n"
LAUGHS = "version: 1\ndefaults:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
DEEP_FLOW = "version: 1\ndefaults:\n  x: " + "[" * 10000 + "]" * 10000 + "\n"
DEEP_BLOCK = "version: 1\ndefaults:\n" + "".join(
    "  " * (i + 1) + f"k{i}:\n" for i in range(10000)) + "  " * 10001 + "v: 1\n"
DEEP_BLOCK_SMALL = "version: 1\ndefaults:\n" + "".join(
    " " * (i + 1) + f"k{i}:\n" for i in range(2000)) + " " * 2001 + "v: 1\n"
DEEP_JSON = '{"version": 1, "defaults": {"x": ' + "[" * 10000 + "]" * 10000 + "}}"


def yaml(text):
    return {"molcfg.yaml": text}


def js(text):
    return {"molcfg.json": text}


# id: (files, args, exit code, message substring)
CASES = {
    "yaml-syntax": (yaml("version: 1\ndefaults:\n  a: [1, 2\n  b: 3\n"), [], 2, "molcfg.yaml:4"),
    "yaml-bad-indent": (yaml("version: 1\ndefaults:\n  a: 1\n b: 2\n"), [], 2, "molcfg.yaml:4:"),
    "yaml-tab-indent": (yaml("version: 1\ndefaults:\n\ta: 1\n"), [], 2, "molcfg.yaml:3:"),
    "yaml-duplicate-key": (yaml("version: 1\ndefaults:\n  a: 1\n  a: 2\n"), [], 2,
                           "found duplicate key \"a\""),
    "yaml-python-apply": (yaml("version: 1\ndefaults:\n  x: !!python/object/apply:os.system "
                               "['touch PWNED']\n"), [], 2, "only plain data tags"),
    "yaml-python-name": (yaml("version: 1\ndefaults:\n  x: !!python/name:os.system\n"), [], 2,
                         "only plain data tags"),
    "yaml-custom-tag": (yaml("version: 1\ndefaults:\n  x: !secret abc\n"), [], 2, "!secret"),
    "yaml-binary-garbage": ({"molcfg.yaml": bytes(range(256)) * 4}, [], 2, "not UTF-8"),
    "yaml-nul": ({"molcfg.yaml": b"version: 1\0\n"}, [], 2, "NUL"),
    "yaml-empty": (yaml(""), [], 2, "the file is empty"),
    "yaml-only-comment": (yaml("# nothing here\n"), [], 2, "holds no document"),
    "yaml-alias-bomb": (yaml(LAUGHS), [], 2, "alias bomb"),
    "yaml-deep-flow": (yaml(DEEP_FLOW), [], 2, "nesting deeper than"),
    "yaml-deep-block": (yaml(DEEP_BLOCK), [], 2, "larger than the 16 MiB"),
    "yaml-deep-block-small": (yaml(DEEP_BLOCK_SMALL), [], 2, "nesting deeper than"),
    "json-syntax": (js('{"version": 1,\n "defaults": {"a": 1,}}'), [], 2, "molcfg.json:2:"),
    "json-duplicate-key": (js('{"version": 1, "version": 1}'), [], 2, "duplicate key 'version'"),
    "json-nan": (js('{"version": 1, "defaults": {"a": NaN}}'), [], 2, "NaN is not allowed"),
    "json-infinity": (js('{"version": 1, "defaults": {"a": -Infinity}}'), [], 2,
                      "-Infinity is not allowed"),
    "json-deep": (js(DEEP_JSON), [], 2, "nesting too deep"),
    "json-empty": (js(""), [], 2, "the file is empty"),
    "json-garbage": ({"molcfg.json": b"\x89PNG\r\n\x1a\n\0\0"}, [], 2, "not UTF-8"),
    "version-2": (yaml("version: 2\n"), [], 2, "unsupported version 2"),
    "version-string": (yaml("version: '1'\n"), [], 2, "unsupported version '1'"),
    "version-true": (yaml("version: true\n"), [], 2, "unsupported version True"),
    "version-missing": (yaml("defaults: {a: 1}\n"), [], 2, "missing 'version: 1'"),
    "top-level-list": (yaml("- 1\n- 2\n"), [], 2, "the top level must be a mapping"),
    "top-level-scalar": (js("3"), [], 2, "the top level must be a mapping"),
    "misspelled-profiles": (yaml("version: 1\nprofile: {}\n"), [], 2, "did you mean 'profiles'"),
    "unknown-top-key": (yaml("version: 1\nextra: 1\n"), [], 2, "unknown top-level key 'extra'"),
    "defaults-not-mapping": (yaml("version: 1\ndefaults: 3\n"), [], 2,
                             "'defaults' must be a mapping"),
    "profiles-not-mapping": (yaml("version: 1\nprofiles: [a]\n"), [], 2,
                             "'profiles' must be a mapping"),
    "profile-not-mapping": (yaml("version: 1\nprofiles:\n  a: [1]\n"), [], 2,
                            "profile 'a' must be a mapping"),
    "non-string-key": (yaml("version: 1\ndefaults:\n  1: x\n"), [], 2, "key 1 must be a string"),
    "extends-cycle-1": (yaml("version: 1\nprofiles:\n  a: {extends: a}\n"), [], 2,
                        "'extends' cycle: a -> a"),
    "extends-cycle-3": (yaml("version: 1\nprofiles:\n  a: {extends: b}\n  b: {extends: c}\n"
                             "  c: {extends: a}\n"), [], 2, "'extends' cycle: a -> b -> c -> a"),
    "extends-unknown": (yaml("version: 1\nprofiles:\n  a: {extends: smok}\n  smoke: {}\n"), [], 2,
                        "did you mean 'smoke'"),
    "extends-wrong-type": (yaml("version: 1\nprofiles:\n  a: {extends: 3}\n"), [], 2,
                           "'extends' must be a profile name or a list"),
    "profile-slash": (yaml("version: 1\nprofiles:\n  a/b: {}\n"), [], 2, "invalid profile name"),
    "profile-dotdot": (yaml("version: 1\nprofiles:\n  '..': {}\n"), [], 2, "invalid profile name"),
    "profile-space": (yaml("version: 1\nprofiles:\n  'a b': {}\n"), [], 2, "invalid profile name"),
    "profile-nul": (js('{"version": 1, "profiles": {"a\\u0000b": {}}}'), [], 2,
                    "invalid profile name"),
    "profile-collision": (yaml("version: 1\nprofiles:\n  dry-run: {}\n  dry_run: {}\n"), [], 2,
                          "same profile once dashes become underscores"),
    "unknown-profile": (yaml(GOOD_YAML), ["-p", "smok"], 2, "Did you mean 'smoke'?"),
    "profile-cli-traversal": (yaml(GOOD_YAML), ["-p", "../../etc"], 2, "unknown profile"),
    "profile-without-config": ({}, ["-p", "smoke"], 2, "needs a config file"),
    "config-missing": ({}, ["--config", "nope.yaml"], 2, "does not exist"),
    "config-is-dir": ({"d/x.yaml": GOOD_YAML}, ["--config", "d"], 2, "is a directory"),
    "config-unknown-suffix": ({"c.ini": "[a]\n"}, ["--config", "c.ini"], 2,
                              "installed loaders accept"),
    "override-no-equals": (yaml(GOOD_YAML), ["-o", "epochs"], 2, "expected KEY=VALUE"),
    "override-empty-key": (yaml(GOOD_YAML), ["-o", "=3"], 2, "empty key"),
    "override-empty-segment": (yaml(GOOD_YAML), ["-o", "a..b=1"], 2, "empty key"),
    "override-crosses-scalar": (yaml(GOOD_YAML), ["-o", "epochs.x=1"], 2,
                                "'epochs' is 3 (int), not a mapping"),
    "script-missing": ({}, [], 2, "does not exist", "missing.py"),
    "script-syntax-error": ({"bad.py": "def broken(:\n"}, [], 1, "bad.py:1: syntax error",
                            "bad.py"),
    "script-import-error": ({"imp.py": "import no_such_module_xyz\n"}, [], 1,
                            "imp.py:1: importing the script raised ModuleNotFoundError", "imp.py"),
    "script-no-tasks": ({"empty.py": "x = 1\n"}, [], 1, "no tasks found", "empty.py"),
    "script-task-needs-args": ({"args.py": "from molexp.workflow import Task\n"
                                "class T(Task):\n    def __init__(self, n):\n        self.n = n\n"
                                "    def execute(self, ctx):\n        return 1\n"}, [], 1,
                               "could not be created without arguments", "args.py"),
    "unknown-scheduler": ({}, ["--scheduler", "pbs"], 2, "unknown scheduler 'pbs'"),
    "slurm-option-without-slurm": ({}, ["--partition", "gpu"], 2,
                                   "--partition is an option of scheduler slurm"),
    "slurm-newline-job-name": ({}, ["--scheduler", "slurm", "--job-name", "a\nb"], 2,
                               "control characters"),
    "slurm-bad-cpus": ({}, ["--scheduler", "slurm", "--cpus", "0"], 2, "--cpus"),
}


def run_case(tmp_path, case, debug=False):
    files, args, code, message, *script = case
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    script_name = script[0] if script else "echo.py"
    if not script:
        (tmp_path / "echo.py").write_text(CONFIG_ECHO_SCRIPT)
    env = dict(os.environ)
    env.pop("MOLEXP_DEBUG", None)
    env.pop("MOLEXP_RUNS_DIR", None)
    env["MOLEXP_LOAD_PLUGINS"] = ""  # built-ins only: an installed plugin may read c.ini
    if debug:
        env["MOLEXP_DEBUG"] = "1"
    start = time.time()
    result = subprocess.run(molexp_command() + ["run", script_name, *args], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    return result, time.time() - start


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_bad_input(tmp_path, case_id):
    case = CASES[case_id]
    result, _ = run_case(tmp_path, case)
    code, message = case[2], case[3]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(errors) == 1, result.stderr  # exactly one line says what is wrong
    assert result.stderr.strip() == errors[0], result.stderr  # and nothing else is said
    assert message in errors[0], errors[0]
    assert not (tmp_path / "runs").exists()  # rejected before the run started
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_debug_shows_the_traceback(tmp_path, case_id):
    result, _ = run_case(tmp_path, CASES[case_id], debug=True)
    assert result.returncode == CASES[case_id][2]
    assert "Traceback (most recent call last)" in result.stderr


@pytest.mark.parametrize("case_id", ["yaml-alias-bomb", "yaml-deep-flow", "yaml-deep-block",
                                     "json-deep"])
def test_hostile_documents_are_cheap_to_refuse(tmp_path, case_id):
    """Rejected within 2 s and 200 MB, measured on a child of its own."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.time()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(time.time() - start, rss, done.returncode)\n"
    )
    files = CASES[case_id][0]
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "echo.py").write_text(CONFIG_ECHO_SCRIPT)
    out = subprocess.run([sys.executable, "-c", probe, *molexp_command(), "run", "echo.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    seconds, rss_kb, code = out.stdout.split()
    assert int(code) == CASES[case_id][2]  # refused, as the table says, not crashed
    assert float(seconds) < 2.0  # the bound: within 2 s and 200 MB
    assert int(rss_kb) < 200 * 1024
    assert not Path(tmp_path / "runs").exists()
