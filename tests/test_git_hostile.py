"""Git provenance against hostile repositories: no program the repository (or an
inherited GIT_* variable) names ever runs, nothing blocks, a slow git is cut off.

Real repositories, a real `git`, the installed `molexp`; a "canary" program records
every call in a directory the tests then check is empty.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(["git", *args], cwd=repo, env=dict(env, **GIT_ENV),
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


@pytest.fixture
def canary(workdir):
    """A program that records its call as a file named by its first argument (then
    copies stdin to stdout, as a filter would), and the directory of those records."""
    calls = workdir / "canary-calls"
    calls.mkdir()
    program = workdir / "canary"
    program.write_text(f'#!/bin/sh\ntouch "{calls}/$1"\ncat\n')
    program.chmod(0o755)
    return program, calls


@pytest.fixture
def repo(workdir, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    project = workdir / "project"
    write(project / "train.py", SCRIPT)
    write(project / "data.py", "x = 1\n")
    write(project / "notes.txt", "first\n")
    write(project / "more.cfg", "a = 1\n")
    write(project / ".gitignore", "runs/\n")
    write(project / ".gitattributes",
          "*.py filter=evil diff=evil\n*.txt filter=evilproc diff=evil\n*.cfg filter=inc\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")
    return project


def make_hostile(project: Path, program: Path) -> None:
    """Every configuration by which git runs a program, pointing at the canary."""
    hooks = project.parent / "hooks"
    hooks.mkdir()
    for hook in ("post-index-change", "pre-commit", "post-checkout", "reference-transaction",
                 "fsmonitor-watchman", "pre-auto-gc"):
        (hooks / hook).write_text(f"#!/bin/sh\n{program} hook-{hook}\n")
        (hooks / hook).chmod(0o755)
    extra = project.parent / "included.gitconfig"
    extra.write_text(f'[filter "inc"]\n\tclean = {program} included-clean\n'
                     f'[core]\n\tfsmonitor = {program} included-fsmonitor\n')
    conditional = project.parent / "conditional.gitconfig"
    conditional.write_text(f'[diff]\n\texternal = {program} conditional-external\n')
    with open(project / ".git" / "config", "a") as config:
        config.write(f"""
[core]
\tfsmonitor = {program} fsmonitor
\tpager = {program} pager
\thooksPath = {hooks}
\tsshCommand = {program} ssh
\taskPass = {program} askpass
\teditor = {program} editor
[filter "evil"]
\tclean = {program} clean
\tsmudge = {program} smudge
\trequired = true
[filter "evilproc"]
\tprocess = {program} process
[diff "evil"]
\ttextconv = {program} textconv
\tcommand = {program} diff-command
[diff]
\texternal = {program} external
[pager]
\tdiff = {program} pager-diff
[include]
\tpath = {extra}
[includeIf "gitdir:/"]
\tpath = {conditional}
[alias]
\tdiff = !{program} alias
[credential]
\thelper = !{program} credential
[gpg]
\tprogram = {program} gpg
""")
    (project / ".git" / "info").mkdir(exist_ok=True)
    (project / ".git" / "info" / "attributes").write_text("* diff=evil filter=evil\n")


def user_git_variables(program: Path, elsewhere: Path) -> dict:
    """GIT_* variables a user (or a git hook molexp is started from) may have set."""
    return {"GIT_EXTERNAL_DIFF": f"{program} env-external", "GIT_PAGER": f"{program} env-pager",
            "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor",
            "GIT_CONFIG_VALUE_0": f"{program} env-config",
            "GIT_CONFIG_PARAMETERS": f"'filter.evil.clean'='{program} env-parameters'",
            "GIT_SSH_COMMAND": f"{program} env-ssh", "GIT_DIR": str(elsewhere / ".git"),
            "GIT_WORK_TREE": str(elsewhere), "GIT_INDEX_FILE": str(elsewhere / ".git" / "index")}


def run_in(project: Path, env=None, timeout=90):
    started = time.monotonic()
    done = run_molexp("run", "train.py", cwd=project, timeout=timeout,
                      env=dict({"XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}, **(env or {})))
    assert done.returncode == 0, done.stderr
    return run_dirs(project / "runs")[-1], time.monotonic() - started


def dirty_everywhere(repo: Path) -> None:
    """A change in every file kind the attributes name: git has to read each of them."""
    (repo / "data.py").write_text("x = 2\n")
    (repo / "notes.txt").write_text("second\n")
    (repo / "more.cfg").write_text("a = 2\n")


def check_diff_recorded(repo: Path, run_dir: Path) -> None:
    info = read_record(run_dir)["git"]
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["branch"] == "main" and info["dirty"] is True and info["root"] == str(repo)
    diff = (run_dir / info["diff_file"]).read_text()
    for line in ("+x = 2", "+second", "+a = 2", "-x = 1"):
        assert line in diff


def test_a_hostile_repository_runs_none_of_its_programs(repo, canary):
    program, calls = canary
    make_hostile(repo, program)
    dirty_everywhere(repo)
    run_dir, _ = run_in(repo)
    assert sorted(p.name for p in calls.iterdir()) == []  # no repository program ran
    check_diff_recorded(repo, run_dir)


def test_inherited_git_variables_neither_run_programs_nor_redirect_git(repo, canary,
                                                                        workdir):
    """molexp started with GIT_* set (by the user, or from inside a git hook)."""
    program, calls = canary
    other = workdir / "other"
    write(other / "x.txt", "other repository\n")
    git(other, "init", "-q")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "other")
    dirty_everywhere(repo)
    run_dir, _ = run_in(repo, env=user_git_variables(program, other))
    assert sorted(p.name for p in calls.iterdir()) == []
    check_diff_recorded(repo, run_dir)


def test_a_partial_clone_never_fetches_a_missing_object(repo, canary):
    """A lazy fetch runs the promisor remote's transport: here an `ext::` command."""
    program, calls = canary
    blob = git(repo, "rev-parse", "HEAD:data.py").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    git(repo, "config", "core.repositoryformatversion", "1")
    git(repo, "config", "extensions.partialClone", "origin")
    git(repo, "config", "remote.origin.url", f"ext::{program} fetch")
    git(repo, "config", "remote.origin.promisor", "true")
    git(repo, "config", "protocol.ext.allow", "always")
    (repo / "data.py").write_text("x = 3\n")
    run_dir, _ = run_in(repo)
    assert not list(calls.iterdir())
    info = read_record(run_dir)["git"]
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["dirty"] is None and "git diff exited" in info["unavailable"]
    shown = run_molexp("show", run_dir.name, cwd=repo).stdout
    assert "dirty state unknown (git diff exited" in shown


