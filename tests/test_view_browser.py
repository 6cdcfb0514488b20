"""`molexp view`'s page in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium; `.ci/run` installs them).

One real 3 x 3 sweep, then planted states: a point deleted (missing), one marked
running on another host (queued), one whose environment differs (not a fair
comparison); one point failed for real, one returned NaN.  The page is opened
from file://, as after `scp`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import molexp_command, run_molexp
from view_project import (HOSTILE, edit_record, make_big_sweep, make_sweep, plant_environment,
                          point_dir)

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1800")


def _browser_or_skip():
    missing = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        if os.environ.get("MOLEXP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no browser for the page tests: {', '.join(missing)}")
        pytest.skip(f"no browser: {', '.join(missing)} (apt-get install chromium "
                    "chromium-driver)")


def start_browser(profile_dir: str):
    """Chromium with a fresh profile, console and network logging on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def open_page(driver, path: Path) -> None:
    driver.get(path.as_uri())
    deadline = time.time() + 60
    while driver.execute_script("return document.body.dataset.ready") != "1":
        assert time.time() < deadline, "the page never got ready"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    _browser_or_skip()
    work = tmp_path_factory.mktemp("view-browser")
    made = make_sweep(work)
    root, sweep_id = made["root"], made["sweep_id"]
    shutil.rmtree(point_dir(root, sweep_id, 0.001, 16))  # missing
    queued = point_dir(root, sweep_id, 0.1, 32)
    record = json.loads((queued / "run.json").read_text())
    record["tasks"]["Train"]["status"] = "running"
    edit_record(queued, status="running", host="another-host", finished_at=None,
                tasks=record["tasks"])
    plant_environment(point_dir(root, sweep_id, 0.01, 32), "0" * 64)  # not a fair comparison
    done = run_molexp("view", "-o", work / "page.html", cwd=work)
    assert done.returncode == 0, done.stderr
    profile = tempfile.mkdtemp(prefix="molexp-chromium-")
    driver = start_browser(profile)
    try:
        driver.get("about:blank")
        driver.get_log("performance")  # reading drains it: what the new tab page loaded
        driver.get_log("browser")
        driver.get((work / "page.html").as_uri())
        deadline = time.time() + 30
        while driver.execute_script("return document.body.dataset.ready") != "1":
            assert time.time() < deadline, "the page never got ready"
            time.sleep(0.05)
        yield driver, made
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def js(driver, code):
    return driver.execute_script(code)


def column(driver, col):
    return js(driver, "return Array.from(document.querySelectorAll("
                      f"'#runs tbody tr[data-run] td[data-col=\"{col}\"]')).map(td => td.textContent)")


def test_loads_with_no_network_request_and_no_console_error(page):
    driver, _ = page
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls == [driver.current_url]  # the file itself, nothing else
    assert js(driver, "return performance.getEntriesByType('resource').length") == 0
    problems = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    assert js(driver, "return window.pwned") is None
    assert js(driver, "return document.querySelectorAll('img, svg, iframe, object, embed')"
                      ".length") == 0
    common = js(driver, "return document.getElementById('common-body').textContent")
    assert "<img src=x onerror=window.pwned=1></script><svg onload=window.pwned=1>" in common
    assert js(driver, "return molexpView.runs.length") == 9


def test_table_sorts_with_missing_and_nan_last_both_ways(page):
    driver, _ = page
    header = driver.find_element("css selector", '#runs th[data-col="res:Train.loss"]')
    header.click()
    ascending = column(driver, "res:Train.loss")
    assert ascending[:5] == ["0.032", "0.064", "0.16", "0.32", "0.64"]
    assert sorted(ascending[5:]) == ["NaN", "\u2014", "\u2014", "\u2014"]
    header = driver.find_element("css selector", '#runs th[data-col="res:Train.loss"]')
    header.click()
    descending = column(driver, "res:Train.loss")
    assert descending[:5] == ["0.64", "0.32", "0.16", "0.064", "0.032"]
    assert sorted(descending[5:]) == ["NaN", "\u2014", "\u2014", "\u2014"]
    driver.find_element("css selector", '#runs th[data-col="cfg:batch_size"]').click()
    assert column(driver, "cfg:batch_size") == ["16"] * 3 + ["32"] * 3 + ["64"] * 3


