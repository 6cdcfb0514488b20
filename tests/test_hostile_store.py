"""The run store against hostile and broken run directories (issue 11, run-store half).

Runs directories are shared, unpacked from tarballs, rsynced from clusters: every
file in them is input.  Each row plants something in a real run directory and runs
the installed `molexp`; each fails without the fix it names.  Refusals are one
line, exit 1, and a planted link's target is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

SCRIPT = '''
import os, pathlib
from molexp.workflow import Task


class First(Task):
    def execute(self, ctx):
        with open("marks.txt", "a") as handle:
            handle.write("first\\n")
        return {"first": 1}


class Second(Task):
    def execute(self, ctx):
        with open("marks.txt", "a") as handle:
            handle.write("second\\n")
        if pathlib.Path("fail").exists():
            raise RuntimeError("asked to fail")
        return {"second": 2}
'''

PRECIOUS = "precious content\n"


@pytest.fixture
def store(workdir):
    write(workdir / "s.py", SCRIPT)
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {a: 1}\nprofiles:\n  smoke: {a: 2}\n")
    return workdir


def new_run(store: Path, fail: bool = False) -> Path:
    before = set(run_dirs(store / "runs"))
    if fail:
        (store / "fail").write_text("")
    result = run_molexp("run", "s.py", "-p", "smoke", "-q", cwd=store)
    assert result.returncode == (1 if fail else 0), result.stderr
    (store / "fail").unlink(missing_ok=True)
    (made,) = set(run_dirs(store / "runs")) - before
    return made


def one_error(result, code: int = 1) -> str:
    """The single `Error:` line of a refusal; no traceback, nothing else on stderr."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def marks(store: Path) -> list:
    path = store / "marks.txt"
    return path.read_text().split() if path.exists() else []


def plant_link(link: Path, target: Path) -> None:
    if link.is_dir() and not link.is_symlink():
        import shutil

        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)


# -- writes never follow links -------------------------------------------------
def _result_file(run_dir: Path, task: str) -> Path:
    return run_dir / read_record(run_dir)["tasks"][task]["result_file"]


LINKED_FILES = {
    # name planted in the failed run -> what the refusal names
    ".lock": ".lock",
    ".meta.lock": ".meta.lock",
    "run.log": "run.log",
    "error.log": "error.log",
}


@pytest.mark.parametrize("name", sorted(LINKED_FILES))
def test_a_link_in_the_run_dir_is_refused_and_its_target_untouched(store, name):
    run_dir = new_run(store, fail=True)
    target = store / "target.txt"
    target.write_text(PRECIOUS)
    plant_link(run_dir / name, target)
    if name == "error.log":
        (store / "fail").write_text("")  # the resumed attempt fails again: error.log is written
    result = run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store)
    line = one_error(result)
    assert LINKED_FILES[name] in line
    assert target.read_text() == PRECIOUS
    assert (run_dir / name).is_symlink()


def test_a_linked_results_dir_is_refused_and_its_target_untouched(store):
    run_dir = new_run(store, fail=True)
    elsewhere = store / "elsewhere"
    elsewhere.mkdir()
    plant_link(run_dir / "results", elsewhere)
    line = one_error(run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store))
    assert "results" in line and "symbolic link" in line
    assert list(elsewhere.iterdir()) == []


def test_a_linked_result_file_is_not_read_nor_written_through(store):
    run_dir = new_run(store, fail=True)
    result_file = _result_file(run_dir, "First")
    target = store / "target.txt"
    target.write_text(json.dumps({"task": "First", "result": "FROM THE LINK"}))
    plant_link(result_file, target)
    shown = run_molexp("show", run_dir.name, cwd=store)
    assert "FROM THE LINK" not in shown.stdout
    assert "symbolic link" in shown.stdout
    line = one_error(run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store))
    assert result_file.name in line
    assert json.loads(target.read_text())["result"] == "FROM THE LINK"


