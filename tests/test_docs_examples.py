"""The commands the user docs show are real: the marked blocks run, the commands exist."""

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO, copy_example, molexp_command

DOCS = REPO / "docs"


def test_getting_started_blocks_run(tmp_path):
    text = (DOCS / "getting-started.md").read_text()
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S)
              if b.startswith("# test: run")]
    assert len(blocks) >= 3
    copy_example(REPO / "examples" / "operations" / "run_profiles",
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


def test_run_stores_left_by_following_the_docs_are_ignored_and_never_copied():
    """`cd examples/operations/sweeps && molexp run ...` (docs/sweeps.md) leaves a
    runs/ there: git ignores it, and the tests copy only the example's own files."""
    from conftest import example_files

    for example in ("sweeps", "run_profiles"):
        probe = f"examples/operations/{example}/runs/train/smoke/x/run.json"
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", probe],
                                 cwd=REPO, timeout=30)
        assert ignored.returncode == 0, f"{probe} is not ignored by .gitignore"
    example = REPO / "examples" / "operations" / "sweeps"
    runs = example / "runs"
    planted = runs / ".sweeps" / "sw-probe-newcomer" / "sweep.json"
    made = not runs.exists()
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("{}")
    try:
        files = [str(f) for f in example_files(example)]
        assert "train.py" in files and "molcfg.yaml" in files
        assert not [f for f in files if f.startswith("runs")], files
    finally:
        planted.unlink()
        for directory in (planted.parent, planted.parent.parent, runs):
            if directory != runs or made:
                try:
                    directory.rmdir()  # only when empty: never a user's own runs
                except OSError:
                    pass


def test_the_study_transcript_in_docs_sweeps_is_what_molexp_prints(tmp_path):
    """docs/sweeps.md's transcript (3 tasks, 12 points, --best, --pivot, the summary's
    result columns) is real: each command's output, ids and paths aside."""
    text = (DOCS / "sweeps.md").read_text()
    (transcript,) = [b for b in re.findall(r"```text\n(.*?)```", text, re.S)
                     if b.startswith("$ molexp run study.py")]
    where = copy_example(REPO / "examples" / "operations" / "study",
                         tmp_path / "examples" / "operations" / "study")
    env = dict(os.environ, PATH=f"{Path(molexp_command()[0]).parent}{os.pathsep}"
               f"{os.environ['PATH']}")
    for key in ("MOLEXP_RUNS_DIR", "MOLEXP_DEBUG"):
        env.pop(key, None)

    def masked(output):
        output = re.sub(r"sw-\d{8}-\d{6}-\d{6}-[0-9a-f]{4}", "<sweep>", output)
        output = re.sub(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{4}", "<run id>", output)
        return re.sub(r"config: \S+/examples/operations/study/", "config: <dir>/", output)

    commands = re.split(r"(?m)^\$ ", transcript)[1:]
    assert len(commands) == 4
    for chunk in commands:
        command, _, expected = chunk.partition("\n")
        done = subprocess.run(["bash", "-c", command + " 2>&1"], cwd=where, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout
        assert masked(done.stdout) == masked(expected), command
