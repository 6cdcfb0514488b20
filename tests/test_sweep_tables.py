"""Which point won, and tables that tell points apart (issue 22) and show the truth
(issue 17's wrong tables): NaN and missing sort last and never win, JSON stays
JSON, escape codes are escaped, floats keep their type and digits."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import run_molexp, write

STUDY = '''
import math
from molexp.workflow import Task

class Prepare(Task):
    def execute(self, ctx):
        return {"name": "qm9 \\x1b[31mred\\x1b[0m", "n": 100,
                "wide": {f"f{i:02d}": i for i in range(14)}}

class Train(Task):
    def execute(self, ctx):
        lr, width = ctx.config["lr"], ctx.config["width"]
        if lr == 0.5:
            raise RuntimeError("diverged \\x1b[2J")
        loss = (math.log10(lr) + 3) ** 2 + width / 3 + 1.16
        if lr == 0.0001 and width == 1.0:
            loss = float("nan")  # the first point: a naive min() would pick it
        return {"loss": loss, "curve": [loss * 2, loss], "note": "x" * 80,
                "inf": float("inf"), "short": round(loss, 6)}

class Evaluate(Task):
    def execute(self, ctx):
        return {"acc": 1 - ctx.results["Train"]["short"] / 10}
'''


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 3-task study, one 12-point sweep: 1 NaN point, 3 failed points."""
    home = tmp_path_factory.mktemp("study")
    write(home / "molcfg.yaml", "version: 1\ndefaults:\n  lr: 0.001\n  width: 1.0\n")
    write(home / "study.py", STUDY)
    result = run_molexp("run", "study.py", "--sweep", "lr=0.0001,0.001,0.01,0.5",
                        "--sweep", "width=1.0,2.0,3.0", "-j", "2", cwd=home)
    assert result.returncode == 1, result.stderr  # three points failed
    sweep_id = next((home / "runs" / ".sweeps").iterdir()).name
    return home, sweep_id, result


def table(study, *args):
    home, sweep_id, _ = study
    result = run_molexp("runs", "--sweep", sweep_id, *args, cwd=home)
    assert result.returncode == 0, result.stderr
    return result.stdout


def column(text, name):
    lines = text.splitlines()
    start = lines[0].index(name)
    return [line[start:].split()[0] if len(line) > start else "" for line in lines[1:]]


def test_nan_and_missing_sort_last_in_both_directions(study):
    for reverse in ((), ("--reverse",)):
        out = table(study, "-c", "Train.loss", "--sort", "Train.loss", *reverse)
        values = column(out, "Train.loss")
        assert values[-4:].count("nan") == 1 and values[-4:].count("-") == 3, out
        numbers = [float(v) for v in values[:-4]]
        assert numbers == sorted(numbers, reverse=bool(reverse)), out


def test_columns_json_is_strict_json_with_null_for_nan_and_inf(study):
    out = table(study, "-c", "Train.loss,Train.inf", "--json")

    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")

    rows = json.loads(out, parse_constant=refuse)
    first = rows[0]
    assert first["Train.loss"] is None and first["Train.inf"] is None  # NaN, inf -> null
    assert rows[1]["Train.inf"] is None and isinstance(rows[1]["Train.loss"], float)
    # every field with --json and --csv alone, not only the first 12
    everything = json.loads(table(study, "--columns", "--json"), parse_constant=refuse)
    assert "Prepare.wide.f13" in everything[0]


def test_csv_holds_every_field_not_twelve(study):
    rows = list(csv.reader(io.StringIO(table(study, "--columns", "--csv"))))
    header = rows[0]
    assert "Prepare.wide.f13" in header and "Evaluate.acc" in header
    assert len(header) > 3 + 2 + 12
    home, sweep_id, _ = study
    terminal = run_molexp("runs", "--sweep", sweep_id, "--columns", cwd=home)
    assert "more result field(s) not shown" in terminal.stderr


def test_escape_codes_are_shown_escaped_in_tables_and_show(study):
    home, sweep_id, summary = study
    outputs = [summary.stdout, table(study, "--columns"), table(study, "-c", "Prepare.name"),
               table(study)]
    run_id = json.loads(table(study, "--json"))[0]["run_id"]
    shown = run_molexp("show", run_id, cwd=home)
    outputs.append(shown.stdout)
    failed = [r for r in json.loads(table(study, "--json")) if r["status"] == "failed"][0]
    outputs.append(run_molexp("show", failed["run_id"], cwd=home).stdout)
    outputs.append(run_molexp("status", failed["run_id"], cwd=home).stdout)
    for text in outputs:
        assert "\x1b" not in text, text
    assert "qm9 \\x1b[31mred\\x1b[0m" in outputs[1]
    assert "diverged \\x1b[2J" in summary.stdout.replace("…", "")
    assert "\\x1b[2J" in outputs[-1] and "\\x1b[2J" in outputs[-2]


def test_floats_keep_their_type_and_the_digits_that_tell_points_apart(study):
    out = table(study, "-c", "Train.short")
    assert column(out, "width")[:3] == ["1.0", "2.0", "3.0"]  # a swept 1.0 is not 1
    shorts = column(out, "Train.short")
    assert "1.493333" in shorts and "1.826667" in shorts, out  # as the CSV has them
    rows = list(csv.DictReader(io.StringIO(table(study, "-c", "Train.short", "--csv"))))
    assert {r["Train.short"] for r in rows} >= set(shorts) - {"-", "nan"}


