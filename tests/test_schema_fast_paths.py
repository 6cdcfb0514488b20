"""Checks written out for speed must answer exactly as the declared fields: the run
index's summaries (``schema.valid_summary`` vs ``SUMMARY_FIELDS``) and a sweep
record's points (``sweep_schema._point_ok`` vs ``POINT_FIELDS``), each read
10,000 times for a 10,000-point sweep."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from molexp_core.runs import schema, sweep_schema
from molexp_core.runs.index import summary_of

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                st.text(max_size=30), st.sampled_from(["2026-12-06T03:48:22.136Z",
                                                       "2026-02-30T00:00:00Z", "today", ""]),
                st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(),
                                st.dictionaries(st.text(max_size=3), st.integers(),
                                                max_size=2)), max_size=3))


def _generic(summary) -> bool:
    return isinstance(summary, dict) and schema.check_fields(
        summary, schema.SUMMARY_FIELDS) is None


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(list(schema.SUMMARY_FIELDS) + ["sweep", "code"]),
                       ODD, max_size=len(schema.SUMMARY_FIELDS) + 2),
       st.booleans())
def test_the_written_out_check_answers_as_the_declared_fields(changes, start_valid):
    summary = summary_of({"run_id": "r", "status": "succeeded", "tasks": {}}) \
        if start_valid else {}
    summary.update(changes)
    assert schema.valid_summary(summary) is _generic(summary)


def test_a_real_summary_is_valid_and_each_kind_of_damage_is_not():
    good = summary_of({"run_id": "r", "script": "/t.py", "profile": None,
                       "status": "failed", "created_at": "2026-12-06T03:48:22.136Z",
                       "pid": 12, "tasks": {"T": {"status": "failed"}}})
    assert schema.valid_summary(good) and _generic(good)
    for key, value in [("status", None), ("created_at", "2026-02-30T00:00:00Z"), ("pid", 0),
                       ("pid_start", "1"), ("scheduler", None), ("tasks", {"T": "x"}),
                       ("run_id", 3)]:
        assert not schema.valid_summary(dict(good, **{key: value})), key
    for key in ("run_id", "script", "profile", "status"):
        assert not schema.valid_summary({k: v for k, v in good.items() if k != key}), key
    assert not schema.valid_summary(["not", "a", "mapping"])


POINT_VALUES = st.one_of(ODD, st.sampled_from(["a" * 64, "0" * 64, "train/smoke/x", "a\nb",
                                               "12_3", 5, -1, True]),
                         st.lists(st.text(max_size=3), max_size=2),
                         st.dictionaries(st.sampled_from(["lr", "", "a.b"]), st.integers(),
                                         max_size=2))


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(st.sampled_from(list(sweep_schema.POINT_FIELDS) + ["other"]),
                       POINT_VALUES, max_size=len(sweep_schema.POINT_FIELDS) + 1),
       st.booleans())
def test_the_written_out_point_check_answers_as_the_declared_fields(changes, start_valid):
    point = {"index": 0, "point": {"lr": 0.1}, "run_id": None, "run_dir": None,
             "config_hash": "a" * 64, "job_id": None} if start_valid else {}
    point.update(changes)
    generic = schema.record_of(sweep_schema.POINT_FIELDS)(point) is None
    assert sweep_schema._point_ok(point) is generic


def test_a_bad_point_is_still_named_with_the_reason():
    record = {"sweep_id": "sw-x", "script": "/t.py", "points": [
        {"index": 0, "point": {"a": 1}}, {"index": 1, "point": {"a": 2}, "run_dir": 7}]}
    reason = sweep_schema.check_sweep(record, "sw-x")
    assert reason == "'points' item 1 'run_dir' must be a string"
    record["points"][1]["run_dir"] = None
    assert sweep_schema.check_sweep(record, "sw-x") is None
    record["script"] = 3
    assert sweep_schema.check_sweep(record, "sw-x") == "'script' must be a string"