@pytest.mark.parametrize("text, count", [
    ("status=failed", 1), ("Train.loss<0.2", 3), ("batch_size=64 succeeded", 2),
    ("optimizer.lr>=0.01 status!=succeeded", 2), ("no-such-thing", 0),
    ("profile=smoke", 9), ("profile!=smoke", 0),  # one profile: no column, still a filter
    ("", 9),
])
def test_table_filters(page, text, count):
    driver, _ = page
    box = driver.find_element("css selector", "#filter")
    box.clear()
    js(driver, "document.getElementById('filter').dispatchEvent(new Event('input'))")
    if text:
        box.send_keys(text)
    time.sleep(0.4)  # the filter waits for typing to pause
    assert len(column(driver, "status")) == count
    assert js(driver, "return molexpView.shownRuns.length") == count


def test_heatmap_draws_values_and_marks_missing_failed_and_queued(page):
    driver, _ = page
    cells = js(driver, """return Array.from(document.querySelectorAll('#heatmap .cell')).map(c =>
        [c.dataset.x, c.dataset.y, c.dataset.state, c.dataset.value, c.style.background])""")
    by = {(x, y): (state, value, colour) for x, y, state, value, colour in cells}
    assert len(by) == 9
    state, value, colour = by[("0.01", "32")]
    assert state == "value" and float(value) == pytest.approx(0.32) and colour.startswith("rgb")
    assert by[("0.1", "64")][0] == "failed"
    assert by[("0.1", "32")][0] == "queued"
    assert by[("0.001", "16")][0] == "missing"
    assert by[("0.1", "16")][0] == "novalue"  # succeeded, but its loss is NaN
    assert js(driver, "return document.getElementById('resume-command').textContent").startswith(
        "molexp run train.py -p smoke")


def test_a_cell_with_a_value_marks_its_missing_failed_and_waiting_points(page):
    """With one swept key on the heatmap, a cell is the mean over the other's points;
    the points that have no number still show, in the cell's corner and its title."""
    driver, _ = page
    js(driver, "const y = document.getElementById('hm-y'); y.value = '(none)';"
               "y.dispatchEvent(new Event('change'))")
    try:
        cells = js(driver, """return Object.fromEntries(Array.from(document.querySelectorAll(
            '#heatmap .cell')).map(c => [c.dataset.x, [c.dataset.state, c.dataset.failed,
            c.dataset.waiting, c.dataset.missing, (c.querySelector('.marks') || {}).textContent
            || '', c.title]]))""")
        state, failed, waiting, missing, marks, title = cells["0.001"]  # 16: gone; 32, 64
        assert (state, failed, waiting, missing, marks) == ("value", "0", "0", "1", "\u00B7")
        assert "3 point(s)" in title and "1 missing" in title and "mean of 2" in title
        state, failed, waiting, missing, marks, title = cells["0.1"]  # NaN, running, failed
        assert (state, failed, waiting) == ("failed", "1", "1")
        assert "1 queued or running" in title
        caption = js(driver, "return document.getElementById('hm-caption').textContent")
        assert "mean over its points (batch_size)" in caption
    finally:
        js(driver, "const y = document.getElementById('hm-y'); y.value = 'batch_size';"
                   "y.dispatchEvent(new Event('change'))")


def test_the_heatmap_colours_by_a_field_that_varies_best_by_its_name(page):
    driver, _ = page
    assert js(driver, "return document.getElementById('hm-field').value") == "res:Train.loss"
    assert js(driver, "return document.getElementById('hm-low').checked") is True
    js(driver, "const f = document.getElementById('hm-field'); f.value = 'res:Train.acc';"
               "f.dispatchEvent(new Event('change'))")
    try:  # an accuracy: the highest is best
        assert js(driver, "return document.getElementById('hm-low').checked") is False
        assert "highest is brightest" in js(
            driver, "return document.getElementById('hm-caption').textContent")
    finally:
        js(driver, "const f = document.getElementById('hm-field'); f.value = 'res:Train.loss';"
                   "f.dispatchEvent(new Event('change'))")


