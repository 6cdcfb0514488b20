"""`molexp view --serve`: the page on 127.0.0.1, its data following the run store."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess

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


def test_serve_refreshes_while_the_sweep_changes(tmp_path):
    made = make_sweep(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MOLEXP_RUNS_DIR"}
    server = subprocess.Popen(molexp_command() + ["view", "--serve", "--interval", "0.5"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), server.stderr.read() if not line else line
        port = int(line.split(":")[2].split("/")[0])
        status, html = _get(port, "/")
        assert status == 200 and 'data-refresh="1"' in html and "connect-src &#x27;self&#x27;" in html
        assert len(page_data(html)["runs"]) == 9
        failed = point_dir(made["root"], made["sweep_id"], 0.1, 64)
        edit_record(failed, status="cancelled", error="cancelled by user")
        import time

        deadline = time.time() + 20
        while True:
            status, body = _get(port, "/data.json")
            statuses = {r["id"]: r["status"] for r in json.loads(body)["runs"]}
            if statuses[failed.name] == "cancelled":
                break
            assert time.time() < deadline, "the served data never changed"
            time.sleep(0.3)
        assert _get(port, "/", host="attacker.example:80")[0] == 403  # DNS rebinding
        assert _get(port, "/../run.json")[0] == 404
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, server.stderr.read()
