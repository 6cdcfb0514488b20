"""Completion of sweep names (`run --sweep <TAB>`) and sweep ids (`runs --sweep`,
`show`, `status`, `cancel`): issue 22."""

from __future__ import annotations

import shutil

from conftest import REPO, run_molexp
from test_replay_and_completion import complete

EXAMPLE = REPO / "examples" / "operations" / "sweeps"


def test_run_sweep_completes_the_config_files_sweep_names(workdir):
    for name in ("train.py", "molcfg.yaml"):
        shutil.copy(EXAMPLE / name, workdir / name)
    names = complete("molexp run train.py --sweep ", workdir)
    assert names[:2] == ["lr-scan", "seeds"]
    assert "optimizer.lr=" in names  # or an inline axis on a config key
    assert complete("molexp run train.py --sweep l", workdir) == ["lr-scan"]
    assert complete("molexp run train.py -p smoke --sweep s", workdir)[0] == "seeds"


def test_sweep_ids_complete_where_a_sweep_id_is_taken(workdir):
    for name in ("train.py", "molcfg.yaml"):
        shutil.copy(EXAMPLE / name, workdir / name)
    done = run_molexp("run", "train.py", "--sweep", "seeds", cwd=workdir)
    assert done.returncode == 0, done.stderr
    (sweep_id,) = [p.name for p in (workdir / "runs" / ".sweeps").iterdir()]
    assert complete("molexp runs --sweep ", workdir) == [sweep_id]
    assert complete("molexp runs --sweep sw-", workdir) == [sweep_id]
    for command in ("show", "status", "cancel"):
        offered = complete(f"molexp {command} sw", workdir)
        assert offered == [sweep_id], (command, offered)
        everything = complete(f"molexp {command} ", workdir)
        assert sweep_id in everything and "latest" in everything  # runs and sweeps