def fifo_at(repo: Path, where: str) -> None:
    if where == "packed-refs":
        git(repo, "pack-refs", "--all")  # the branch now lives only in packed-refs
    if where == "object":
        blob = git(repo, "rev-parse", "HEAD:data.py").strip()
        where = f"objects/{blob[:2]}/{blob[2:]}"
    path = repo / ".git" / where
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize("where, commit_known, reason", [
    ("HEAD", False, "HEAD is a FIFO"),
    ("refs/heads/main", False, "main is a FIFO"),
    ("packed-refs", False, "packed-refs is a FIFO"),
    ("index", True, "index is not a regular file"),
    ("config", True, None),   # molexp's git never reads the repository's config
    ("object", True, "did not finish within 2 s"),  # git itself blocks: cut off
])
def test_a_fifo_inside_dot_git_never_blocks_the_run(repo, where, commit_known, reason):
    commit = git(repo, "rev-parse", "HEAD").strip()
    (repo / "data.py").write_text("x = 4\n")
    fifo_at(repo, where)
    run_dir, took = run_in(repo, env={"MOLEXP_GIT_TIMEOUT": "2"}, timeout=60)
    assert took < 30
    info = read_record(run_dir)["git"]
    assert info["commit"] == (commit if commit_known else None)
    if reason is None:
        assert info["dirty"] is True and not info.get("unavailable")
    else:
        assert info["dirty"] is None and reason in info["unavailable"]


def test_a_git_that_does_not_finish_is_killed_with_all_it_started(repo, workdir):
    fake = workdir / "slow-bin"
    fake.mkdir()
    pids = workdir / "pids"
    (fake / "git").write_text(f"#!/bin/sh\necho $$ > {pids}.git\nsleep 300 &\n"
                              f"echo $! > {pids}.sleep\nwait\n")
    (fake / "git").chmod(0o755)
    (repo / "data.py").write_text("x = 5\n")
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "MOLEXP_GIT_TIMEOUT": "1"}
    run_dir, took = run_in(repo, env=env, timeout=60)
    assert took < 20
    record = read_record(run_dir)
    assert record["status"] == "succeeded"
    info = record["git"]
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["dirty"] is None
    assert info["unavailable"] == ("git diff did not finish within 1 s "
                                   "($MOLEXP_GIT_TIMEOUT); it was killed")
    for name in ("git", "sleep"):  # the whole session it started, not just git
        pid = int(Path(f"{pids}.{name}").read_text())
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"the fake {name} ({pid}) still runs"
    shown = run_molexp("show", run_dir.name, cwd=repo).stdout
    assert "dirty state unknown (git diff did not finish within 1 s" in shown


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_fifo_at_molexps_own_caches_never_blocks(repo, workdir):
    """The clean-tree verdict and the environment listing are cached under
    $XDG_CACHE_HOME/molexp; a FIFO (or a link) planted there is ignored."""
    run_in(repo)  # a clean tree: its verdict and the environment listing get cached
    cache = workdir / "cache" / "molexp"
    targets = [cache / "git-clean.json", *cache.glob("environment-*.json")]
    assert len(targets) == 2 and all(p.is_file() for p in targets)
    for path in targets:
        path.unlink()
        os.mkfifo(path)
    run_dir, took = run_in(repo, timeout=60)
    assert took < 30
    record = read_record(run_dir)
    assert record["git"]["dirty"] is False and record["environment_sha256"]
    assert all(stat.S_ISFIFO(os.lstat(p).st_mode) for p in targets)  # left alone


