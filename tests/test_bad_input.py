"""Bad input, table-driven: exit code, one clear line, no traceback, no run directory.

Each case writes its files, runs the installed `molexp`, and checks the common
promises; a few run again with MOLEXP_DEBUG=1, which must show the traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONFIG_ECHO_SCRIPT, molexp_command, run_molexp

GOOD_YAML = "version: 1\ndefaults:\n  epochs: 3\nprofiles:\n  smoke: {epochs: 1}\n"
LAUGHS = "version: 1\ndefaults:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
DEEP_FLOW = "version: 1\ndefaults:\n  x: " + "[" * 10000 + "]" * 10000 + "\n"
DEEP_BLOCK = "version: 1\ndefaults:\n" + "".join(
    "  " * (i + 1) + f"k{i}:\n" for i in range(10000)) + "  " * 10001 + "v: 1\n"
DEEP_BLOCK_SMALL = "version: 1\ndefaults:\n" + "".join(
    " " * (i + 1) + f"k{i}:\n" for i in range(2000)) + " " * 2001 + "v: 1\n"
DEEP_JSON = '{"version": 1, "defaults": {"x": ' + "[" * 10000 + "]" * 10000 + "}}"


# Config edge cases (issue 11): every one a clean error before it can raise in a parser.
def nested_json(levels, where="defaults"):
    """`levels` lists nested in one value: the config's level is levels + 1."""
    inner = '{"x": ' + "[" * levels + "]" * levels + "}"
    if where == "profiles":
        inner = '{"p": ' + inner + "}"
    return js('{"version": 1,\n "%s": %s}' % (where, inner))


BIG = "9" * 5000
SEGMENTS_1000 = ".".join(f"k{i}" for i in range(1000))
FIFO = object()  # a named pipe where the config file should be


