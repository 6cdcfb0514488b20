"""A runs root on a full or read-only filesystem: exit 1, a clear line, nothing harmed.

Uses a small real tmpfs (root with mount rights, as in CI); elsewhere it skips,
except under MOLEXP_FULL_FAULTS=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_dirs, run_molexp, write


@pytest.fixture
def small_fs(tmp_path):
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        reason = f"cannot mount a tmpfs here: {made.stderr.strip()}"
        if os.environ.get("MOLEXP_FULL_FAULTS") == "1":  # CI: the disk faults must run
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_full_filesystem(workdir, small_fs, spec_config, echo_script):
    runs = small_fs / "runs"
    assert run_molexp("run", echo_script, "-p", "smoke", "--runs-dir", runs,
                      cwd=workdir).returncode == 0
    before = snapshot(runs)
    filler = small_fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk to the last block
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    result = run_molexp("run", echo_script, "-p", "smoke", "--runs-dir", runs, cwd=workdir)
    assert result.returncode == 1, result.stderr
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    assert [l for l in result.stderr.splitlines() if l.startswith("Error:")] == [
        l for l in result.stderr.splitlines() if "Error" in l or "error" in l]
    assert sum(l.startswith("Error:") for l in result.stderr.splitlines()) == 1
    assert snapshot(runs) == before  # existing runs untouched, nothing half-made
    assert len(run_dirs(runs)) == 1


def test_read_only_filesystem(workdir, small_fs, spec_config, echo_script):
    runs = small_fs / "runs"
    assert run_molexp("run", echo_script, "--runs-dir", runs, cwd=workdir).returncode == 0
    before = snapshot(runs)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True)
    assert remount.returncode == 0
    result = run_molexp("run", echo_script, "-p", "smoke", "--runs-dir", runs, cwd=workdir)
    assert result.returncode == 1
    assert "Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(runs) == before
    listed = run_molexp("runs", "--runs-dir", runs, cwd=workdir)
    assert listed.returncode == 0 and "succeeded" in listed.stdout  # still readable


def test_resume_and_execute_on_a_read_only_filesystem(workdir, small_fs):
    script = write(workdir / "fails.py", """
        import os
        from molexp.workflow import Task

        class Once(Task):
            def execute(self, ctx):
                if not os.path.exists("ok"):
                    raise RuntimeError("not yet")
                return 1
    """)
    runs = small_fs / "runs"
    assert run_molexp("run", script, "--runs-dir", runs, cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(runs)
    (workdir / "ok").touch()
    before = snapshot(runs)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True)
    assert remount.returncode == 0
    for args in (["run", script, "--resume", "--runs-dir", runs], ["execute", run_dir]):
        result = run_molexp(*args, cwd=workdir)
        assert result.returncode == 1, (args, result.stderr)
        assert "Read-only file system" in result.stderr, result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        assert sum(l.startswith("Error:") for l in result.stderr.splitlines()) == 1
    assert snapshot(runs) == before