@pytest.mark.parametrize("where", ["file", "dir"])
def test_a_refused_result_is_the_task_error_in_run_json_and_run_log(store, where):
    run_dir = new_run(store, fail=True)
    result_file = _result_file(run_dir, "First")
    target = store / "target"
    if where == "file":
        target.write_text(PRECIOUS)
        plant_link(result_file, target)
    else:
        target.mkdir()
        plant_link(run_dir / "results", target)
    line = one_error(run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store))
    task = read_record(run_dir)["tasks"]["First"]
    assert task["status"] == "failed" and task["error"], task
    assert "task First: its result was not stored" in task["error"]
    assert "symbolic link" in task["error"] and task["error"] in line
    log = (run_dir / "run.log").read_text()
    assert "task First: its result was not stored" in log and "symbolic link" in log
    assert (target.read_text() == PRECIOUS if where == "file"
            else list(target.iterdir()) == [])


def test_a_linked_job_out_is_refused_on_detach(store):
    run_dir = new_run(store, fail=True)
    target = store / "target.txt"
    target.write_text(PRECIOUS)
    plant_link(run_dir / "job.out", target)
    line = one_error(run_molexp("run", "s.py", "-p", "smoke", "--resume", "--detach", "-q",
                                cwd=store))
    assert "job.out" in line
    assert target.read_text() == PRECIOUS


def test_write_run_file_refuses_a_link(tmp_path):
    """The primitive scheduler plugins write job.sbatch with."""
    from molexp_core import MolexpError, write_run_file

    target = tmp_path / "target"
    target.write_text(PRECIOUS)
    (tmp_path / "job.sbatch").symlink_to(target)
    with pytest.raises(MolexpError, match="job.sbatch is a symbolic link"):
        write_run_file(tmp_path / "job.sbatch", "#!/bin/bash\n")
    assert target.read_text() == PRECIOUS


# -- reads are bounded: regular files inside the run dir, under a cap ---------
def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")


def _oversize(path: Path) -> None:
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record) + " " * (5 * 1024 * 1024))


SPECIAL = {"fifo": _fifo, "dev-zero": _dev_zero}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "oversize"])
def test_a_special_or_huge_run_json_is_listed_as_corrupt(store, kind):
    bad, good = new_run(store), new_run(store)
    (SPECIAL.get(kind) or _oversize)(bad / "run.json")
    result = run_molexp("runs", "--json", cwd=store, timeout=30)
    assert result.returncode == 0, result.stderr
    rows = {row["run_id"]: row for row in json.loads(result.stdout)}
    assert rows[good.name]["status"] == "succeeded"
    assert rows[bad.name]["status"] == "corrupt"
    expected = {"fifo": "FIFO", "dev-zero": "symbolic link", "oversize": "4 MiB cap"}[kind]
    assert expected in rows[bad.name]["error"]
    shown = run_molexp("show", bad.name, cwd=store, timeout=30)
    assert shown.returncode == 1 and "corrupt" in shown.stdout and expected in shown.stdout
    assert "is corrupt" in shown.stderr  # the exit code and stderr say it too
    assert "corrupt run record" in one_error(run_molexp("execute", bad, cwd=store, timeout=30))


