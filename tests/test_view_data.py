"""`molexp view`'s data, without a browser: the cached result fields and metric
summaries (`runs/result_summaries.py`) are used only while their files are
unchanged, never through a link, and bounded; the run table goes in as columns."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import run_molexp
from view_project import make_sweep, page_data, point_dir

from molexp_core.runs.result_summaries import VERSION

CACHE = ".index-results.json"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return make_sweep(tmp_path_factory.mktemp("view-data"))


def view(*args, cwd):
    done = run_molexp("view", *args, "-o", "-", cwd=cwd, env={"MOLEXP_RUNS_DIR": ""})
    assert done.returncode == 0, done.stderr
    return page_data(done.stdout)


def by_point(data, lr, bs):
    (run,) = [r for r in data["runs"] if r["point"] == {"optimizer.lr": lr, "batch_size": bs}]
    return run


def result_file(run_dir: Path) -> Path:
    (found,) = (run_dir / "results").glob("Train-*.json")
    return found


def test_the_cache_is_used_only_while_the_result_file_is_unchanged(sweep):
    cwd, root = sweep["root"].parent, sweep["root"]
    run_dir = point_dir(root, sweep["sweep_id"], 0.01, 32)
    assert by_point(view(cwd=cwd), 0.01, 32)["results"]["Train.loss"] == 0.32
    cache_path = run_dir.parent / CACHE
    cache = json.loads(cache_path.read_text())
    entry = cache["runs"][run_dir.name]
    assert entry[0] == ["Train"] and entry[2]["Train.loss"] == 0.32 and entry[4] == 0
    assert entry[3]["train/loss"] == pytest.approx(0.32 / 6)  # the last of the curve
    entry[2]["Train.loss"] = 123.0  # what the cache says wins while the stamps match ...
    cache_path.write_text(json.dumps(cache))
    assert by_point(view(cwd=cwd), 0.01, 32)["results"]["Train.loss"] == 123.0
    path = result_file(run_dir)  # ... and an edit in place, same size, is seen
    stored = json.loads(path.read_text())
    stored["result"]["loss"] = 0.99
    with open(path, "r+") as handle:
        handle.write(json.dumps(stored))
        handle.truncate()
    assert by_point(view(cwd=cwd), 0.01, 32)["results"]["Train.loss"] == 0.99
    stored["result"]["loss"] = 0.32
    path.write_text(json.dumps(stored))
    assert by_point(view(cwd=cwd), 0.01, 32)["results"]["Train.loss"] == 0.32


def test_a_results_folder_replaced_by_a_link_is_never_read_through(sweep, tmp_path):
    cwd, root = sweep["root"].parent, sweep["root"]
    run_dir = point_dir(root, sweep["sweep_id"], 0.01, 16)
    assert by_point(view(cwd=cwd), 0.01, 16)["results"]["Train.loss"] == 0.16
    elsewhere = tmp_path / "elsewhere"
    (run_dir / "results").rename(elsewhere)
    (run_dir / "results").symlink_to(elsewhere)
    try:
        run = by_point(view(cwd=cwd), 0.01, 16)
        assert "Train.loss" not in run["results"] and run["status"] == "succeeded"
    finally:
        (run_dir / "results").unlink()
        elsewhere.rename(run_dir / "results")
    # the same files back (same inodes, sizes, times): what was cached while the link
    # was there is not used for them
    assert by_point(view(cwd=cwd), 0.01, 16)["results"]["Train.loss"] == 0.16


def test_a_run_whose_result_could_not_be_used_is_never_cached(sweep):
    """A result file that names another task is not shown; when it is put back, with
    the very same size and times, the page reads it again (nothing is kept of a read
    that failed)."""
    cwd, root = sweep["root"].parent, sweep["root"]
    run_dir = point_dir(root, sweep["sweep_id"], 0.001, 64)
    path = result_file(run_dir)
    good = path.read_bytes()
    bad = good.replace(b'"task": "Train"', b'"task": "Trai0"').replace(b'"task":"Train"',
                                                                       b'"task":"Trai0"')
    assert bad != good and len(bad) == len(good)
    with open(path, "r+b") as handle:  # in place: the same inode
        handle.write(bad)
    times = (path.stat().st_atime_ns, path.stat().st_mtime_ns)
    assert "Train.loss" not in by_point(view(cwd=cwd), 0.001, 64)["results"]
    with open(path, "r+b") as handle:
        handle.write(good)
    os.utime(path, ns=times)  # size, inode and times as when it was refused
    assert by_point(view(cwd=cwd), 0.001, 64)["results"]["Train.loss"] == 0.064


@pytest.mark.parametrize("planted", [
    "not json", '{"version": %d, "runs": []}' % VERSION,
    '{"version": %d, "runs": {"x": "y"}}' % VERSION,
    "HUGE", "DEEP"])
def test_a_damaged_or_hostile_cache_is_ignored(sweep, planted):
    cwd, root = sweep["root"].parent, sweep["root"]
    run_dir = point_dir(root, sweep["sweep_id"], 0.001, 32)
    view(cwd=cwd)
    cache_path = run_dir.parent / CACHE
    if planted == "HUGE":  # a matching stamp, but a value molexp never writes
        cache = json.loads(cache_path.read_text())
        cache["runs"][run_dir.name][2]["Train.loss"] = "x" * 1_000_000
        planted = json.dumps(cache)
    elif planted == "DEEP":
        planted = "[" * 100_000 + "]" * 100_000
    cache_path.write_text(planted)
    data = view(cwd=cwd)
    assert by_point(data, 0.001, 32)["results"]["Train.loss"] == 0.032
    assert json.loads(cache_path.read_text())["version"] == VERSION  # rebuilt


def test_text_results_are_cut_and_metrics_are_in_the_table_without_details(tmp_path):
    """A 100,000-character result stays out of the table (the run panel has it, cut
    at 20,000); each metric's last value is a column for every run, --details 0 too."""
    (tmp_path / "t.py").write_text(
        "from molexp.workflow import Task\n\nclass T(Task):\n"
        "    async def execute(self, ctx):\n"
        "        for step in range(5):\n"
        "            ctx.log_metric('loss', 1.0 / (step + 1))\n"
        "        return {'log': 'x' * 100_000, 'n': 3}\n")
    assert run_molexp("run", "t.py", "--sweep", "a=1,2", cwd=tmp_path).returncode == 0
    data = view("--details", "0", cwd=tmp_path)
    assert data["details"] == {}
    for run in data["runs"]:
        assert run["metrics"] == {"loss": 0.2}
        assert len(run["results"]["T.log"]) == 200 and run["results"]["T.log"].endswith("\u2026")
    detailed = view(cwd=tmp_path)
    result = detailed["details"]["0"]["tasks"]["T"]["result"]
    assert len(result) < 20_100 and "characters)" in result


