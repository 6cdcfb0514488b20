"""`molexp view` on a run store edited by someone hostile: every value that reaches the
page (run ids, task names, result fields, metric names, config, error text, log lines,
artifact paths, the sweep's name) is markup or script, huge, deeply nested, or holds
U+2028.  The page stays data (no element is made from it, nothing runs: checked in a
real Chromium) and its size stays bounded."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time

import pytest

from conftest import run_molexp
from view_project import edit_record, make_sweep, page_data, point_dir

PWN = "</script><img src=x onerror=window.pwned=1><svg onload=window.pwned=2>\u2028\u2029"
HUGE = (PWN * 10_000)[:800_000]  # 800,000 characters of markup (run.json stays < 4 MiB)


def _plant(made) -> dict:
    root, sweep_id = made["root"], made["sweep_id"]
    failed = point_dir(root, sweep_id, 0.1, 64)
    record = json.loads((failed / "run.json").read_text())
    tasks = dict(record["tasks"])
    tasks[PWN] = {"status": "failed", "error": HUGE}
    edit_record(failed, error=HUGE, tasks=tasks, warnings=[PWN] * 10_000,
                overrides=[f"x={PWN}"] * 5_000)
    with open(failed / "run.log", "a") as log:
        log.write(PWN * 100 + "\n")
    ok = point_dir(root, sweep_id, 0.01, 32)
    (result,) = (ok / "results").glob("Train-*.json")
    stored = json.loads(result.read_text())
    stored["result"] = {PWN: PWN, "big": HUGE, "loss": 0.32,
                        "deep": json.loads("[" * 500 + "]" * 500)}
    result.write_text(json.dumps(stored))
    with open(ok / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps({"task": PWN, "attempt": 1, "step": 99, "time": 1.0,
                                  "metrics": {PWN: 1.0}}) + "\n")
        metrics.write(json.dumps({"task": PWN, "attempt": 1, "step": 99, "time": 1.0,
                                  "metrics": {"val/loss": 0.5}}) + "\n")
    index = ok / "artifacts" / "Train.index.json"
    entry = json.loads(index.read_text())
    entry["files"] = [{"path": PWN, "size": 1, "sha256": "0" * 64}] + entry["files"]
    index.write_text(json.dumps(entry))
    deep = point_dir(root, sweep_id, 0.01, 64)
    (result,) = (deep / "results").glob("Train-*.json")
    result.write_text('{"task": "Train", "result": ' + "[" * 100_000 + "]" * 100_000 + "}")
    sweep_file = root / ".sweeps" / sweep_id / "sweep.json"
    sweep = json.loads(sweep_file.read_text())
    sweep["name"] = PWN
    sweep_file.write_text(json.dumps(sweep))
    return {"failed": failed.name, "ok": ok.name}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    work = tmp_path_factory.mktemp("view-hostile")
    made = make_sweep(work)
    names = _plant(made)
    started = time.monotonic()
    done = run_molexp("view", made["sweep_id"], "-o", work / "page.html", cwd=work)
    assert done.returncode == 0, done.stderr
    return {"work": work, "page": work / "page.html", "seconds": time.monotonic() - started,
            **made, **names}


def test_the_page_stays_bounded_and_data(hostile):
    html = hostile["page"].read_text()
    assert len(html) < 1_000_000  # megabytes of errors, 10,000 warnings: cut, not copied
    block = re.search(r'id="molexp-data">(.*?)</script>', html, re.S).group(1)
    assert not set("<>&\u2028\u2029") & set(block)
    outside = html.replace(block, "")
    assert "<img" not in outside and "<svg" not in outside  # the title: escaped
    assert outside.count("pwned") == 4 and outside.count("&lt;img src=x onerror") == 2
    data = page_data(html)
    runs = {r["id"]: r for r in data["runs"]}
    failed = data["details"][str(list(runs).index(hostile["failed"]))]
    assert failed["error"].startswith(PWN) and failed["error"].endswith("characters)")
    assert len(failed["error"]) < 21_000 and len(failed["warnings"]) == 51
    assert failed["tasks"][PWN]["status"] == "failed"
    ok = runs[hostile["ok"]]
    assert ok["results"][f"Train.{PWN}"] == PWN and len(ok["results"]["Train.big"]) == 200
    assert ok["results"]["Train.loss"] == 0.32
    assert PWN not in data["metric_names"]  # not a metric name: the line is skipped
    assert hostile["seconds"] < 60


def test_nothing_runs_and_every_value_is_text_in_chromium(hostile):
    from test_view_browser import _browser_or_skip, js, open_page, start_browser

    _browser_or_skip()
    profile = tempfile.mkdtemp(prefix="molexp-chromium-")
    driver = start_browser(profile)
    try:
        open_page(driver, hostile["page"])
        for run in (hostile["failed"], hostile["ok"]):
            js(driver, f"molexpView.select(molexpView.runs.findIndex(r => r.id === '{run}'))")
            time.sleep(0.2)
            panel = driver.find_element("css selector", "#panel-body").text
            assert "window.pwned" in panel  # shown, as text
        assert js(driver, "return window.pwned") is None
        assert js(driver, "return document.querySelectorAll('img, svg, iframe, object, embed,"
                          " script:not([type]), script[src]').length") == len(
            re.findall(r"<script>", hostile["page"].read_text()))
        assert PWN[:20] in js(driver, "return document.getElementById('title').textContent")
        problems = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert problems == []  # no CSP violation either: nothing tried to load or run
        headings = js(driver, "return Array.from(document.querySelectorAll('#runs th'))"
                              ".map(th => th.textContent)")
        assert f"Train.{PWN}" in headings
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_a_planted_page_path_link_and_huge_store_values_never_escape(hostile, tmp_path):
    """-o through a link is refused (the target is untouched), and --serve's data is the
    same escaped JSON."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "page.html").symlink_to(victim)
    done = run_molexp("view", hostile["sweep_id"], "-o", tmp_path / "page.html",
                      cwd=hostile["work"])
    assert done.returncode == 1 and victim.read_text() == "keep"
    from molexp_core.view.page import script_json

    text = script_json({"x": PWN})
    assert json.loads(text) == {"x": PWN} and not set("<>&\u2028\u2029") & set(text)
    assert os.path.getsize(hostile["page"]) < 1_000_000
