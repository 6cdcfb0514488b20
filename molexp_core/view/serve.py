"""``molexp view --serve``: the page on 127.0.0.1, its data rebuilt while a sweep runs.

``GET /`` is the page (built like the file, plus a refresh every ``interval``
seconds); ``GET /data.json`` the same data, rebuilt at most once per interval
(the page fetches it and redraws in place, keeping the filter, sort and choices).
Only loopback is bound, and a request whose ``Host`` is not this loopback address
is refused (no other site can read it through DNS rebinding).  Ctrl-C stops.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import click


def serve_page(selection: Callable[[], Any], details: int, argv: List[str], port: int,
               interval: float) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from molexp_core.view import page

    lock = threading.Lock()
    cache: dict = {"at": 0.0, "data": None}

    def data() -> dict:
        with lock:
            if cache["data"] is None or time.monotonic() - cache["at"] >= interval:
                cache["data"] = page.page_data(selection(), details, argv)
                cache["at"] = time.monotonic()
            return cache["data"]

    allowed: List[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.headers.get("Host") not in allowed:
                return self._send(403, b"forbidden", "text/plain")
            path = self.path.split("?", 1)[0]
            try:
                if path == "/":
                    current = data()
                    body = page.render(current, current["title"], refresh=max(1, round(interval)))
                    return self._send(200, body.encode("utf-8"), "text/html; charset=utf-8")
                if path == "/data.json":
                    return self._send(200, page.script_json(data()).encode("utf-8"),
                                      "application/json")
            except Exception as exc:  # the store changed under us: say so, keep serving
                return self._send(500, f"molexp view: {exc}".encode("utf-8"), "text/plain")
            return self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: one line at start is enough

    data()  # a bad selection is an error now, not on the first request
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    bound = server.server_address[1]
    allowed.extend([f"127.0.0.1:{bound}", f"localhost:{bound}"])
    click.echo(f"http://127.0.0.1:{bound}/  (refreshed every {interval:g}s; Ctrl-C stops)")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