@pytest.fixture
def counted_git(workdir):
    """A `git` first on PATH that logs each call, then runs the real one."""
    real = shutil.which("git")
    directory = workdir / "counted-bin"
    directory.mkdir()
    calls = workdir / "git-calls"
    (directory / "git").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real} "$@"\n')
    (directory / "git").chmod(0o755)

    def count() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    return {"PATH": f"{directory}:{os.environ['PATH']}"}, count


def settle(path: Path, seconds_ago: float = 30) -> None:
    past = time.time() - seconds_ago
    os.utime(path, (past, past))


def test_a_tree_diffed_before_in_the_same_state_costs_no_git_process(repo, counted_git):
    env, count = counted_git
    (repo / "data.py").write_text("x = 2\n")
    settle(repo / "data.py")
    first, _ = run_in(repo, env=env)
    assert count() == 1
    second, _ = run_in(repo, env=env)
    assert count() == 1  # the remembered diff, keyed on the state git would look at
    for run_dir in (first, second):
        info = read_record(run_dir)["git"]
        assert info["dirty"] is True and "+x = 2" in (run_dir / info["diff_file"]).read_text()
    # the same size, another content: the file's stat differs, so git is asked again
    (repo / "data.py").write_text("x = 3\n")
    settle(repo / "data.py", 20)
    third, _ = run_in(repo, env=env)
    assert count() == 2
    assert "+x = 3" in (third / "git.diff").read_text()
    # staged: the index changed
    git(repo, "add", "data.py")
    fourth, _ = run_in(repo, env=env)
    assert count() == 3 and "+x = 3" in (fourth / "git.diff").read_text()


def test_a_file_edited_just_now_is_always_diffed_by_git(repo, counted_git):
    """Within two seconds of an edit, stat may not show a second edit: no cache."""
    env, count = counted_git
    (repo / "data.py").write_text("x = 2\n")
    run_in(repo, env=env)
    (repo / "data.py").write_text("x = 7\n")  # same size, same second
    latest, _ = run_in(repo, env=env)
    assert count() == 2 and "+x = 7" in (latest / "git.diff").read_text()


def test_a_sweep_in_a_dirty_tree_runs_git_once(repo, counted_git):
    env, count = counted_git
    (repo / "data.py").write_text("x = 2\n")
    done = run_molexp("run", "train.py", "--sweep", "k=1,2,3,4", cwd=repo, timeout=120,
                      env=dict(env, XDG_CACHE_HOME=os.environ["XDG_CACHE_HOME"]))
    assert done.returncode == 0, done.stderr
    points = run_dirs(repo / "runs")
    assert len(points) == 4 and count() == 1
    for point in points:
        info = read_record(point)["git"]
        assert info["dirty"] is True and "+x = 2" in (point / info["diff_file"]).read_text()


def test_the_hostile_repository_end_to_end(repo, canary, workdir):
    """All at once: hostile configuration (fsmonitor, clean and process filters, ...),
    FIFOs inside .git, then a `git` on PATH too slow to finish: no repository program
    runs, every run finishes, and what could not be learnt says why."""
    program, calls = canary
    make_hostile(repo, program)
    for name in ("FETCH_HEAD", "ORIG_HEAD", "info/exclude", "description"):
        path = repo / ".git" / name
        if path.exists():
            path.unlink()
        os.mkfifo(path)
    dirty_everywhere(repo)
    first, took = run_in(repo, timeout=60)
    assert took < 30 and not list(calls.iterdir())
    check_diff_recorded(repo, first)
    slow = workdir / "slow-bin"
    slow.mkdir()
    (slow / "git").write_text("#!/bin/sh\nsleep 300\n")
    (slow / "git").chmod(0o755)
    (repo / "data.py").write_text("x = 9\n")  # a new state: git has to be asked
    env = {"PATH": f"{slow}:{os.environ['PATH']}", "MOLEXP_GIT_TIMEOUT": "1"}
    second, took = run_in(repo, env=env, timeout=60)
    assert took < 20 and not list(calls.iterdir())
    record = read_record(second)
    assert record["status"] == "succeeded"
    assert record["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert record["git"]["dirty"] is None
    assert "did not finish within 1 s" in record["git"]["unavailable"]
