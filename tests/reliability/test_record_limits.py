"""Nothing molexp writes is beyond what it reads back, and odd values never crash it.

Real runs of the installed molexp: an exception message of 6 MiB, a config key
150 and 200 levels deep, a config too large for run.json, a result over the
64 MiB read cap once written as UTF-8, an exception whose ``__str__`` raises, a
5,000-digit integer, text that is not Unicode, and records with ``null`` where
molexp always writes a value.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

MiB = 1024 * 1024


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_a_huge_exception_message_leaves_a_readable_record_and_resumes(workdir):
    script = write(workdir / "huge.py", """
        from pathlib import Path
        from molexp.workflow import Task

        class Boom(Task):
            def execute(self, ctx):
                if not Path("fixed").exists():
                    raise ValueError("x" * (6 * 1024 * 1024))
                return "fine"
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 1
    assert len(result.stderr) < 20_000  # the one-line summary is bounded too
    (run_dir,) = run_dirs(workdir / "runs")
    assert (run_dir / "run.json").stat().st_size < 64 * 1024
    record = read_record(run_dir)
    assert record["status"] == "failed"
    error = record["error"]
    assert len(error) <= 4000 and error.startswith("task Boom failed: ValueError: xxx")
    assert "cut at 4,000 of 6,291,486 characters; the full text is in error.log" in error
    assert record["tasks"]["Boom"]["error"] == error
    assert ("x" * (6 * MiB)) in (run_dir / "error.log").read_text()
    assert len((run_dir / "run.log").read_bytes()) < 200 * 1024
    listed = run_molexp("runs", cwd=workdir)
    assert "failed" in listed.stdout and "corrupt" not in listed.stdout
    assert run_molexp("show", run_dir.name, cwd=workdir).returncode == 0
    (workdir / "fixed").touch()
    resumed = run_molexp("run", script, "--resume", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert run_dirs(workdir / "runs") == [run_dir]  # the same run, not a new one
    assert read_record(run_dir)["status"] == "succeeded"


def _failed_run_of(workdir: Path, script: Path) -> Path:
    """A run of ``script`` made and executed in-process, then marked failed: one
    ``molexp execute`` will import its stored snapshot again, in its own child."""
    made = run_molexp("run", script, "--in-process", cwd=workdir)
    assert made.returncode == 0, made.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    record["status"] = "failed"
    (run_dir / "run.json").write_text(json.dumps(record))
    (workdir / "armed").touch()
    return run_dir


def test_a_huge_error_at_import_under_execute_is_kept_in_error_log(workdir):
    script = write(workdir / "huge_import.py", """
        from pathlib import Path
        from molexp.workflow import Task

        if Path("armed").exists():
            raise ValueError("y" * (6 * 1024 * 1024))

        class Fine(Task):
            def execute(self, ctx):
                return 1
    """)
    run_dir = _failed_run_of(workdir, script)
    result = run_molexp("execute", run_dir, cwd=workdir)
    assert result.returncode == 1
    assert len(result.stderr) < 20_000
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert len(record["error"]) <= 4000 and "ValueError: yyy" in record["error"]


@pytest.mark.parametrize("levels", [150, 200])
def test_a_deep_config_key_is_recorded_and_listed(workdir, levels):
    script = write(workdir / "deep.py", """
        from molexp.workflow import Task

        class Depth(Task):
            def execute(self, ctx):
                level, node = 0, ctx.config
                while isinstance(node, dict):
                    level, node = level + 1, node["a"]
                return level
    """)
    key = ".".join(["a"] * levels)
    result = run_molexp("run", script, "-o", f"{key}=1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "succeeded"
    assert json.loads(result.stdout.split("Depth: ")[1].split()[0]) == levels
    listed = run_molexp("runs", cwd=workdir)
    assert "corrupt" not in listed.stdout and "succeeded" in listed.stdout
    assert run_molexp("show", run_dir.name, cwd=workdir).returncode == 0
    again = run_molexp("execute", run_dir, cwd=workdir)  # read back through the schema
    assert again.returncode == 0 and "already succeeded" in again.stdout


def test_a_config_too_large_for_run_json_is_refused_before_the_run(workdir, echo_script):
    (workdir / "molcfg.json").write_text(json.dumps(
        {"version": 1, "defaults": {"table": "z" * (5 * MiB)}}))
    result = run_molexp("run", echo_script, cwd=workdir)
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "cannot record this run: its run record (run.json) would be 5.0 MiB" in line
    assert "at most 4 MiB" in line
    assert not (workdir / "runs").exists() or run_dirs(workdir / "runs") == []


def test_a_result_over_the_read_cap_in_utf8_fails_its_task(workdir):
    # 22.5 million characters: under 64 MiB as characters, 67.5 MB as UTF-8
    script = write(workdir / "wide.py", """
        from molexp.workflow import Task

        class Wide(Task):
            def execute(self, ctx):
                return "\\u4e2d" * 22_500_000
    """)
    result = run_molexp("run", script, cwd=workdir, timeout=300)
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "task Wide returned a result of 64.4 MiB as stored" in line
    assert "over the 64 MiB molexp reads back as a result" in line
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed" and record["tasks"]["Wide"]["status"] == "failed"
    assert not list((run_dir / "results").glob("*")) if (run_dir / "results").exists() \
        else True


STRANGE = {
    "str_raises": ("""
        class Odd(Exception):
            def __str__(self):
                raise RuntimeError("no text for you")
        raise Odd()""", "task Strange failed: Odd: <exception str() failed>"),
    "exit_str_raises": ("""
        import sys
        class Code:
            def __str__(self):
                raise RuntimeError("no text")
        sys.exit(Code())""", "task Strange called sys.exit(<Code str() failed>)"),
    "huge_int": ("return {'n': [10 ** 5000]}",
                 "task Strange returned a value molexp cannot store: the result['n'][0] is "
                 "an integer of more than 4,300 digits"),
    "lone_surrogate_result": ("return {'name': 'a\\ud800b'}",
                              "task Strange's result cannot be stored: the result['name'] "
                              "holds text that is not Unicode"),
    "lone_surrogate_error": ("raise ValueError('bad \\ud800 text')",
                             "task Strange failed: ValueError: bad ? text"),
    "items_raise": ("""
        from collections.abc import Mapping
        class Broken(Mapping):
            def __getitem__(self, key): raise KeyError(key)
            def __iter__(self): raise RuntimeError("cannot iterate")
            def __len__(self): return 1
        return Broken()""", "task Strange: converting its result raised RuntimeError: "
                            "cannot iterate"),
}


@pytest.mark.parametrize("case", sorted(STRANGE))
def test_strange_values_fail_the_task_cleanly(workdir, case):
    body, message = STRANGE[case]
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8)
    script = workdir / "strange.py"
    script.write_text("from molexp.workflow import Task\n\n"
                      "class Strange(Task):\n    def execute(self, ctx):\n" + body + "\n")
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 1, result.stderr[-3000:]
    line = _one_line_error(result)
    assert message in line, line
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert message in record["error"]
    assert "the run's process" not in record["error"]  # the task's own outcome, not a crash
    assert run_molexp("runs", cwd=workdir).returncode == 0


def test_tasks_null_is_a_corrupt_record_not_a_crash(workdir, echo_script):
    assert run_molexp("run", echo_script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    record.update(status="failed", tasks=None)
    (run_dir / "run.json").write_text(json.dumps(record))
    result = run_molexp("execute", run_dir, cwd=workdir)
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "corrupt run record: 'tasks' must be a mapping" in line
    listed = run_molexp("runs", cwd=workdir)
    assert listed.returncode == 0 and "corrupt" in listed.stdout


def test_a_process_that_dies_before_any_task_is_described_once(workdir):
    script = write(workdir / "dies.py", """
        import os
        from pathlib import Path
        from molexp.workflow import Task

        if Path("armed").exists():
            os._exit(5)

        class Fine(Task):
            def execute(self, ctx):
                return 1
    """)
    run_dir = _failed_run_of(workdir, script)
    result = run_molexp("execute", run_dir, cwd=workdir)
    assert result.returncode == 1
    assert read_record(run_dir)["error"] == ("the run's process exited with code 5 before "
                                             "the run finished")


def _optional_fields():
    from molexp_core.runs import schema

    return sorted(name for name, field in schema.FIELDS.items() if not field.required)


@pytest.mark.parametrize("field", _optional_fields())
def test_null_in_any_field_never_crashes(workdir, echo_script, field):
    """Run, listed or refused as corrupt in one line: never a traceback."""
    made = run_molexp("run", echo_script, cwd=workdir)
    assert made.returncode == 0, made.stderr
    run_dir = run_dirs(workdir / "runs")[-1]
    record = read_record(run_dir)
    record.update({"status": "failed", field: None})
    (run_dir / "run.json").write_text(json.dumps(record))
    for args in (["execute", str(run_dir)], ["runs"], ["show", str(run_dir)],
                 ["status", str(run_dir)]):
        result = subprocess.run(molexp_command() + args, cwd=workdir, capture_output=True,
                                text=True, timeout=120)
        assert "Traceback" not in result.stderr, (args, result.stderr[-3000:])
        assert result.returncode in (0, 1), (args, result.returncode, result.stderr)


def test_an_index_molexp_would_refuse_to_read_is_never_written(workdir, echo_script):
    assert run_molexp("run", echo_script, cwd=workdir).returncode == 0
    (first,) = run_dirs(workdir / "runs")
    record = read_record(first)
    tasks = {f"task_{i:03d}_" + "x" * 100: {"status": "succeeded"} for i in range(150)}
    text = json.dumps(dict(record, tasks=tasks))
    for n in range(250):  # their summaries: about 4.5 MB, over the 4 MiB of the details
        run_id = f"20200101-000000-{n:06d}-abcd"
        (first.parent / run_id).mkdir()
        (first.parent / run_id / "run.json").write_text(
            text.replace(record["run_id"], run_id))
    listings = [run_molexp("runs", "-n", "1000", cwd=workdir) for _ in range(3)]
    for listed in listings:
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("succeeded") == 251
    details = first.parent / ".index-details.json"
    assert not details.exists() or details.stat().st_size <= 4 * MiB
