"""The run index is a cache: run.json stays the truth, deleting the index loses nothing."""

import json

from conftest import read_record, run_dirs, run_molexp


def listed(workdir, *args):
    return json.loads(run_molexp("runs", "--json", *args, cwd=workdir).stdout)


def test_index_follows_edits_and_rebuilds_itself(workdir, spec_config, echo_script):
    for _ in range(3):
        assert run_molexp("run", echo_script, "-p", "smoke", cwd=workdir).returncode == 0
    assert [r["status"] for r in listed(workdir)] == ["succeeded"] * 3
    profile_dir = workdir / "runs" / "echo" / "smoke"
    assert (profile_dir / ".index.json").exists()
    # a tool that rewrites run.json by hand is seen at once
    victim = run_dirs(workdir / "runs")[1]
    record = read_record(victim)
    record["status"] = "failed"
    (victim / "run.json").write_text(json.dumps(record))
    assert [r["run_id"] for r in listed(workdir, "--status", "failed")] == [victim.name]
    # a corrupt index is ignored, a deleted one rebuilt
    (profile_dir / ".index.json").write_text("{not json")
    assert len(listed(workdir)) == 3
    (profile_dir / ".index.json").unlink()
    (profile_dir / ".index-details.json").unlink(missing_ok=True)
    assert [r["status"] for r in listed(workdir)].count("failed") == 1
    assert (profile_dir / ".index.json").exists()
    # a removed run disappears from listings and from resume
    import shutil

    shutil.rmtree(victim)
    assert listed(workdir, "--status", "failed") == []
    result = run_molexp("run", echo_script, "-p", "smoke", "--resume", cwd=workdir)
    assert "starting a new run" in result.stderr
