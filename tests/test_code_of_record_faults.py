"""The code of record under faults: per-task code in `diff` and `show`, and the
run store's rules (no link followed, no FIFO waited on) for `snapshots/`, `env/` and
the files in them.  Real runs of the installed `molexp`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, write

SCRIPT = '''
from pathlib import Path
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        return 1


class Check(Task):
    def execute(self, ctx):
        if Path("fail-now").exists():
            raise RuntimeError("not yet")
        return "first version"
'''


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def resumed_with_edited_code(workdir: Path) -> tuple:
    """Run a: one attempt of SCRIPT.  Run b: the same script, failed in Check, then
    resumed after an edit to Check: Train's result comes from the first script,
    Check's from the edited one."""
    script = write(workdir / "pipeline.py", SCRIPT)
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (workdir / "fail-now").write_text("")
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (workdir / "fail-now").unlink()
    script.write_text(SCRIPT.replace('"first version"', '"second version"'))
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    first, second = run_dirs(workdir / "runs")
    return first, second, sha(SCRIPT.lstrip("\n").encode()), sha(script.read_bytes())


def test_diff_compares_the_code_each_result_came_from(workdir):
    a, b, old, new = resumed_with_edited_code(workdir)
    assert read_record(a)["script_sha256"] == read_record(b)["script_sha256"] == old
    out = run_molexp("diff", a.name, b.name, cwd=workdir).stdout
    assert "config: identical" in out
    assert "script: same" not in out
    assert "script: differs\n" in out
    assert f"  task Check:  {old[:12]} (attempt 1)  ->  {new[:12]} (attempt 2)" in out
    assert "task Train" not in out  # reused: both results came from the same code
    data = json.loads(run_molexp("diff", a.name, b.name, "--json", cwd=workdir).stdout)
    assert data["scripts_differ"] is True
    assert data["code"] == [{"task": "Check", "a": old, "b": new, "a_attempt": 1,
                             "b_attempt": 2}]
    same = run_molexp("diff", a.name, a.name, cwd=workdir).stdout
    assert f"script: same (sha256 {old[:12]})" in same


def test_show_names_the_script_a_resumed_task_ran(workdir):
    _, b, old, new = resumed_with_edited_code(workdir)
    shown = run_molexp("show", b.name, cwd=workdir).stdout
    tasks = shown.split("\ntasks:\n")[1]
    assert "  Train: succeeded (attempt 1)  -> 1" in tasks
    assert (f"  Check: succeeded (attempt 2, script {new[:12]}, not the run's first "
            'script)  -> "second version"') in tasks


@pytest.fixture
def failed(workdir, monkeypatch):
    """A failed run of pipeline.py in a git work tree, the script then edited (dirty),
    and a directory a planted link points to."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    script = write(workdir / "pipeline.py", SCRIPT)
    write(workdir / ".gitignore", "runs/\nfail-now\nelsewhere/\ncache/\n")
    if shutil.which("git"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@x")
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "m"]):
            subprocess.run(["git", *argv], cwd=workdir, env=env, check=True, timeout=60)
    (workdir / "fail-now").write_text("")
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (workdir / "fail-now").unlink()
    script.write_text(SCRIPT.replace('"first version"', '"fixed"'))
    (run_dir,) = run_dirs(workdir / "runs")
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    return script, run_dir, elsewhere


def test_a_link_planted_at_snapshots_is_refused_not_written_through(workdir, failed):
    script, run_dir, elsewhere = failed
    (run_dir / "snapshots").symlink_to(elsewhere)
    done = run_molexp("run", script, "--resume", cwd=workdir, timeout=60)
    assert done.returncode == 1
    assert f"{run_dir / 'snapshots'} is a symbolic link, not a file molexp wrote" \
        in done.stderr
    assert "Traceback" not in done.stderr
    assert list(elsewhere.iterdir()) == []  # neither the .py snapshot nor its .diff
    record = read_record(run_dir)
    assert record["attempts"] == 1 and len(record["snapshots"]) == 1


def test_a_link_planted_at_env_is_never_written_through(workdir, failed):
    script, run_dir, elsewhere = failed
    shutil.rmtree(run_dir / "env")
    (run_dir / "env").symlink_to(elsewhere)
    done = run_molexp("run", script, "--resume", cwd=workdir, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list(elsewhere.iterdir()) == []
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 2
    # the environment of attempt 2 is unrecorded, not claimed to be attempt 1's
    assert record["environment_sha256"] is None and record["environment_file"] is None
    assert record["history"][1]["environment_sha256"] is None


def test_fifos_at_stored_code_and_environment_files_never_block(workdir, failed):
    script, run_dir, _ = failed
    record = read_record(run_dir)
    env_file = run_dir / record["environment_file"]
    env_file.unlink()
    os.mkfifo(env_file)
    out = run_molexp("diff", run_dir.name, run_dir.name, cwd=workdir, timeout=60)
    assert out.returncode == 0 and "environment: same" in out.stdout
    other = write(workdir / "other.py", SCRIPT)
    site = workdir / "site" / "numpy-1.0.dist-info"  # another environment: compared
    write(site / "METADATA", "Metadata-Version: 2.1\nName: numpy\nVersion: 1.0\n")
    done = run_molexp("run", other, cwd=workdir, env={"PYTHONPATH": str(site.parent)})
    assert done.returncode == 0, done.stderr
    second = [d for d in run_dirs(workdir / "runs") if d != run_dir][0]
    out = run_molexp("diff", run_dir.name, second.name, cwd=workdir, timeout=60)
    assert out.returncode == 0 and "environment: not recorded for both runs" in out.stdout
    (run_dir / "script.py").unlink()
    os.mkfifo(run_dir / "script.py")
    done = run_molexp("execute", run_dir, cwd=workdir, timeout=60)
    assert done.returncode == 1
    assert (f"its stored script {run_dir / 'script.py'} is not a file molexp wrote "
            "(a link, a FIFO, or under a link)") in done.stderr