@pytest.mark.parametrize("index", [".index.json", ".index-details.json"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_special_index_file_never_hangs_a_listing(store, index, kind):
    run_dir = new_run(store, fail=True)
    _clone(run_dir, 250)  # enough runs that the details file is read too
    for _ in range(2):  # the first listing writes .index.json, the second the details
        assert run_molexp("runs", cwd=store, timeout=30).returncode == 0
    assert (run_dir.parent / ".index-details.json").is_file()
    SPECIAL[kind](run_dir.parent / index)
    for args in (["runs"], ["run", "s.py", "-p", "smoke", "--resume", "-q"]):
        result = run_molexp(*args, cwd=store, timeout=30)
        assert result.returncode == 0, result.stderr
    assert run_dir.name in run_molexp("runs", cwd=store, timeout=30).stdout


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_special_result_file_is_never_read(store, kind):
    run_dir = new_run(store, fail=True)
    result_file = _result_file(run_dir, "First")
    SPECIAL[kind](result_file)
    shown = run_molexp("show", run_dir.name, cwd=store, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert "result not shown" in shown.stdout
    result = run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store, timeout=30)
    assert result.returncode == 1  # First's result is unusable, so First runs again and
    assert "results" in result.stderr  # replacing the planted file is refused


def test_a_result_file_outside_the_run_dir_is_never_shown(store):
    run_dir = new_run(store)
    secret = store / "secret.json"
    secret.write_text(json.dumps({"task": "First", "result": "SECRET"}))
    record = read_record(run_dir)
    record["tasks"]["First"]["result_file"] = "../../../../secret.json"
    (run_dir / "run.json").write_text(json.dumps(record))
    shown = run_molexp("show", run_dir.name, cwd=store)
    assert shown.returncode == 0, shown.stderr
    assert "SECRET" not in shown.stdout
    assert "not a file in results/" in shown.stdout
    shown = run_molexp("show", run_dir.name, "--json", cwd=store)
    assert "SECRET" not in shown.stdout


# -- run.json is validated on read -----------------------------------------------
def _set(key, value):
    def change(record):
        record[key] = value
        return json.dumps(record)
    return change


def _text(transform):
    return lambda record: transform(json.dumps(record))


BAD_RECORDS = {
    "tasks-list": (_set("tasks", ["First"]), "'tasks' must be a mapping"),
    "scheduler-string": (_set("scheduler", "local"), "'scheduler' must be a mapping"),
    "created-at-int": (_set("created_at", 5), "'created_at' must be an ISO 8601 time"),
    "attempts-text": (_set("attempts", "abc"), "'attempts' must be a whole number"),
    "status-unknown": (_set("status", "exploded"), "'status' must be one of"),
    "config-nan": (_text(lambda t: t.replace('"a": 2', '"a": NaN')), "non-finite number NaN"),
    "config-infinity": (_text(lambda t: t.replace('"a": 2', '"a": -Infinity')),
                        "non-finite number -Infinity"),
    "bom": (_text(lambda t: "\ufeff" + t), "byte-order mark"),
    "trailing-garbage": (_text(lambda t: t + "\n}garbage"), "trailing data after the record"),
    "not-json": (_text(lambda t: t[:-10]), "not valid JSON"),
    "not-utf8": (_text(lambda t: t.replace('"a": 2', '"a": "\udcff"')), "not UTF-8"),
    "top-level-list": (_text(lambda t: "[" + t + "]"), "top level must be a mapping"),
    "run-id-newline": (lambda r: json.dumps(dict(r, run_id=r["run_id"] + "\nrm -rf ~")),
                       "'run_id' must be a run id"),
    "cwd-newline": (_set("cwd", "/tmp\nrm -rf ~"), "'cwd' holds a control character"),
    "python-newline": (_set("python_executable", "/usr/bin/python3\ntouch PWNED"),
                       "'python_executable' holds a control character"),
    "pid-negative": (_set("pid", -1), "'pid' must be a positive integer"),
    "task-status-int": (lambda r: json.dumps(dict(r, tasks={"First": {"status": 3}})),
                        "'tasks' 'First' 'status' must be one of"),
    "history-pid-text": (_set("history", [{"attempt": 1, "pid": "x"}]),
                         "'history' item 0 'pid' must be a positive integer"),
    "job-id-newline": (lambda r: json.dumps(dict(r, scheduler={"name": "local",
                                                                "job_id": "1\n2"})),
                       "'job_id' must be a job id"),
}


def _corrupt(run_dir: Path, case: str) -> None:
    transform = BAD_RECORDS[case][0]
    text = transform(read_record(run_dir))
    data = text.encode("utf-8", "surrogateescape")
    (run_dir / "run.json").write_bytes(data)


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_a_bad_record_is_listed_as_corrupt_and_never_executed(store, case):
    bad = new_run(store, fail=True)
    good = new_run(store)
    _corrupt(bad, case)
    before = marks(store)
    reason = BAD_RECORDS[case][1]
    listed = run_molexp("runs", "--json", cwd=store)
    assert listed.returncode == 0, listed.stderr
    rows = {row["run_id"]: row for row in json.loads(listed.stdout)}
    assert rows[good.name]["status"] == "succeeded"  # the others' listing is intact
    assert rows[bad.name]["status"] == "corrupt" and reason in rows[bad.name]["error"]
    table = run_molexp("runs", "--status", "corrupt", cwd=store)
    assert bad.name in table.stdout and good.name not in table.stdout
    shown = run_molexp("show", bad.name, cwd=store)
    assert shown.returncode == 1 and reason in shown.stdout  # corrupt: no success
    status = run_molexp("status", bad.name, cwd=store)
    assert status.returncode == 0 and "corrupt" in status.stdout
    line = one_error(run_molexp("execute", bad, cwd=store))
    assert "corrupt run record" in line and reason in line
    # --resume never picks the corrupt run: a new run starts
    resumed = run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting a new run" in resumed.stderr
    assert marks(store) == before + ["first", "second"]
    assert not (store / "PWNED").exists()


# -- the run index is validated and rebuilt -------------------------------------
def _stamp(run_dir: Path) -> list:
    st = os.stat(run_dir / "run.json")
    return [st.st_ino, st.st_size, st.st_mtime_ns]


# entries whose stamp matches run.json, so that they are believed unless checked
INDEX_GARBAGE = {
    "script-id-out-of-range": lambda run_dir: {
        "version": 2, "scripts": [], "runs": {run_dir.name: _stamp(run_dir) + [
            "failed", "smoke", 7]}},
    "entry-too-short": lambda run_dir: {
        "version": 2, "scripts": [None], "runs": {run_dir.name: _stamp(run_dir)}},
    "scripts-not-a-list": lambda run_dir: {"version": 2, "scripts": 5, "runs": {}},
    "status-not-a-string": lambda run_dir: {
        "version": 2, "scripts": [str(run_dir.parents[3] / "s.py")],
        "runs": {run_dir.name: _stamp(run_dir) + [["failed"], "smoke", 0]}},
}


@pytest.mark.parametrize("case", sorted(INDEX_GARBAGE))
def test_a_bad_index_is_rebuilt_from_the_run_directories(store, case):
    run_dir = new_run(store, fail=True)
    index = run_dir.parent / ".index.json"
    index.write_text(json.dumps(INDEX_GARBAGE[case](run_dir)))
    listed = run_molexp("runs", "--json", cwd=store)
    assert listed.returncode == 0, listed.stderr
    assert [row["status"] for row in json.loads(listed.stdout)] == ["failed"]
    rebuilt = json.loads(index.read_text())
    entry = rebuilt["runs"][run_dir.name]
    assert entry[3] == "failed" and rebuilt["scripts"][entry[5]] == str(store / "s.py")
    index.write_text(json.dumps(INDEX_GARBAGE[case](run_dir)))
    resumed = run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting a new run" not in resumed.stderr
    assert read_record(run_dir)["status"] == "succeeded"


def test_a_bad_details_index_is_rebuilt(store):
    """With many runs the full summaries come from .index-details.json: a cached
    summary of the wrong shape is dropped and the run read afresh."""
    run_dir = new_run(store)
    _clone(run_dir, 250)
    for _ in range(2):  # the first listing writes .index.json, the second the details
        assert run_molexp("runs", cwd=store).returncode == 0
    details = run_dir.parent / ".index-details.json"
    data = json.loads(details.read_text())
    data["runs"][run_dir.name][1] = {"status": 5, "tasks": [], "scheduler": "x"}
    details.write_text(json.dumps(data))
    listed = run_molexp("runs", "--json", cwd=store)
    assert listed.returncode == 0, listed.stderr
    rows = {row["run_id"]: row for row in json.loads(listed.stdout)}
    assert len(rows) == 251 and rows[run_dir.name]["status"] == "succeeded"


def _clone(run_dir: Path, count: int) -> None:
    """``count`` copies of a run (records only), with run ids of their own."""
    record = read_record(run_dir)
    for i in range(count):
        copy_id = f"20200101-000000-{i:06d}-abcd"
        copy = run_dir.parent / copy_id
        copy.mkdir()
        (copy / "run.json").write_text(json.dumps(dict(record, run_id=copy_id)))


# -- result file names never collide -------------------------------------------
NAMES_SCRIPT = '''
from molexp.workflow import Task, Workflow


class Named(Task):
    def __init__(self, name, value):
        self.name, self.value = name, value

    def execute(self, ctx):
        import pathlib
        if pathlib.Path("fail-" + str(self.value)).exists():
            raise RuntimeError("asked to fail")
        return {"value": self.value, "seen": dict(ctx.results)}


workflow = Workflow([Named("prep data", 1), Named("prep_data", 2), Named("x" * 240, 3),
                     Named("prep/data", 4)])
'''


def test_task_names_that_slug_alike_keep_their_own_results(workdir):
    write(workdir / "n.py", NAMES_SCRIPT)
    (workdir / "fail-4").write_text("")
    result = run_molexp("run", "n.py", "-q", cwd=workdir)
    assert result.returncode == 1, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    files = [record["tasks"][n]["result_file"] for n in ("prep data", "prep_data", "x" * 240)]
    assert len(set(files)) == 3 and all(len(Path(f).name) < 100 for f in files)
    (workdir / "fail-4").unlink()
    result = run_molexp("run", "n.py", "--resume", "-q", cwd=workdir)
    assert result.returncode == 0, result.stderr
    seen = json.loads((run_dir / read_record(run_dir)["tasks"]["prep/data"]["result_file"])
                      .read_text())["result"]["seen"]
    assert seen["prep data"]["value"] == 1 and seen["prep_data"]["value"] == 2
    assert seen["x" * 240]["value"] == 3


def test_a_result_file_of_another_task_is_not_handed_on(store):
    run_dir = new_run(store, fail=True)
    record = read_record(run_dir)
    # First's record now names a file that holds another task's result
    other = run_dir / "results" / "Other-000000000000.json"
    other.write_text(json.dumps({"task": "Other", "result": {"first": "WRONG"}}))
    record["tasks"]["First"]["result_file"] = "results/Other-000000000000.json"
    (run_dir / "run.json").write_text(json.dumps(record))
    shown = run_molexp("show", run_dir.name, cwd=store)
    assert "WRONG" not in shown.stdout and "not of 'First'" in shown.stdout
    before = marks(store)
    result = run_molexp("run", "s.py", "-p", "smoke", "--resume", "-q", cwd=store)
    assert result.returncode == 0, result.stderr
    assert marks(store) == before + ["first", "second"]  # First ran again


# -- record fields that reach a batch script are checked where they are used ----
@pytest.mark.parametrize("key,value", [("python_executable", "/usr/bin/python3\ntouch PWNED"),
                                       ("run_id", "20261125-000000-000000-abcd\nrm -rf ~"),
                                       ("profile", "smoke\ntouch PWNED"),
                                       ("cwd", "/tmp\ntouch PWNED")])
def test_a_control_character_in_a_record_never_reaches_a_batch_script(tmp_path, key, value):
    from molexp_core import MolexpUsageError
    from molexp_plugins import slurm_batch

    record = {"run_id": "20261125-000000-000000-abcd", "script": str(tmp_path / "s.py"),
              "profile": "smoke", "cwd": str(tmp_path), "python_executable": sys.executable}
    record[key] = value
    with pytest.raises(MolexpUsageError, match="control character"):
        slurm_batch.render(tmp_path, record, {})


# -- cancel signals only the process molexp started -------------------------------
@pytest.fixture
def bystander():
    """An unrelated process (its own process group) that must survive."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                               start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _hold_lock(run_dir: Path):
    """Hold the run's .lock the way an executing molexp would (both lock kinds)."""
    import fcntl

    handles = [open(run_dir / ".lock", "a+"), open(run_dir / ".lock", "a+")]
    fcntl.flock(handles[0], fcntl.LOCK_EX)
    fcntl.lockf(handles[1], fcntl.LOCK_EX)
    return handles


def _running_record(run_dir: Path, **fields) -> None:
    record = read_record(run_dir)
    record.update(status="running", host=os.uname().nodename, finished_at=None, error=None)
    record.update(fields)
    (run_dir / "run.json").write_text(json.dumps(record))


def _start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (read here, independently of molexp)."""
    data = Path(f"/proc/{pid}/stat").read_bytes()
    return int(data[data.rfind(b")") + 2:].split()[19])


def test_cancel_never_signals_a_process_group(store, bystander):
    run_dir = new_run(store, fail=True)
    _running_record(run_dir, pid=-bystander.pid)  # the bystander's process group
    locks = _hold_lock(run_dir)
    line = one_error(run_molexp("cancel", run_dir.name, cwd=store))
    assert "'pid' must be a positive integer" in line
    time.sleep(0.5)
    assert bystander.poll() is None
    del locks


def test_cancel_never_signals_a_reused_pid(store, bystander):
    run_dir = new_run(store, fail=True)
    _running_record(run_dir, pid=bystander.pid, pid_start=_start_time(bystander.pid) + 1)
    locks = _hold_lock(run_dir)
    result = run_molexp("cancel", run_dir.name, cwd=store)
    assert result.returncode == 0, result.stderr  # its own process is gone: cancelled
    time.sleep(0.5)
    assert bystander.poll() is None
    assert read_record(run_dir)["status"] == "cancelled"
    del locks


def test_cancel_without_a_recorded_start_time_signals_nothing(store, bystander):
    run_dir = new_run(store, fail=True)
    _running_record(run_dir, pid=bystander.pid, pid_start=None)  # a record from elsewhere
    locks = _hold_lock(run_dir)
    line = one_error(run_molexp("cancel", run_dir.name, cwd=store))
    assert "no start time" in line
    time.sleep(0.5)
    assert bystander.poll() is None
    del locks


def test_cancel_refuses_a_run_on_another_host(store, bystander):
    run_dir = new_run(store, fail=True)
    _running_record(run_dir, pid=bystander.pid, pid_start=_start_time(bystander.pid),
                    host="elsewhere.example")
    locks = _hold_lock(run_dir)
    line = one_error(run_molexp("cancel", run_dir.name, cwd=store))
    assert "runs on host 'elsewhere.example'" in line
    assert read_record(run_dir)["status"] == "running"
    del locks


STUBBORN = '''
import pathlib, signal, time
from molexp.workflow import Task


class Stubborn(Task):
    def execute(self, ctx):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path("started").write_text("")
        time.sleep(60)
        return 1
'''


def test_cancel_says_still_stopping_until_the_process_ends(workdir):
    write(workdir / "stubborn.py", STUBBORN)
    env = {"MOLEXP_IN_PROCESS": "1"}  # the task's process is molexp's: it ignores SIGTERM
    assert run_molexp("run", "stubborn.py", "--detach", "-q", cwd=workdir,
                      env=env).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    deadline = time.time() + 30
    while not (workdir / "started").exists():
        assert time.time() < deadline
        time.sleep(0.1)
    line = one_error(run_molexp("cancel", run_dir.name, "--timeout", "1", cwd=workdir))
    assert "still stopping" in line and "--force" in line
    assert read_record(run_dir)["status"] == "running"
    result = run_molexp("cancel", run_dir.name, "--force", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"run {run_dir.name} cancelled"
    record = read_record(run_dir)
    assert record["status"] == "cancelled"
    assert record["tasks"]["Stubborn"]["status"] == "cancelled"


# -- the execution lock ------------------------------------------------------------
FORKER = '''
import os, pathlib, time
from molexp.workflow import Task


class Forker(Task):
    def execute(self, ctx):
        pid = os.fork()
        if pid == 0:  # a child that outlives the run, holding every inherited fd
            devnull = os.open(os.devnull, os.O_RDWR)  # but not molexp's stdout/stderr,
            for fd in (0, 1, 2):  # or the test would wait for it to end
                os.dup2(devnull, fd)
            time.sleep(60)
            os._exit(0)
        pathlib.Path("grandchild").write_text(str(pid))
        if pathlib.Path("fail").exists():
            raise RuntimeError("asked to fail")
        return 1
'''


def test_a_forked_child_that_outlives_the_run_does_not_hold_its_lock(workdir):
    write(workdir / "forker.py", FORKER)
    (workdir / "fail").write_text("")
    try:
        assert run_molexp("run", "forker.py", "-q", cwd=workdir).returncode == 1
        (workdir / "fail").unlink()
        first = int((workdir / "grandchild").read_text())
        os.kill(first, 0)  # still alive
        result = run_molexp("run", "forker.py", "--resume", "-q", cwd=workdir)
        assert result.returncode == 0, result.stderr
    finally:
        for name in ("grandchild",):
            if (workdir / name).exists():
                try:
                    os.kill(int((workdir / name).read_text()), 9)
                except (ProcessLookupError, ValueError):
                    pass
        try:
            os.kill(first, 9)
        except (NameError, ProcessLookupError):
            pass


WAITER = '''
import pathlib, time
from molexp.workflow import Task


class Waiter(Task):
    def execute(self, ctx):
        with open("entered", "a") as handle:
            handle.write("x")
        while not pathlib.Path("release").exists():
            time.sleep(0.05)
        return 1
'''


def test_removing_the_lock_file_does_not_let_a_second_execute_in(workdir):
    write(workdir / "waiter.py", WAITER)
    assert run_molexp("run", "waiter.py", "--detach", "-q", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    try:
        deadline = time.time() + 30
        while not (workdir / "entered").exists():
            assert time.time() < deadline
            time.sleep(0.1)
        (run_dir / ".lock").unlink()
        line = one_error(run_molexp("execute", run_dir, cwd=workdir, timeout=30))
        assert "is being executed by pid" in line
        assert (workdir / "entered").read_text() == "x"  # the task ran once
    finally:
        (workdir / "release").write_text("")
    from conftest import wait_for_record

    assert wait_for_record(run_dir)["status"] == "succeeded"


# -- molexp's imports never come from the script's directory ----------------------
SHADOWING = {
    "logging.py": ('''
from molexp.workflow import Task


class Log(Task):
    def execute(self, ctx):
        ctx.logger.info("hello from the task")
        return 1
''', 0, "hello from the task"),
    "asyncio.py": ('''
from molexp.workflow import Task


class Later(Task):
    async def execute(self, ctx):
        return 2
''', 0, None),
    "traceback.py": ('''
from molexp.workflow import Task


class Boom(Task):
    def execute(self, ctx):
        raise RuntimeError("the task's own failure")
''', 1, "the task's own failure"),
}


@pytest.mark.parametrize("in_process", ["0", "1"])
@pytest.mark.parametrize("name", sorted(SHADOWING))
def test_a_script_named_like_a_stdlib_module_works(workdir, name, in_process):
    text, code, said = SHADOWING[name]
    write(workdir / name, text)
    result = run_molexp("run", name, cwd=workdir, env={"MOLEXP_IN_PROCESS": in_process})
    assert result.returncode == code, result.stderr
    assert "internal error" not in result.stderr and "failed to submit" not in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    if said:
        assert said in (run_dir / "run.log").read_text()
    if code:
        assert "RuntimeError" in (run_dir / "error.log").read_text()


def test_a_detached_run_from_a_directory_with_a_stdlib_name_works(workdir):
    write(workdir / "logging.py", SHADOWING["logging.py"][0])
    assert run_molexp("run", "logging.py", "--detach", "-q", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    from conftest import wait_for_record

    assert wait_for_record(run_dir, ("succeeded", "failed"))["status"] == "succeeded"


BREAKS_MOLEXP = '''
from molexp.workflow import Task


class Saboteur(Task):
    def execute(self, ctx):
        from molexp_core.runs import executor
        executor._Execution._finish = lambda *args, **kwargs: 1 / 0  # molexp's next step
        return 1
'''


def test_a_failure_inside_molexp_is_not_blamed_on_the_scheduler(workdir):
    write(workdir / "saboteur.py", BREAKS_MOLEXP)
    result = run_molexp("run", "saboteur.py", cwd=workdir, env={"MOLEXP_IN_PROCESS": "1"})
    line = one_error(result)
    assert "failed to submit" not in line and "scheduler" not in line
    assert "internal error: ZeroDivisionError" in line


def test_a_fifo_as_the_runs_roots_last_run_id_never_hangs_a_run(store):
    new_run(store)
    last = store / "runs" / ".last-run-id"
    last.unlink(missing_ok=True)
    os.mkfifo(last)
    result = run_molexp("run", "s.py", "-p", "smoke", "-q", cwd=store, timeout=30)
    assert result.returncode == 0, result.stderr
    assert len(run_dirs(store / "runs")) == 2
