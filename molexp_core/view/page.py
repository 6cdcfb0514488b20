"""The page: ``assets/page.html`` with its CSS, its JavaScript, uPlot and the data inline.

The data is JSON inside ``<script type="application/json">`` (never code), with
``<``, ``>``, ``&`` and the two JavaScript line separators escaped, so no value
(a config key, a result, an error text, a log line) can close the element or
start markup; the page's JavaScript puts every value into the DOM as text.  A
Content-Security-Policy allows only the page's own inline scripts (by their
SHA-256) and no connection, image, font or frame from anywhere: the page makes
no network request, opened from ``file://``, mailed, or copied off a cluster.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

ASSETS = Path(__file__).resolve().parent / "assets"
SCRIPTS = ("vendor/uplot/uPlot.iife.min.js", "util.js", "rows.js", "table.js", "charts.js",
           "sweep.js", "curves.js", "panel.js", "app.js")
STYLES = ("vendor/uplot/uPlot.min.css", "view.css")
FORMAT = 2  # of the data block, documented in docs/view.md
_TOKEN = re.compile(r"@@(?:CSP|TITLE|STYLE|DATA|SCRIPTS|REFRESH)@@")


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      default=str)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render(data: Dict[str, Any], title: str, refresh: Optional[int] = None) -> str:
    """The whole page.  ``refresh``: seconds between reloads (``--serve``), else none."""
    scripts: List[str] = [_asset(name) for name in SCRIPTS]
    for text in scripts:
        if "</script" in text.lower():  # pragma: no cover - a vendored file must not close it
            raise ValueError("an asset contains '</script'")
    hashes = " ".join(f"'sha256-{_sha256(text)}'" for text in scripts)
    styles = "\n" + "\n".join(_asset(name) for name in STYLES) + "\n"
    # only the page's own script and style elements, by hash; no style attribute, no
    # image, font, frame or connection (but --serve's own data.json)
    csp = (f"default-src 'none'; script-src {hashes}; style-src 'sha256-{_sha256(styles)}'; "
           "base-uri 'none'; form-action 'none'"
           + ("; connect-src 'self'" if refresh else ""))
    body = "\n".join(f"<script>{text}</script>" for text in scripts)
    parts = {
        "@@CSP@@": html.escape(csp, quote=True),
        "@@TITLE@@": html.escape(title),
        "@@STYLE@@": styles,
        "@@DATA@@": script_json(data),
        "@@SCRIPTS@@": body,
        "@@REFRESH@@": str(int(refresh)) if refresh else "",
    }
    # one pass over the template: an inserted value is never scanned for tokens again
    return _TOKEN.sub(lambda m: parts[m.group(0)], _asset("page.html"))


def page_data(selection: Any, details_limit: int, argv: List[str]) -> Dict[str, Any]:
    """Everything the page shows, as one JSON-able mapping (``"format"`` 1)."""
    from datetime import datetime, timezone

    from molexp_core.version import __version__
    from molexp_core.view.collect import collect
    from molexp_core.view.details import all_details

    rows, data = collect(selection)
    data["details"] = all_details(rows, details_limit)
    data["details_limit"] = details_limit
    data.update({
        "format": FORMAT,
        "title": title_of(selection),
        "how": selection.how,
        "root": str(selection.root),
        "command": argv,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "molexp_version": __version__,
    })
    return data


def title_of(selection: Any) -> str:
    if len(selection.sweeps) == 1 and not selection.runs:
        record = selection.sweeps[0][1]
        name = record.get("name") or "inline sweep"
        return f"{Path(str(record.get('script') or '?')).name}: {name} ({record['sweep_id']})"
    return f"molexp: {selection.how}" if selection.how else "molexp runs"
