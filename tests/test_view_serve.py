"""`molexp view --serve`: the page on 127.0.0.1, its data following the run store."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess

import shutil
import tempfile
import time

import pytest

from conftest import molexp_command
from view_project import edit_record, make_sweep, page_data, point_dir


def _get(port: int, path: str, host: str = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def start_server(cwd):
    env = {k: v for k, v in os.environ.items() if k != "MOLEXP_RUNS_DIR"}
    server = subprocess.Popen(molexp_command() + ["view", "--serve", "--interval", "0.5"],
                              cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("http://127.0.0.1:"):
        stop_server(server)
        pytest.fail(server.stderr.read() if not line else line)
    return server, int(line.split(":")[2].split("/")[0])


def stop_server(server):
    server.send_signal(signal.SIGINT)  # the process this test started, by its pid
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_serve_refreshes_while_the_sweep_changes(tmp_path):
    made = make_sweep(tmp_path)
    server, port = start_server(tmp_path)
    try:
        status, html = _get(port, "/")
        assert status == 200 and 'data-refresh="1"' in html and "connect-src &#x27;self&#x27;" in html
        assert len(page_data(html)["runs"]) == 9
        failed = point_dir(made["root"], made["sweep_id"], 0.1, 64)
        edit_record(failed, status="cancelled", error="cancelled by user")
        deadline = time.time() + 20
        while True:
            status, body = _get(port, "/data.json")
            runs = json.loads(body)["runs"]  # columns
            statuses = dict(zip(runs["id"], runs["status"]))
            if statuses[failed.name] == "cancelled":
                break
            assert time.time() < deadline, "the served data never changed"
            time.sleep(0.3)
        assert _get(port, "/", host="attacker.example:80")[0] == 403  # DNS rebinding
        assert _get(port, "/../run.json")[0] == 404
    finally:
        stop_server(server)
    assert server.returncode == 0, server.stderr.read()


def test_the_served_page_redraws_in_place_keeping_the_filter(tmp_path):
    from test_view_browser import _browser_or_skip, column, js, start_browser

    _browser_or_skip()
    made = make_sweep(tmp_path)
    server, port = start_server(tmp_path)
    profile = tempfile.mkdtemp(prefix="molexp-chromium-")
    driver = start_browser(profile)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        deadline = time.time() + 30
        while js(driver, "return document.body.dataset.ready") != "1":
            assert time.time() < deadline
            time.sleep(0.05)
        js(driver, "document.getElementById('filter').value = 'status=failed';"
                   "molexpView.refresh()")
        assert column(driver, "status") == ["failed"]
        edit_record(point_dir(made["root"], made["sweep_id"], 0.01, 32), status="failed",
                    error="planted")
        deadline = time.time() + 20
        while len(column(driver, "status")) != 2:  # the new failure appears, filter kept
            assert time.time() < deadline, "the page never redrew"
            time.sleep(0.2)
        assert js(driver, "return document.getElementById('filter').value") == "status=failed"
        problems = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert problems == []
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        stop_server(server)