def test_fair_comparison_badge_marks_the_planted_mismatch(page):
    driver, made = page
    unfair = point_dir(made["root"], made["sweep_id"], 0.01, 32).name
    badges = js(driver, """return Array.from(document.querySelectorAll(
        '#runs tbody tr[data-run]')).filter(tr => tr.querySelector('.badge.unfair'))
        .map(tr => tr.querySelector('td[data-col="id"]').textContent)""")
    assert badges == [unfair]
    title = js(driver, "return document.querySelector('#runs .badge.unfair').title")
    assert "environment 000000000000" in title
    assert "1 run(s)" in js(driver, "return document.getElementById('fairness').textContent")
    assert js(driver, "return document.querySelectorAll('#heatmap .cell.unfair').length") == 1


def test_a_curve_is_drawn_from_metrics(page):
    driver, _ = page
    series = js(driver, "return molexpView.curves.series")
    assert len(series) == 7 and all(s["points"] == 6 for s in series)
    inked = js(driver, """const c = document.querySelector('#curves canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n""")
    assert inked > 500


def test_replicates_collapse_into_mean_and_std(page):
    driver, _ = page
    js(driver, "const s = document.getElementById('collapse'); s.value = 'optimizer.lr';"
               "s.dispatchEvent(new Event('change'))")
    try:
        groups = js(driver, """return Array.from(document.querySelectorAll('#runs tbody tr[data-group]'))
            .map(tr => [tr.querySelector('td[data-col="cfg:batch_size"]').textContent,
                        tr.querySelector('td[data-col="res:Train.loss"]').textContent])""")
        assert sorted(groups)[0] == ["16", "0.16 \u00B1 0 (n=1)"]  # 0.001: gone; 0.1: NaN
        assert sorted(groups)[2] == ["64", "0.35 \u00B1 0.41 (n=2)"]  # std: 2 digits
        js(driver, "document.querySelector('#runs tbody tr[data-group]').click()")
        members = js(driver, "return Array.from(document.querySelectorAll('#panel .member'))"
                             ".map(b => b.textContent)")
        assert len(members) == 3  # the group's runs, to pick one
        js(driver, "document.querySelectorAll('#panel .member')[2].click()")
        assert js(driver, "return document.querySelector('#panel .member.current').textContent"
                          ) == members[2]
    finally:
        js(driver, "const s = document.getElementById('collapse'); s.value = '';"
                   "s.dispatchEvent(new Event('change'))")


def test_collapsed_replicates_draw_one_mean_curve_per_group(page):
    driver, _ = page
    js(driver, "const s = document.getElementById('collapse'); s.value = 'optimizer.lr';"
               "s.dispatchEvent(new Event('change'))")
    try:
        time.sleep(0.3)  # the charts are drawn just after the table
        series = js(driver, "return molexpView.curves.series")
        # batch sizes 16, 32, 64: each group's runs with curves (0.001/16 is gone,
        # 0.1/64 failed before logging; 0.1/32, planted running, has logged its curve)
        assert sorted(s["run"] for s in series) == [
            "batch_size=16 (mean of 2)", "batch_size=32 (mean of 3)",
            "batch_size=64 (mean of 2)"]
        assert "mean over a group" in js(
            driver, "return document.getElementById('curves-note').textContent")
    finally:
        js(driver, "const s = document.getElementById('collapse'); s.value = '';"
                   "s.dispatchEvent(new Event('change'))")
        time.sleep(0.3)


