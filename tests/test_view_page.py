"""`molexp view` without a browser: what it selects, writes and escapes, the command
that fills a sweep's holes (run for real), and that `molexp run` never loads it."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import run_molexp, write
from view_project import AXES, HOSTILE, edit_record, make_sweep, page_data, point_dir

REPO = Path(__file__).resolve().parents[1]
UPLOT = REPO / "molexp_core" / "view" / "assets" / "vendor" / "uplot"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return make_sweep(tmp_path_factory.mktemp("view-sweep"))


def view(*args, cwd):
    return run_molexp("view", *args, cwd=cwd, env={"MOLEXP_RUNS_DIR": ""})


class _Refs(HTMLParser):
    """Every tag and attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.loads, self.scripts = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if attrs.get(name):
                self.loads.append((tag, name, attrs[name]))
        if tag == "link":
            self.loads.append((tag, "link", attrs))
        if tag == "script":
            self.scripts.append(attrs)


def test_default_is_the_newest_sweep_one_self_contained_file(sweep, tmp_path):
    cwd = sweep["root"].parent
    done = view(cwd=cwd)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == cwd / f"molexp-view-{sweep['sweep_id']}.html" and path.is_file()
    html = path.read_text()
    refs = _Refs()
    refs.feed(html)
    assert refs.loads == []  # nothing to fetch: no src, href, link
    assert all(s in ({}, {"type": "application/json", "id": "molexp-data"}) for s in refs.scripts)
    csp = __import__("html").unescape(
        re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    for body in re.findall(r"<script>(.*?)</script>", html, re.S):  # each script allowed by hash
        digest = __import__("base64").b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    data = page_data(html)
    assert data["format"] == 2 and len(data["runs"]) == 9
    assert [s["id"] for s in data["sweeps"]] == [sweep["sweep_id"]]
    assert data["sweeps"][0]["keys"] == ["optimizer.lr", "batch_size"]
    assert data["varying"] == ["batch_size", "optimizer.lr"]  # diff-first: the rest is common
    assert data["common"]["dataset"] == "qm9" and data["common"]["note"] == HOSTILE
    assert data["common"]["<img src=x onerror=window.pwned=1>"] == \
        "</script><svg onload=window.pwned=1>"
    by_point = {(r["point"]["optimizer.lr"], r["point"]["batch_size"]): r for r in data["runs"]}
    assert by_point[(0.01, 32)]["results"]["Train.loss"] == 0.32
    assert by_point[(0.1, 16)]["results"]["Train.loss"] == {"$nf": "NaN"}
    assert by_point[(0.1, 64)]["status"] == "failed"
    assert "<b>loss</b>" in by_point[(0.1, 64)]["error"]
    position = data["runs"].index(by_point[(0.01, 16)])
    artifacts = data["details"][str(position)]["artifacts"]["Train"]
    assert artifacts["files"] == [{"path": "model.txt", "size": 13, "sha256": hashlib.sha256(
        b"lr=0.01 bs=16").hexdigest()}]
    curve = data["details"][str(position)]["metrics"]["train/loss"]
    assert curve["steps"] == list(range(6)) and curve["values"][0] == pytest.approx(0.16)


def test_hostile_values_stay_inside_the_data_block(sweep):
    html = view("-o", "-", cwd=sweep["root"].parent).stdout
    block = re.search(r'id="molexp-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert html.count("</script>") == len(re.findall(r"<script[ >]", html))  # none closed early
    assert "<img" not in html and "window.pwned" not in html.replace(block, "")
    data = page_data(html)  # and the values survive exactly
    assert data["common"]["note"] == HOSTILE
    failed = [r for r in data["runs"] if r["status"] == "failed"][0]
    details = data["details"][str(data["runs"].index(failed))]
    assert "</script><script>window.pwned=1</script>" in details["tasks"]["Train"]["error"]
    assert "run.log" in details["logs"]


def test_runs_and_sweeps_by_id_prefix_latest_and_script(sweep, tmp_path):
    cwd = sweep["root"].parent
    target = tmp_path / "page.html"
    done = view(sweep["sweep_id"][:12], "-o", target, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target)
    assert len(page_data(target.read_text())["runs"]) == 9
    run_id = point_dir(sweep["root"], sweep["sweep_id"], 0.01, 16).name
    data = page_data(view("latest", run_id[:22], "-o", "-", cwd=cwd).stdout)
    assert [r["id"] for r in data["runs"]][1] == run_id and len(data["runs"]) == 2
    assert data["sweeps"] == []
    assert len(page_data(view("--script", "train.py", "-o", "-", cwd=cwd).stdout)["runs"]) == 9
    both = page_data(view(sweep["sweep_id"], run_id, "-o", "-", cwd=cwd).stdout)
    assert len(both["runs"]) == 9  # a point named beside its sweep is one row


@pytest.mark.parametrize("args, code, message", [
    (("sw-nope",), 1, "no sweep 'sw-nope'"),
    (("nope",), 1, "no run 'nope'"),
    (("latest", "--script", "train.py"), 2, "--script and --profile choose"),
    (("--script", "other.py"), 2, "no runs of other.py"),
    (("--port", "8000"), 2, "--port and --interval go with --serve"),
])
def test_bad_references_are_one_line_errors(sweep, args, code, message):
    done = view(*args, cwd=sweep["root"].parent)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_no_runs_at_all_is_a_clear_error(tmp_path):
    done = view(cwd=tmp_path)
    assert done.returncode == 2 and "no runs under" in done.stderr


def test_output_into_a_missing_directory_or_through_a_link_is_refused(sweep, tmp_path):
    cwd = sweep["root"].parent
    done = view("-o", tmp_path / "no" / "page.html", cwd=cwd)
    assert done.returncode == 1 and "does not exist" in done.stderr
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "link.html").symlink_to(victim)
    done = view("-o", tmp_path / "link.html", cwd=cwd)
    assert done.returncode == 1 and "symbolic link" in done.stderr
    assert victim.read_text() == "keep"


def test_the_hole_filling_command_fills_the_holes(tmp_path):
    """The command the page shows, run as the page says, resumes this very sweep."""
    made = make_sweep(tmp_path)
    root, sweep_id = made["root"], made["sweep_id"]
    gone = point_dir(root, sweep_id, 0.01, 64)
    edit_record(gone, status="cancelled", error="cancelled by user")  # a second hole
    data = page_data(view("-o", "-", cwd=tmp_path).stdout)
    resume = data["sweeps"][0]["resume"]
    assert sorted(resume["holes"]) == [5, 8] and resume["waiting"] == [] and resume["notes"] == []
    words = shlex.split(resume["command"])
    assert words[:3] == ["molexp", "run", "train.py"] and words[-1] == "--resume"
    assert words[words.index("--sweep") + 1] == AXES[1]
    (tmp_path / "FAIL").unlink()  # the cause of the failure is fixed
    done = subprocess.run(resume["command"], shell=True, cwd=resume["cwd"], capture_output=True,
                          text=True, timeout=300,
                          env={**__import__("os").environ, "PATH": str(Path(sys.executable).parent)
                               + ":" + __import__("os").environ["PATH"]})
    assert done.returncode == 0, done.stderr
    assert f"resuming sweep {sweep_id}: 2 of 9" in done.stderr
    after = page_data(view(sweep_id, "-o", "-", cwd=tmp_path).stdout)
    assert {r["status"] for r in after["runs"]} == {"succeeded"}
    assert after["sweeps"][0]["resume"]["command"] is None


def test_the_command_fills_points_that_have_no_run_of_their_own(tmp_path):
    """A point whose run was deleted shows missing, one that was never prepared (the
    sweep killed while preparing it) interrupted, each with the reason; the command
    the page shows makes a new run for both and runs the failed one again."""
    import os

    made = make_sweep(tmp_path)
    root, sweep_id = made["root"], made["sweep_id"]
    deleted = point_dir(root, sweep_id, 0.001, 16)
    never = point_dir(root, sweep_id, 0.01, 16)
    shutil.rmtree(deleted)
    shutil.rmtree(never)
    sweep_file = root / ".sweeps" / sweep_id / "sweep.json"
    record = json.loads(sweep_file.read_text())
    (entry,) = [p for p in record["points"] if p["run_dir"] and p["run_dir"].endswith(never.name)]
    entry.update(run_id=None, run_dir=None, job_id=None)
    sweep_file.write_text(json.dumps(record))
    data = page_data(view("-o", "-", cwd=tmp_path).stdout)
    by_index = {r["index"]: r for r in data["runs"]}
    assert by_index[0]["status"] == "missing" and "is gone" in by_index[0]["error"]
    assert by_index[3]["status"] == "interrupted"
    assert "before this point was prepared" in by_index[3]["error"]
    resume = data["sweeps"][0]["resume"]
    assert (sorted(resume["holes"]), resume["missing"]) == ([3, 8], [0])
    assert any("makes a new run for each" in note for note in resume["notes"])
    (tmp_path / "FAIL").unlink()
    done = subprocess.run(resume["command"], shell=True, cwd=resume["cwd"], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                     f"{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert f"resuming sweep {sweep_id}: 3 of 9" in done.stderr
    after = page_data(view(sweep_id, "-o", "-", cwd=tmp_path).stdout)
    assert {r["status"] for r in after["runs"]} == {"succeeded"}
    assert after["sweeps"][0]["resume"]["command"] is None


def test_resume_command_names_config_runs_dir_and_a_newer_twin(tmp_path):
    made = make_sweep(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = page_data(view(made["sweep_id"], "--runs-dir", made["root"], "-o", "-",
                          cwd=elsewhere).stdout)
    words = shlex.split(data["sweeps"][0]["resume"]["command"])
    assert words[2] == str(tmp_path / "project" / "train.py")
    assert words[words.index("--runs-dir") + 1] == str(made["root"])
    rerun = run_molexp("run", "train.py", "-p", "smoke", "-o", f"note={HOSTILE}", *AXES,
                       cwd=tmp_path / "project", timeout=300)
    assert rerun.returncode == 1
    data = page_data(view(made["sweep_id"], "-o", "-", cwd=tmp_path / "project").stdout)
    assert any("not this one" in n for n in data["sweeps"][0]["resume"]["notes"])


def _imported(*args, cwd):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "molexp_core", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return done, re.findall(r"\|\s+(\S+)$", done.stderr, re.M)


def test_molexp_run_and_help_import_nothing_of_the_viewer(sweep, tmp_path):
    write(tmp_path / "t.py", "from molexp.workflow import Task\n\nclass T(Task):\n"
          "    async def execute(self, ctx):\n        return 1\n")
    done, modules = _imported("run", "t.py", cwd=tmp_path)
    assert done.returncode == 0 and "molexp_core.runs.supervisor" in modules  # it ran
    assert [m for m in modules if "view" in m or "selenium" in m or "html" in m] == []
    done, modules = _imported("--help", cwd=tmp_path)
    assert done.returncode == 0 and "view" in done.stdout
    assert [m for m in modules if m.startswith("molexp_core.view")] == []


def test_uplot_is_vendored_pinned_and_licensed():
    digest = hashlib.sha256((UPLOT / "uPlot.iife.min.js").read_bytes()).hexdigest()
    assert digest == "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
    assert "MIT License" in (UPLOT / "LICENSE").read_text()
    assert "1.6.32" in (UPLOT / "VERSION.txt").read_text()
    import molexp_core.view.page as page

    assert all((page.ASSETS / name).is_file() for name in page.SCRIPTS + page.STYLES)


def test_the_page_is_package_data(tmp_path):
    """A wheel carries the page's assets (a page built from an installed molexp works)."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "-q", "-w", str(tmp_path), str(REPO)], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip()[-200:]}")
    import zipfile

    (wheel,) = tmp_path.glob("molexp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("page.html", "view.css", "app.js", "vendor/uplot/uPlot.iife.min.js",
                 "vendor/uplot/LICENSE"):
        assert f"molexp_core/view/assets/{name}" in names


def test_a_point_resumed_with_changed_code_is_told_apart(tmp_path):
    """Its top-level record keeps the first attempt's script hash; the page compares
    the code its results came from."""
    made = make_sweep(tmp_path)
    (tmp_path / "FAIL").unlink()
    script = tmp_path / "train.py"
    script.write_text(script.read_text() + "\n# fixed\n")
    done = run_molexp("run", "train.py", "-p", "smoke", "-o", f"note={HOSTILE}", *AXES,
                      "--resume", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    data = page_data(view("-o", "-", cwd=tmp_path).stdout)
    assert len(data["provs"]) == 2
    resumed = point_dir(made["root"], made["sweep_id"], 0.1, 64).name
    fixed = {r["id"]: r["prov"]["script"] for r in data["runs"]}
    assert fixed[resumed] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert len({v for k, v in fixed.items() if k != resumed}) == 1
    assert fixed[resumed] not in {v for k, v in fixed.items() if k != resumed}


def test_diff_first_configs_split_varying_from_common():
    from molexp_core.view.configs import flatten, split, with_point

    base = flatten({"a": 1, "opt": {"lr": 0.1, "m": 0.9}, "tags": [1, 2], "empty": {}})
    assert base == {"a": 1, "opt.lr": 0.1, "opt.m": 0.9, "tags": [1, 2], "empty": {}}
    assert with_point(base, {"opt.lr": 0.5}) == dict(base, **{"opt.lr": 0.5})
    replaced = with_point(base, {"opt": {"lr": 0.2}})  # a mapping value replaces the subtree
    assert replaced == {"a": 1, "opt.lr": 0.2, "tags": [1, 2], "empty": {}}
    runs = [base, dict(base, a=1.0), {k: v for k, v in base.items() if k != "tags"}]
    common, varying, per_run = split(runs)
    assert varying == ["a", "tags"]  # 1 and 1.0 differ, as in config_hash; absent varies
    assert common == {"opt.lr": 0.1, "opt.m": 0.9, "empty": {}}
    assert per_run == [{"a": 1, "tags": [1, 2]}, {"a": 1.0, "tags": [1, 2]}, {"a": 1}]
    nan = float("nan")
    assert split([{"x": nan}, {"x": nan}])[1] == []  # NaN in every run: common, not varying
    assert split([{"x": nan}, {"x": 0.0}])[1] == ["x"]