def test_the_run_table_is_columns(sweep):
    """Format 2: one list per field; repeated values numbered once."""
    done = run_molexp("view", "-o", "-", cwd=sweep["root"].parent, env={"MOLEXP_RUNS_DIR": ""})
    raw = json.loads(re.search(r'id="molexp-data">(.*?)</script>', done.stdout, re.S).group(1))
    runs = raw["format"] == 2 and raw["runs"]
    assert runs["count"] == 9 and len(runs["id"]) == 9 and len(runs["status"]) == 9
    assert set(runs["results"]) == {"Train.loss", "Train.acc"}
    assert set(runs["point"]) == {"optimizer.lr", "batch_size"}
    assert raw["sweep_ids"] == [sweep["sweep_id"]] and set(runs["sweep"]) == {0}
    assert len(raw["provs"]) == 1 and set(runs["prov"]) == {0}
    assert raw["dirs"] == ["train/smoke"] and set(runs["dir"]) == {0}
    assert {"train/loss"} == set(runs["metrics"])
    assert runs["results"]["Train.loss"].count({"$nf": "NaN"}) == 1  # NaN, as JSON lacks it
    # the Python reading docs/view.md gives
    from molexp_core.view.columns import rows

    decoded = rows(raw)
    assert [r["dir"] for r in decoded] == [f"train/smoke/{r['id']}" for r in decoded]
    assert sorted(r["point"]["batch_size"] for r in decoded) == [16] * 3 + [32] * 3 + [64] * 3
    assert os.path.isdir(sweep["root"] / decoded[0]["dir"])


