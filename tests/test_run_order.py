"""Run order is creation order, whatever the wall clock does; `runs -n` is positive."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import read_record, run_dirs, run_molexp, write
from molexp_core.cli import cli
from molexp_core.runs import ids as run_ids
from molexp_core.runs import store as runstore

FAILING = """
from pathlib import Path
from molexp.workflow import Task

class Step(Task):
    def execute(self, ctx):
        if Path("fail").exists():
            raise RuntimeError("asked to fail")
        return "ok"
"""


def _at(monkeypatch, when):
    """Set the clock run ids are read from (as NTP stepping it would)."""
    monkeypatch.setattr(run_ids, "utc_now", lambda: when)


def test_clock_stepped_back_keeps_creation_order(cli_runner, workdir, monkeypatch):
    first = write(workdir / "first.py", FAILING)
    second = write(workdir / "second.py", FAILING)
    (workdir / "fail").touch()
    noon = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    made = []
    for script, when in ((first, noon), (second, noon - timedelta(hours=1)),
                         (first, noon - timedelta(hours=2))):
        _at(monkeypatch, when)
        result = cli_runner.invoke(cli, ["run", str(script), "--quiet"])
        assert result.exit_code == 1, result.output
        made.append(max(run_dirs(workdir / "runs"), key=lambda d: d.stat().st_ctime_ns))
    ids = [d.name for d in made]
    assert ids == sorted(ids) and len(set(ids)) == 3  # each later than the one before
    assert ids[0].startswith("20260101-120000-000000")
    assert ids[2].startswith("20260101-120000-000002")  # readable: still a time stamp

    result = cli_runner.invoke(cli, ["runs", "--json"])
    assert [row["run_id"] for row in json.loads(result.output)] == ids[::-1]

    # the newest run of first.py by creation is the third, though its clock said 10:00
    (workdir / "fail").unlink()
    result = cli_runner.invoke(cli, ["run", str(first), "--resume"])
    assert result.exit_code == 0, result.output
    assert f"resuming run {ids[2]}" in result.output
    assert read_record(made[2])["status"] == "succeeded"
    assert read_record(made[0])["status"] == "failed"


def test_order_survives_a_lost_last_id_file(cli_runner, workdir, monkeypatch):
    script = write(workdir / "first.py", FAILING)
    noon = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    _at(monkeypatch, noon)
    assert cli_runner.invoke(cli, ["run", str(script), "-q"]).exit_code == 0
    (workdir / "runs" / run_ids.LAST_ID_FILE).write_text("garbage\n")
    _at(monkeypatch, noon - timedelta(days=1))
    assert cli_runner.invoke(cli, ["run", str(script), "-q"]).exit_code == 0
    (workdir / "runs" / run_ids.LAST_ID_FILE).unlink()
    _at(monkeypatch, noon - timedelta(days=2))
    assert cli_runner.invoke(cli, ["run", str(script), "-q"]).exit_code == 0
    ids = [d.name for d in run_dirs(workdir / "runs")]
    assert len(ids) == 3
    assert [i[:22] for i in ids] == ["20260101-120000-000000", "20260101-120000-000001",
                                     "20260101-120000-000002"]


def test_ids_follow_the_clock_when_it_moves_forward(workdir):
    script = write(workdir / "first.py", FAILING)
    for _ in range(2):
        assert run_molexp("run", script, "-q", cwd=workdir).returncode == 0
    older, newer = (d.name for d in run_dirs(workdir / "runs"))
    assert older < newer
    today = datetime.now(timezone.utc).strftime("%Y%m%d")
    assert newer.startswith(today) or newer[:8] > today  # not a counter: a time stamp
    last = (workdir / "runs" / run_ids.LAST_ID_FILE).read_text().strip()
    assert newer.startswith(last)


@pytest.mark.parametrize("value", ["0", "-1", "-5"])
def test_runs_limit_must_be_positive(workdir, value):
    result = run_molexp("runs", "-n", value, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--limit" in result.stderr and value in result.stderr
    assert result.stdout == ""


def test_runs_limit_limits(workdir):
    script = write(workdir / "first.py", FAILING)
    for _ in range(3):
        run_molexp("run", script, "-q", cwd=workdir)
    rows = json.loads(run_molexp("runs", "-n", "2", "--json", cwd=workdir).stdout)
    assert [r["run_id"] for r in rows] == [d.name for d in run_dirs(workdir / "runs")][:0:-1]