def test_cut_text_ends_with_an_ellipsis(study):
    out = table(study, "-c", "Train.note")
    cells = [c for c in column(out, "Train.note") if c != "-"]
    assert cells and all(c.endswith("…") and len(c) < 80 for c in cells), out


def test_list_items_by_index_and_list_fields_in_the_hint(study):
    out = table(study, "-c", "Train.curve.-1,Train.curve.0", "--json")
    row = json.loads(out)[1]
    assert row["Train.curve.-1"] * 2 == pytest.approx(row["Train.curve.0"])
    home, sweep_id, _ = study
    wrong = run_molexp("runs", "--sweep", sweep_id, "-c", "Train.curv", cwd=home)
    assert wrong.returncode == 2
    assert "did you mean 'Train.curve'" in wrong.stderr
    assert "list fields" in wrong.stderr and "Train.curve" in wrong.stderr.split("list")[1]


def test_best_names_the_winning_point_and_nan_never_wins(study):
    out = table(study, "--best", "Train.loss")
    assert out.startswith("best Train.loss: 1.4933333"), out
    assert "lowest of 8 succeeded point(s)" in out
    assert "#0" in out.splitlines()[0]  # the NaN point: not compared, said so
    winner = out.splitlines()[2].split()
    assert winner[0] == "3" and winner[3:5] == ["0.001", "1.0"], out
    data = json.loads(table(study, "--best", "Evaluate.acc", "--max", "--json"))
    assert data["index"] == 3 and data["point"] == {"lr": 0.001, "width": 1.0}
    assert data["goal"] == "max" and data["value"] == pytest.approx(1 - 1.493333 / 10)
    assert data["run_id"] and 0 in data["not_compared"]
    worst = json.loads(table(study, "--best", "Train.loss", "--max", "--json"))
    assert worst["point"] == {"lr": 0.0001, "width": 3.0}  # NaN never wins either way
    assert worst["ties"] == [8]  # a tie: the first point wins, the others are named


def test_best_refuses_unknown_and_non_numeric_fields(study):
    home, sweep_id, _ = study
    bad = run_molexp("runs", "--sweep", sweep_id, "--best", "Train.los", cwd=home)
    assert bad.returncode == 2 and "--best 'Train.los'" in bad.stderr
    text = run_molexp("runs", "--sweep", sweep_id, "--best", "Prepare.name", cwd=home)
    assert text.returncode == 1 and "holds text" in text.stderr


def test_pivot_shows_a_two_axis_grid(study):
    out = table(study, "--pivot", "lr,width", "-c", "Train.short")
    lines = out.splitlines()
    assert lines[1].split() == ["lr", "width=1.0", "width=2.0", "width=3.0"]
    assert lines[3].split() == ["0.001", "1.493333", "1.826667", "2.16"], out
    assert lines[5].split()[1:] == ["-", "-", "-"]  # the failed points
    rows = json.loads(table(study, "--pivot", "lr,width", "-c", "Train.short", "--json"))
    assert rows[1] == {"lr": 0.001, "width=1.0": 1.493333, "width=2.0": 1.826667,
                       "width=3.0": 2.16}
    home, sweep_id, _ = study
    two = run_molexp("runs", "--sweep", sweep_id, "--pivot", "lr,widht", "-c",
                     "Train.short", cwd=home)
    assert two.returncode == 2 and "did you mean 'width'" in two.stderr


def test_the_end_of_sweep_summary_shows_result_columns(study):
    home, _, _ = study
    summary = run_molexp("run", "study.py", "--sweep", "lr=0.001,0.01", "--sweep",
                         "width=1.0,2.0", "-c", "Train.loss,Evaluate.acc", cwd=home)
    assert summary.returncode == 0, summary.stderr
    header = summary.stdout.splitlines()[0].split()
    assert header[:5] == ["#", "RUN", "ID", "STATUS", "lr"]
    assert "Train.loss" in header and "Evaluate.acc" in header
    row = [line for line in summary.stdout.splitlines() if line.startswith("0 ")][0]
    assert "1.4933333" in row and "0.8506667" in row


def test_reused_points_are_marked(study, tmp_path):
    home, _, _ = study
    again = run_molexp("run", "study.py", "--sweep", "lr=0.001,0.002", "--sweep",
                       "width=1.0", "--skip-succeeded", "-c", "Train.short", cwd=home)
    assert again.returncode == 0, again.stderr
    assert "succeeded (reused)" in again.stdout.splitlines()[1]
    assert "(reused)" not in again.stdout.splitlines()[2]
    sweep_id = sorted((home / "runs" / ".sweeps").iterdir())[-1].name
    listed = run_molexp("runs", "--sweep", sweep_id, cwd=home).stdout
    assert "succeeded (reused)" in listed
    assert "succeeded (reused)" in run_molexp("runs", "--sweep", sweep_id, "--columns",
                                              cwd=home).stdout
    rows = list(csv.DictReader(io.StringIO(run_molexp(
        "runs", "--sweep", sweep_id, "--columns", "--csv", cwd=home).stdout)))
    assert [r["reused"] for r in rows] == ["true", "false"]
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