def test_a_result_file_over_the_page_cap_is_named_not_read(tmp_path):
    """A 9 MB result is read neither for the table nor for the run panel; the page says
    so (molexp show has it)."""
    (tmp_path / "t.py").write_text(
        "from molexp.workflow import Task\n\nclass T(Task):\n"
        "    async def execute(self, ctx):\n"
        "        return {'blob': 'x' * 9_000_000, 'loss': 1.5}\n\n"
        "class U(Task):\n"
        "    async def execute(self, ctx):\n"
        "        return {'acc': 0.5}\n")
    assert run_molexp("run", "t.py", cwd=tmp_path).returncode == 0
    data = view(cwd=tmp_path)
    (run,) = data["runs"]
    assert run["results"] == {"U.acc": 0.5}
    assert any("over 8 MiB" in note for note in data["notes"])
    tasks = data["details"]["0"]["tasks"]
    assert "too large for the page" in tasks["T"]["result_error"] and "acc" in tasks["U"]["result"]


def test_a_scheduler_that_does_not_answer_is_said_on_the_page(sweep, tmp_path):
    """A point waiting on Slurm whose squeue fails: the page shows what its run.json
    says and a note that it may be stale (as `molexp runs` warns on stderr)."""
    from view_project import edit_record

    run_dir = point_dir(sweep["root"], sweep["sweep_id"], 0.001, 16)
    saved = (run_dir / "run.json").read_text()
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("squeue", "sacct"):
        (tools / name).write_text("#!/bin/sh\necho 'slurm_load_jobs error: down' >&2\nexit 1\n")
        (tools / name).chmod(0o755)
    edit_record(run_dir, status="submitted", finished_at=None,
                scheduler={"name": "slurm", "job_id": "4242"})
    try:
        done = run_molexp("view", "-o", "-", cwd=sweep["root"].parent,
                          env={"MOLEXP_RUNS_DIR": "", "PATH": f"{tools}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stderr
        data = page_data(done.stdout)
        assert by_point(data, 0.001, 16)["status"] == "submitted"
        assert any(n.startswith("scheduler slurm did not answer") for n in data["notes"])
    finally:
        (run_dir / "run.json").write_text(saved)


def test_details_go_to_failed_runs_for_half_and_to_succeeded_ones_for_the_rest(sweep):
    """--details 4 of 9 runs (one failed): the failed run and three succeeded ones, so
    that a big sweep's page has curves too, not only its failures."""
    data = view("--details", "4", cwd=sweep["root"].parent)
    shown = [data["runs"][int(i)] for i in data["details"]]
    assert len(shown) == 4 and [r["status"] for r in shown].count("failed") == 1
    assert sum(1 for i in data["details"] if data["details"][i]["metrics"]) == 3


def test_a_cache_of_many_more_runs_than_the_page_shows_is_still_read(sweep):
    """The cache of a profile directory holds every run's entry; a page of its 9 points
    reads a 5 MB cache (25,000 other runs) instead of refusing and rewriting it."""
    cwd, root = sweep["root"].parent, sweep["root"]
    run_dir = point_dir(root, sweep["sweep_id"], 0.01, 64)
    view(cwd=cwd)
    path = run_dir.parent / CACHE
    cache = json.loads(path.read_text())
    other = next(iter(cache["runs"].values()))
    for number in range(25_000):
        name = f"20250101-000000-{number:06d}-0000"
        (run_dir.parent / name).mkdir()  # another run's directory: its entry is kept
        cache["runs"][name] = other
    cache["runs"][run_dir.name][2]["Train.loss"] = 321.0  # read while the stamps match
    path.write_text(json.dumps(cache))
    assert path.stat().st_size > 4 * 1024 * 1024
    try:
        assert by_point(view(cwd=cwd), 0.01, 64)["results"]["Train.loss"] == 321.0
    finally:
        for number in range(25_000):
            (run_dir.parent / f"20250101-000000-{number:06d}-0000").rmdir()
        path.unlink()