def test_run_panel_shows_error_log_and_config_as_text(page):
    driver, made = page
    failed = point_dir(made["root"], made["sweep_id"], 0.1, 64).name
    driver.find_element("css selector", f'#runs tr[data-run] td[data-col="id"]').click()
    js(driver, f"""Array.from(document.querySelectorAll('#runs tbody tr[data-run]'))
        .find(tr => tr.textContent.includes('{failed}')).click()""")
    panel = driver.find_element("css selector", "#panel-body").text
    assert failed in panel and "run.log (tail)" in panel and "Artifacts" not in panel  # failed
    ok = point_dir(made["root"], made["sweep_id"], 0.01, 16).name
    js(driver, f"""Array.from(document.querySelectorAll('#runs tbody tr[data-run]'))
        .find(tr => tr.textContent.includes('{ok}')).click()""")
    panel = driver.find_element("css selector", "#panel-body").text
    assert "Artifacts" in panel and "model.txt" in panel and "train/loss" in panel
    js(driver, f"""Array.from(document.querySelectorAll('#runs tbody tr[data-run]'))
        .find(tr => tr.textContent.includes('{failed}')).click()""")
    panel = driver.find_element("css selector", "#panel-body").text
    assert "</script><script>window.pwned=1</script>" in panel
    assert HOSTILE in panel
    assert js(driver, "return window.pwned") is None
    assert js(driver, "return document.querySelectorAll('#panel img, #panel b').length") == 1


@pytest.fixture(scope="module")
def big_page(tmp_path_factory):
    """2,500 points (50 x 50): the heatmap is a canvas, the table draws a window."""
    _browser_or_skip()
    work = tmp_path_factory.mktemp("view-big")
    env = {k: v for k, v in os.environ.items() if k != "MOLEXP_RUNS_DIR"}
    make_big_sweep(work, 2500, molexp_command()[0], env)
    done = run_molexp("view", "-o", work / "page.html", cwd=work)
    assert done.returncode == 0, done.stderr
    profile = tempfile.mkdtemp(prefix="molexp-chromium-")
    driver = start_browser(profile)
    try:
        open_page(driver, work / "page.html")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pixel(driver, i, j):
    """The colour at the centre of heatmap cell (x index i, y index j) of the canvas."""
    return js(driver, f"""const c = document.getElementById('heatmap-canvas');
        const size = Math.max(2, Math.min(24, Math.floor(900 / 50), Math.floor(600 / 50)));
        return Array.from(c.getContext('2d').getImageData(60 + {i} * size + size / 2,
            18 + {j} * size + size / 2, 1, 1).data)""")


def test_a_large_grid_is_one_canvas_with_its_states_and_clicks(big_page):
    driver = big_page
    assert js(driver, "return document.querySelectorAll('#heatmap .cell').length") == 0
    assert pixel(driver, 0, 7)[:3] == [0xe5, 0x73, 0x73]  # b=7: every 50th point failed
    assert pixel(driver, 0, 11)[:3] == [0xee, 0xee, 0xee]  # missing (a even, b=11)
    value = pixel(driver, 1, 0)  # a=1, b=0: loss 0.01, nearly the best: bright
    assert value[3] == 255 and value[:3] not in ([0xe5, 0x73, 0x73], [0xee, 0xee, 0xee])
    js(driver, """const c = document.getElementById('heatmap-canvas'), r = c.getBoundingClientRect();
        const size = Math.max(2, Math.min(24, Math.floor(900 / 50), Math.floor(600 / 50)));
        c.dispatchEvent(new MouseEvent('click', {clientX: r.left + 60 + 2 * size + 2,
            clientY: r.top + 18 + 5 * size + 2, bubbles: true}))""")
    selected = js(driver, "const r = molexpView.runs[molexpView.selected]; return r.point")
    assert selected == {"a": 2, "b": 5}
    assert "25 run(s)" in js(driver, "return document.getElementById('fairness').textContent")


def test_a_large_table_draws_a_window_and_sorts_everything(big_page):
    driver = big_page
    assert js(driver, "return molexpView.shownRuns.length") == 2500
    assert js(driver, "return document.querySelectorAll('#runs tbody tr[data-run]').length") <= 80
    js(driver, "document.getElementById('panel-close').click()")  # the run panel covers it
    driver.find_element("css selector", '#runs th[data-col="res:Train.loss"]').click()
    assert column(driver, "res:Train.loss")[:3] == ["0", "0.01", "0.02"]
    js(driver, "const w = document.getElementById('table-wrap'); w.scrollTop = w.scrollHeight;"
               "w.dispatchEvent(new Event('scroll'))")
    time.sleep(0.3)
    tail = column(driver, "res:Train.loss")
    assert tail[-1] == "\u2014"  # failed and missing points: last, however far down
    assert len(tail) <= 80