class Link(str):
    """A symbolic link to this target."""


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
                           "molcfg.yaml:4:3: duplicate key 'a' (first at line 3;"),
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
    "json-deep": (js(DEEP_JSON), [], 2, "molcfg.json:1: nesting deeper than 200 levels"),
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
    "yaml-surrogate-pair": (yaml('version: 1\ndefaults:\n  a: "\\ud83d\\ude00"\n'), [], 2,
                            "molcfg.yaml:3: defaults: a: '\\ud83d\\ude00' is a UTF-16 surrogate "
                            "pair, not a character: write the character itself or '\\U0001F600'"),
    "yaml-lone-surrogate": (yaml('version: 1\ndefaults:\n  a: [ok, "x\\udc00"]\n'), [], 2,
                            "molcfg.yaml:3: defaults: a: '\\udc00' is a lone UTF-16 surrogate"),
    "yaml-surrogate-key": (yaml('version: 1\ndefaults:\n  a:\n    "\\ud800": 1\n'), [], 2,
                           "molcfg.yaml:4: defaults: a: a key: '\\ud800' is a lone"),
    "json-unknown-extends-line": (js('{"version": 1,\n "profiles": {\n  "p": {"extends": "q"}}}'),
                                  [], 2, "molcfg.json:3: profile 'p' extends unknown profile"),
    "json-duplicate-key-line": (js('{"version": 1,\n "defaults": {"a": 1,\n  "a": 2}}'), [], 2,
                                "molcfg.json:3: duplicate key 'a'"),
    "json-lone-surrogate": (js('{"version": 1,\n "defaults": {"a": "\\ud800"}}'), [], 2,
                            "molcfg.json:2: \"\\ud800\" holds a lone UTF-16 surrogate"),
    "json-nested-200": (nested_json(200), [], 2,
                        "molcfg.json:2: defaults: x: nesting deeper than 200 levels"),
    "json-nested-200-profile": (nested_json(200, "profiles"), [], 2,
                                "molcfg.json:2: nesting deeper than 200 levels"),
    "json-nested-500": (nested_json(500), [], 2, "molcfg.json:2: nesting deeper than 200"),
    "json-nested-990": (nested_json(990), [], 2, "molcfg.json:2: nesting deeper than 200"),
    "override-1000-segments": (yaml(GOOD_YAML), ["-o", SEGMENTS_1000 + "=1"], 2,
                               "the key has 1000 dotted segments; nesting deeper than 200"),
    "override-201-segments": (yaml(GOOD_YAML), ["-o", ".".join(["a"] * 201) + "=1"], 2,
                              "the key has 201 dotted segments"),
    "yaml-int-5000-digits": (yaml(f"version: 1\ndefaults:\n  n: {BIG}\n"), [], 2,
                             "molcfg.yaml:3:6: an integer of 5000 digits; molexp reads "
                             "integers of at most 4300 digits"),
    "yaml-int-5000-digits-key": (yaml(f"version: 1\ndefaults:\n  ? {BIG}\n  : 1\n"), [], 2,
                                 "molcfg.yaml:3:5: an integer of 5000 digits"),
    "yaml-hex-int-huge": (yaml("version: 1\ndefaults:\n  n: 0x" + "f" * 4000 + "\n"), [], 2,
                          "molcfg.yaml:3: defaults: n: an integer of more than 4300 digits"),
    "yaml-sexagesimal-huge": (yaml("%YAML 1.1\n---\nversion: 1\ndefaults:\n  n: "
                                   + ":".join(["59"] * 3000) + "\n"), [], 2,
                              "molcfg.yaml:5:6: an integer of 6000 digits"),
    "json-int-5000-digits": (js('{"version": 1,\n "defaults": {"n": -%s}}' % BIG), [], 2,
                             "molcfg.json:2: an integer of 5000 digits"),
    "override-int-5000-digits": (yaml(GOOD_YAML), ["-o", f"n={BIG}"], 2,
                                 "an integer of 5000 digits; molexp reads integers of at most"),
    "override-invalid-utf8": (yaml(GOOD_YAML), ["-o", "name=caf\udce9"], 2,
                              "--override 'name=caf\\xe9': not valid UTF-8 text (\\xe9 at "
                              "character 9)"),
    "override-invalid-utf8-key": (yaml(GOOD_YAML), ["-o", "\udcff\udcfe=1"], 2,
                                  "not valid UTF-8 text (\\xff at character 1)"),
    "yaml-directive-1.3": (yaml("%YAML 1.3\n---\nversion: 1\n"), [], 2,
                           "molcfg.yaml:1: %YAML 1.3: molexp reads YAML 1.2 documents (and 1.1)"),
    "yaml-directive-1.0": (yaml("%YAML 1.0\n---\nversion: 1\n"), [], 2,
                           "molcfg.yaml:1: %YAML 1.0: molexp reads YAML 1.2"),
    "yaml-directive-second-document": (yaml("version: 1\n...\n%YAML 1.9\n---\nx: 1\n"), [],
                                       2, "molcfg.yaml:3: %YAML 1.9: molexp reads"),
    "yaml-directive-huge-minor": (yaml(f"%YAML 1.{BIG}\n---\nversion: 1\n"), [], 2,
                                  "molcfg.yaml:1: %YAML 1.9999999999: molexp reads"),
    "sweep-surrogate-value": (yaml('version: 1\nsweeps:\n  s:\n    grid:\n      a: ["\\ud800", 2]\n'),
                              ["--sweep", "s"], 2,
                              "molcfg.yaml:5: sweep 's': a: '\\ud800' is a lone UTF-16 surrogate"),
    "sweep-key-300-segments": (yaml("version: 1\nsweeps:\n  s:\n    points:\n      - {%s: 1}\n"
                                    % ".".join(["k"] * 300)), ["--sweep", "s"], 2,
                               "has 300 dotted segments; nesting deeper than 200 levels"),
    "config-fifo": ({"molcfg.yaml": FIFO}, ["--config", "molcfg.yaml"], 2,
                    "molcfg.yaml: not a regular file"),
    "config-link-to-dev-zero": ({"molcfg.yaml": Link("/dev/zero")}, [], 2,
                                "molcfg.yaml: not a regular file"),
    "profile-leading-dash": (yaml("version: 1\nprofiles:\n  -x: {}\n"), [], 2,
                             "molcfg.yaml:3: invalid profile name '-x': a name cannot start "
                             "with '-' (on a command line it reads as an option); '_x' is the "
                             "same profile"),
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
        if content is FIFO:
            os.mkfifo(path)
        elif isinstance(content, Link):
            path.symlink_to(content)
        elif isinstance(content, bytes):
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
def test_hostile_documents_are_refused_within_200_mb(tmp_path, case_id):
    """Refused, not crashed, in under 200 MB (measured on a child of its own). How
    long it takes is measured by bench/hostile.py, as a ratio: a wall-clock bound in
    a test fails on a loaded machine."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(rss, done.returncode)\n"
    )
    files = CASES[case_id][0]
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "echo.py").write_text(CONFIG_ECHO_SCRIPT)
    out = subprocess.run([sys.executable, "-c", probe, *molexp_command(), "run", "echo.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    rss_kb, code = out.stdout.split()
    assert int(code) == CASES[case_id][2]  # refused, as the table says, not crashed
    assert int(rss_kb) < 200 * 1024
    assert not Path(tmp_path / "runs").exists()


# Hostile but valid: accepted, and quickly (a generous timeout the exponential
# resolution missed by minutes; the figures are measured in bench/ and the report).
from test_profile_order import chain, everything_before, ladder  # noqa: E402

# id: (molcfg.yaml, profile, the key and value the run's task sees)
ACCEPTED = {
    "extends-chain-800": (chain(800), "p799", ("x", 799)),  # 19 KB; did not end in 2 min
    "extends-diamond-28": (everything_before(28), "p27", ("x", 27)),  # each extends all before
    "extends-ladder-120": (ladder(60), "b59", ("y", 59)),  # 2**59 paths through it
}


@pytest.mark.parametrize("case_id", sorted(ACCEPTED))
def test_hostile_extends_graphs_run_list_and_complete(workdir, echo_script, case_id):
    from test_replay_and_completion import complete

    text, last, (key, value) = ACCEPTED[case_id]
    (workdir / "molcfg.yaml").write_text(text)
    done = run_molexp("run", echo_script, "-p", last, cwd=workdir, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = run_molexp("config", "show", "--json", "-p", last, cwd=workdir, timeout=60)
    assert json.loads(shown.stdout)["config"][key] == value, shown.stderr
    listing = run_molexp("config", "profiles", cwd=workdir, timeout=60)
    assert listing.returncode == 0, listing.stderr
    names = complete("molexp run echo.py --profile ", workdir)  # within its own timeout
    assert last in names and len(names) == text.count("\n  ")


def test_completion_never_parses_a_big_config_it_has_not_seen(workdir, echo_script):
    """YAML parses at well under 1 MB/s: a Tab on a large file answers at once (from
    the parse cache once a command has parsed it), never after seconds."""
    from test_replay_and_completion import complete

    body = "".join(f"  key_{i}: value_{i}\n" for i in range(14000))
    (workdir / "molcfg.yaml").write_text(f"version: 1\nprofiles:\n  big: {{}}\ndefaults:\n{body}")
    assert (workdir / "molcfg.yaml").stat().st_size > 256 * 1024
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    assert complete("molexp run echo.py --profile ", workdir, env) == []
    assert run_molexp("config", "show", cwd=workdir, env=env).returncode == 0  # parsed, cached
    assert complete("molexp run echo.py --profile ", workdir, env) == ["big"]


@pytest.mark.parametrize("levels,accepted", [(199, True), (200, False)])
def test_one_nesting_limit_for_yaml_json_and_overrides(workdir, levels, accepted):
    """A config's level 201 is refused whatever it is written in; 200 is read."""
    nest = "[" * levels + "]" * levels
    sources = {
        "yaml-block": ("c.yaml", f"version: 1\ndefaults:\n  x: {nest}\n", []),
        "yaml-flow-profile": ("c.yaml", "{version: 1, profiles: {p: {x: %s}}}" % nest,
                              ["-p", "p"]),
        "json": ("c.json", '{"version": 1, "defaults": {"x": %s}}' % nest, []),
        "json-profile": ("c.json", '{"version": 1, "profiles": {"p": {"x": %s}}}' % nest,
                         ["-p", "p"]),
        "override": ("c.yaml", "version: 1\n",
                     ["-o", ".".join(["k"] * (levels + 1)) + "=1"]),
    }
    for source, (name, text, args) in sources.items():
        (workdir / name).write_text(text)
        out = run_molexp("config", "show", "--json", "--config", name, *args, cwd=workdir)
        assert (out.returncode == 0) == accepted, (source, out.stderr)
        if not accepted:
            assert out.returncode == 2 and "nesting deeper than 200 levels" in out.stderr, \
                (source, out.stderr)


