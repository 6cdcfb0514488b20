"""Git provenance and the environment record, against real git repositories."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, write

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SCRIPT = '''
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        return {"ok": True}
'''

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=dict(os.environ, **GIT_ENV),
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(workdir, monkeypatch):
    """A committed repository holding the script, and a private molexp cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    project = workdir / "project"
    write(project / "train.py", SCRIPT)
    write(project / "lib" / "data.py", "ROWS = 3\n")
    write(project / ".gitignore", "runs/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")
    return project


def run_in(project: Path, *extra, env=None):
    done = run_molexp("run", "train.py", *extra, cwd=project,
                      env=dict({"XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}, **(env or {})))
    assert done.returncode == 0, done.stderr
    return run_dirs(project / "runs")[-1]


def test_a_clean_tree_records_commit_and_branch_and_no_diff(repo):
    run_dir = run_in(repo)
    info = read_record(run_dir)["git"]
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["branch"] == "main" and info["dirty"] is False
    assert info["diff_file"] is None and info["root"] == str(repo)
    assert not (run_dir / "git.diff").exists()
    # a tree seen clean at this commit and index needs no git process at all
    again = read_record(run_in(repo, env={"PATH": "/nonexistent"}))["git"]
    assert again["dirty"] is False and again["commit"] == info["commit"]


def test_a_dirty_tree_stores_git_diff_head(repo):
    (repo / "lib" / "data.py").write_text("ROWS = 4\n")
    run_dir = run_in(repo)
    info = read_record(run_dir)["git"]
    assert info["dirty"] is True and info["diff_file"] == "git.diff"
    assert (run_dir / "git.diff").read_text() == git(repo, "diff", "HEAD")
    assert "+ROWS = 4" in (run_dir / "git.diff").read_text()
    shown = run_molexp("show", run_dir.name, cwd=repo).stdout
    assert f"git:           {info['commit'][:12]} on main, dirty (diff: git.diff)" in shown


def test_a_staged_change_after_a_clean_run_is_dirty(repo):
    assert read_record(run_in(repo))["git"]["dirty"] is False
    (repo / "lib" / "data.py").write_text("ROWS = 5\n")
    git(repo, "add", "lib/data.py")  # index differs from HEAD; the tree matches the index
    info = read_record(run_in(repo))["git"]
    assert info["dirty"] is True


def test_detached_head_packed_refs_and_linked_worktrees(repo, workdir):
    commit = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert read_record(run_in(repo))["git"]["commit"] == commit
    git(repo, "checkout", "-q", "--detach")
    info = read_record(run_in(repo))["git"]
    assert info["commit"] == commit and info["branch"] is None
    linked = workdir / "linked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    info = read_record(run_in(linked))["git"]
    assert info["commit"] == commit and info["branch"] == "feature"
    assert info["root"] == str(linked) and info["dirty"] is False


def test_outside_a_repository_git_is_null(workdir):
    write(workdir / "alone" / "train.py", SCRIPT)
    done = run_molexp("run", "train.py", cwd=workdir / "alone")
    assert done.returncode == 0, done.stderr
    assert read_record(run_dirs(workdir / "alone" / "runs")[0])["git"] is None


def test_without_a_git_command_the_commit_is_still_known(repo):
    (repo / "lib" / "data.py").write_text("ROWS = 6\n")  # dirty: git would be asked
    info = read_record(run_in(repo, env={"PATH": "/nonexistent"}))["git"]
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["dirty"] is None and info["diff_file"] is None


def test_a_huge_diff_is_cut_at_one_mib_with_a_note(repo):
    (repo / "lib" / "data.py").write_text("x = 1\n" * 300_000)  # ~1.8 MB of diff
    run_dir = run_in(repo)
    info = read_record(run_dir)["git"]
    assert info["dirty"] is True and info["diff_truncated"] is True
    text = (run_dir / "git.diff").read_bytes()
    assert 1 << 20 < len(text) < (1 << 20) + 300
    assert b"# molexp: diff cut at 1048576 bytes" in text


def test_a_damaged_git_directory_never_fails_the_run(repo):
    (repo / ".git" / "HEAD").write_text("garbage\n")
    (repo / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02\xff\xff\xff\xff")
    info = read_record(run_in(repo))["git"]
    assert info["commit"] is None


def fake_site(path: Path, name: str, version: str) -> Path:
    info = path / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def test_the_environment_is_recorded_and_diff_names_what_changed(workdir):
    write(workdir / "train.py", SCRIPT)
    old = fake_site(workdir / "site-old", "numpy", "1.26.4")
    new = fake_site(workdir / "site-new", "numpy", "2.1.0")
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    for site in (old, new):
        done = run_molexp("run", "train.py", cwd=workdir, env=dict(env, PYTHONPATH=str(site)))
        assert done.returncode == 0, done.stderr
    first, second = run_dirs(workdir / "runs")
    record = read_record(first)
    text = (first / record["environment_file"]).read_text()
    assert hashlib.sha256(text.encode()).hexdigest() == record["environment_sha256"]
    assert record["environment_file"] == f"env/{record['environment_sha256']}.txt"
    assert "numpy==1.26.4" in text.splitlines() and "molexp==0.1.0" in text.splitlines()
    assert any(line.startswith("python 3.") for line in text.splitlines())
    assert record["platform"] and record["history"][0]["environment_sha256"] == \
        record["environment_sha256"]
    out = run_molexp("diff", first.name, second.name, cwd=workdir).stdout
    assert "environments differ: numpy 1.26.4 -> 2.1.0" in out
    listed = json.loads(run_molexp("diff", first.name, second.name, "--json",
                                   cwd=workdir).stdout)
    assert listed["environment"] == ["numpy 1.26.4 -> 2.1.0"]
    # installing a distribution is seen at once, cache or not
    fake_site(old, "scipy", "1.14.0")
    done = run_molexp("run", "train.py", cwd=workdir, env=dict(env, PYTHONPATH=str(old)))
    third = run_dirs(workdir / "runs")[-1]
    out = run_molexp("diff", first.name, third.name, cwd=workdir).stdout
    assert "environments differ: scipy (absent) -> 1.14.0" in out
