"""Artifacts: ctx.artifact_dir and the index molexp writes when a task ends, through the
installed `molexp`: nested folders, planted links and FIFOs, bounds, failures, `show`, the
API."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write

MODES = {"fork": ([], {"MOLEXP_START_METHOD": "fork"}),
         "spawn": ([], {"MOLEXP_START_METHOD": "spawn"}),
         "in-process": (["--in-process"], {})}

LEAVING = '''
import os, socket
from pathlib import Path
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        folder = ctx.artifact_dir
        assert folder == ctx.run_dir / "artifacts" / "Train" and folder.is_dir()
        (folder / "model.bin").write_bytes(b"weights" * 1000)
        (folder / "plots" / "deep").mkdir(parents=True)
        (folder / "plots" / "loss.csv").write_text("step,loss\\n0,1.0\\n")
        (folder / "plots" / "deep" / "empty.txt").write_text("")
        secret = Path(os.environ["SECRET_DIR"])
        os.symlink(secret / "secret.txt", folder / "leak.txt")      # a link to a file
        os.symlink(secret, folder / "plots" / "leakdir")            # a link to a folder
        os.mkfifo(folder / "pipe")                                  # would block a reader
        server = socket.socket(socket.AF_UNIX)
        os.chdir(folder)  # a socket's path is short: bind it relative
        server.bind("sock")
        return {"folder": str(folder)}


class Report(Task):
    name = "report / final"  # not a plain file name: a folder of its own all the same

    def execute(self, ctx):
        (ctx.artifact_dir / "summary.txt").write_text("done")
        return {"folder": ctx.artifact_dir.name}
'''


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def secret(tmp_path):
    folder = tmp_path / "secret"
    folder.mkdir()
    (folder / "secret.txt").write_text("do not index me")
    (folder / "inside.txt").write_text("nor me")
    return folder


@pytest.mark.parametrize("mode", MODES)
def test_the_index_lists_nested_files_and_skips_links_fifos_and_sockets(workdir, secret,
                                                                         mode):
    args, env = MODES[mode]
    write(workdir / "leave.py", LEAVING)
    result = run_molexp("run", "leave.py", *args, cwd=workdir, timeout=60,
                        env=dict(env, SECRET_DIR=str(secret)))
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    index = json.loads((run_dir / "artifacts" / "Train.index.json").read_text())
    assert index["files"] == [
        {"path": "model.bin", "size": 7000, "sha256": sha(b"weights" * 1000)},
        {"path": "plots/deep/empty.txt", "size": 0, "sha256": sha(b"")},
        {"path": "plots/loss.csv", "size": 16, "sha256": sha(b"step,loss\n0,1.0\n")},
    ]
    assert index["skipped"] == [
        {"path": "leak.txt", "reason": "a symbolic link (not followed)"},
        {"path": "pipe", "reason": "a FIFO (not a regular file; not read)"},
        {"path": "plots/leakdir", "reason": "a symbolic link (not followed)"},
        {"path": "sock", "reason": "a socket (not a regular file; not read)"},
    ]
    assert index["complete"] is True and index["count"] == 3 and index["bytes"] == 7016
    assert index["task"] == "Train" and index["attempt"] == 1
    assert "index me" not in json.dumps(index) and "inside" not in json.dumps(index)
    tasks = read_record(run_dir)["tasks"]
    assert tasks["Train"]["artifacts"] == {"dir": "artifacts/Train", "files": 3,
                                           "bytes": 7016, "skipped": 4, "complete": True}
    folder = task_result(run_dir, "report / final")["folder"]
    assert folder.startswith("report___final-") and len(folder) == len("report___final-") + 12
    assert tasks["report / final"]["artifacts"]["dir"] == f"artifacts/{folder}"

    shown = run_molexp("show", run_dir.name, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "artifacts:\n  Train: 3 file(s), 6.9 KiB in artifacts/Train/ (4 skipped)" in text
    assert re.search(rf"\n    model.bin +6.8 KiB  {sha(b'weights' * 1000)[:16]}\n", text)
    assert "    skipped pipe: a FIFO (not a regular file; not read)" in text
    assert f"  report / final: 1 file(s), 4 B in artifacts/{folder}/" in text
    data = json.loads(run_molexp("show", run_dir.name, "--json", cwd=workdir).stdout)
    assert data["artifacts"]["Train"]["files"] == index["files"]
    assert data["artifacts"]["report / final"]["files"][0]["path"] == "summary.txt"

    import molexp

    run = molexp.get_run(run_dir)
    assert list(run.artifacts) == ["Train", "report / final"]
    assert run.artifacts["Train"]["skipped_count"] == 4
    assert run.artifacts["Train"]["files"] == index["files"]


FAILING = '''
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        (ctx.artifact_dir / f"attempt{ctx.attempt}.txt").write_text("partial")
        if ctx.attempt == 1:
            raise RuntimeError("diverged")
        return {"ok": True}
'''


def test_a_failed_task_is_indexed_too_and_a_resumed_one_again(workdir):
    write(workdir / "fail.py", FAILING)
    assert run_molexp("run", "fail.py", cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    task = read_record(run_dir)["tasks"]["Train"]
    assert task["status"] == "failed" and task["artifacts"]["files"] == 1
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert "Train: 1 file(s), 7 B in artifacts/Train/" in shown and "attempt1.txt" in shown
    assert run_molexp("run", "fail.py", "--resume", cwd=workdir).returncode == 0
    index = json.loads((run_dir / "artifacts" / "Train.index.json").read_text())
    assert [f["path"] for f in index["files"]] == ["attempt1.txt", "attempt2.txt"]
    assert index["attempt"] == 2


BOUNDS = '''
import os
from molexp.workflow import Task


class Many(Task):
    def execute(self, ctx):
        folder = ctx.artifact_dir
        for i in range(10050):
            (folder / f"f{i:05d}").write_bytes(b"")


class Deep(Task):
    def execute(self, ctx):
        path = ctx.artifact_dir
        for i in range(70):
            path = path / "d"
        path.mkdir(parents=True)
        (path / "bottom.txt").write_text("x")
        (ctx.artifact_dir / "top.txt").write_text("y")


class Huge(Task):
    def execute(self, ctx):
        with open(ctx.artifact_dir / "a-sparse.bin", "wb") as handle:
            handle.truncate(1024 ** 3 + 1)  # no disk space, but past the hashing budget
        (ctx.artifact_dir / "b-small.txt").write_text("z")
'''


def test_the_walk_is_bounded_and_says_what_it_cut(workdir):
    write(workdir / "bounds.py", BOUNDS)
    result = run_molexp("run", "bounds.py", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    tasks = read_record(run_dir)["tasks"]
    many = json.loads((run_dir / "artifacts" / "Many.index.json").read_text())
    assert many["count"] == 10000 and many["complete"] is False
    assert many["notes"] == ["stopped after 10,000 entries; the rest is not indexed"]
    assert tasks["Many"]["artifacts"]["complete"] is False
    deep = json.loads((run_dir / "artifacts" / "Deep.index.json").read_text())
    assert [f["path"] for f in deep["files"]] == ["top.txt"]
    assert deep["skipped"][0]["path"] == "d/" * 65  # 64 levels are read
    assert "nested deeper than 64 folders" in deep["skipped"][0]["reason"]
    huge = json.loads((run_dir / "artifacts" / "Huge.index.json").read_text())
    assert huge["files"][0] == {"path": "a-sparse.bin", "size": 1024 ** 3 + 1,
                                "sha256": None}
    assert huge["files"][1]["sha256"] == sha(b"z")
    assert "1024 MiB hashing budget" in huge["notes"][0]
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert "Many: 10000 file(s), 0 B in artifacts/Many/ (incomplete)" in shown
    assert "... and 9980 more (--json lists them all)" in shown
    assert re.search(r"\n    a-sparse.bin +1.0 GiB  not hashed\n", shown)


PLANTED = '''
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        (ctx.artifact_dir / "x.txt").write_text("x")
'''


@pytest.mark.parametrize("where", ["artifacts", "artifacts/Train"])
def test_a_planted_link_for_the_folder_is_refused_and_never_followed(workdir, tmp_path,
                                                                      where):
    write(workdir / "planted.py", PLANTED)
    assert run_molexp("run", "planted.py", cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (run_dir / where).parent.mkdir(exist_ok=True)
    (run_dir / where).symlink_to(target)
    assert run_molexp("run", "planted.py", "--resume", cwd=workdir).returncode == 1
    error = read_record(run_dir)["tasks"]["Train"]["error"]
    assert f"{run_dir / where} is a symbolic link, not a file molexp wrote; refused" in error
    assert list(target.iterdir()) == []


def test_an_edited_or_foreign_index_is_refused_with_the_reason(workdir, secret):
    write(workdir / "leave.py", LEAVING)
    assert run_molexp("run", "leave.py", cwd=workdir,
                      env={"SECRET_DIR": str(secret)}).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    index_file = run_dir / "artifacts" / "Train.index.json"
    index = json.loads(index_file.read_text())
    cases = [
        (json.dumps(dict(index, task="Other")), "it is not the index of task 'Train'"),
        (json.dumps(dict(index, files=[{"path": "a", "size": -1}])), "is malformed"),
        ("{not json", "cannot be used"),
    ]
    for text, reason in cases:
        index_file.write_text(text)
        shown = run_molexp("show", run_dir.name, cwd=workdir)
        assert shown.returncode == 0
        assert "  Train: artifacts/Train: artifacts/Train.index.json cannot be used: " \
            in shown.stdout and reason in shown.stdout
    index_file.unlink()
    os.mkfifo(index_file)
    shown = run_molexp("show", run_dir.name, "--json", cwd=workdir, timeout=30)
    assert "is a FIFO" in json.loads(shown.stdout)["artifacts"]["Train"]["error"]
    index_file.unlink()
    data = json.loads(run_molexp("show", run_dir.name, "--json", cwd=workdir).stdout)
    assert data["artifacts"]["Train"]["error"].startswith("not indexed")


def test_a_task_without_a_folder_records_nothing(workdir):
    write(workdir / "plain.py", "from molexp.workflow import Task\n\nclass T(Task):\n"
          "    def execute(self, ctx):\n        return 1\n")
    assert run_molexp("run", "plain.py", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    assert not (run_dir / "artifacts").exists()
    assert "artifacts" not in read_record(run_dir)["tasks"]["T"]
    shown = run_molexp("show", run_dir.name, "--json", cwd=workdir)
    assert json.loads(shown.stdout)["artifacts"] == {}