# The parse cache against a file saved while molexp parses it: a real writer
# racing the real parser, in separate processes.
def document(marker: str, keys: int = 3000) -> str:
    """A config big enough that parsing it takes a while (the window to hit)."""
    body = "".join(f"  k{i}: {{a: {i}, b: [x, y, {i}]}}\n" for i in range(keys))
    return f"version: 1\ndefaults:\n  marker: {marker}\n{body}"


def save(path, text):
    """As editors save: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def marker(result) -> str:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["config"]["marker"]


def test_a_file_saved_while_it_is_parsed_is_never_served_stale(workdir):
    env = dict(os.environ, XDG_CACHE_HOME=str(workdir / "cache"))
    env.pop("MOLEXP_NO_CONFIG_CACHE", None)
    config = workdir / "molcfg.yaml"
    save(config, document("warm-up"))
    start = time.monotonic()
    marker(run_molexp("config", "show", "--json", cwd=workdir,
                      env={"MOLEXP_NO_CONFIG_CACHE": "1"}))
    parse_time = time.monotonic() - start  # start-up is a small part of it
    raced = 0
    for attempt, fraction in enumerate((0.5, 0.75, 0.3, 0.9, 0.6, 0.4)):
        save(config, document(f"old-{attempt}"))  # new bytes: never in the cache
        first = subprocess.Popen(molexp_command() + ["config", "show", "--json"], cwd=workdir,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        time.sleep(parse_time * fraction)
        save(config, document(f"new-{attempt}"))
        raced += first.poll() is None  # saved while the first was still at work
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert json.loads(out)["config"]["marker"] in (f"old-{attempt}", f"new-{attempt}")
        # every later run sees the file as it is now, never the parse of the old bytes
        for _ in range(2):
            again = run_molexp("config", "show", "--json", cwd=workdir,
                               env={"XDG_CACHE_HOME": str(workdir / "cache")})
            assert marker(again) == f"new-{attempt}", f"attempt {attempt}: stale cache"
    assert raced >= 3  # the writer really raced the parser, more than once
    assert list((workdir / "cache" / "molexp" / "configs").iterdir())  # the cache was used


def test_a_file_changed_back_and_forth_is_still_read_as_it_is(workdir):
    """Two versions alternating: each run shows what is on disk, cached or not."""
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    config = workdir / "molcfg.yaml"
    for round_ in range(3):
        for name in ("a", "b"):
            save(config, document(name, keys=5))
            assert marker(run_molexp("config", "show", "--json", cwd=workdir, env=env)) == name
    assert len(list((workdir / "cache" / "molexp" / "configs").iterdir())) == 2
