"""docs/plugins.md documents every hook, and its code examples are real code."""

import re

from conftest import REPO
from molexp_core.plugin_host import hookspecs

PLUGINS_MD = REPO / "docs" / "plugins.md"


def hook_names():
    return sorted(n for n in dir(hookspecs) if n.startswith("molexp_"))


def test_every_hook_has_a_section_headed_by_its_signature():
    text = PLUGINS_MD.read_text()
    import inspect

    for name in hook_names():
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"## {name}({args})" in text, f"docs/plugins.md: no section for {name}"


def test_every_hook_spec_has_a_docstring_with_an_example():
    for name in hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Example::" in doc and "@hookimpl" in doc, name


def test_python_examples_compile_and_define_their_hooks():
    blocks = re.findall(r"```python\n(.*?)```", PLUGINS_MD.read_text(), re.S)
    assert len(blocks) >= 6
    for block in blocks:
        namespace = {}
        exec(compile(block, "docs/plugins.md", "exec"), namespace)  # noqa: S102
        hooks = [n for n in namespace if n.startswith("molexp_")]
        assert hooks, block[:80]
        for hook in hooks:
            assert hook in hook_names(), f"docs/plugins.md defines unknown hook {hook}"


def _example(marker: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", PLUGINS_MD.read_text(), re.S)
                if marker in b]
    return block


def test_the_guides_scheduler_examples_work_when_installed(workdir, echo_script, tmp_path):
    """Installed as real distributions, the two scheduler examples run a real run."""
    import json
    import time

    from conftest import read_record, run_dirs
    from test_plugins import make_dist, molexp_with

    site = tmp_path / "site"
    make_dist(site, "molexp-background", _example("class Background("))
    make_dist(site, "molexp-prepare", _example("class PrepareOnly("))
    result = molexp_with(site, "run", echo_script, "--scheduler", "background",
                         "--nice", "5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "submitted to background as job" in result.stdout
    (run_dir,) = run_dirs(workdir / "runs")
    deadline = time.time() + 30
    while time.time() < deadline:
        status = json.loads(molexp_with(site, "status", run_dir.name, "--json",
                                        cwd=workdir).stdout)["status"]
        if status == "succeeded":
            break
        time.sleep(0.2)
    assert status == "succeeded"
    prepared = molexp_with(site, "run", echo_script, "--scheduler", "prepare", cwd=workdir)
    assert prepared.returncode == 0, prepared.stderr
    assert "created: prepared; run it with: molexp execute" in prepared.stdout
    newest = run_dirs(workdir / "runs")[-1]
    assert read_record(newest)["status"] == "created"
    assert molexp_with(site, "execute", newest, cwd=workdir).returncode == 0
    assert read_record(newest)["status"] == "succeeded"


def test_a_scheduler_whose_submit_raises_is_named_and_the_run_kept(workdir, echo_script,
                                                                 tmp_path):
    from conftest import read_record, run_dirs
    from test_plugins import make_dist, molexp_with

    site = tmp_path / "site"
    make_dist(site, "molexp-halfdone", """
        from molexp_core import hookimpl
        from molexp_core import Scheduler

        class HalfDone(Scheduler):
            name = "halfdone"

        @hookimpl
        def molexp_register_schedulers(register):
            register(HalfDone())
    """)
    result = molexp_with(site, "run", echo_script, "--scheduler", "halfdone", cwd=workdir)
    assert result.returncode == 1
    assert "scheduler 'halfdone' failed to submit: NotImplementedError" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["status"] == "failed" and "failed to submit" in record["error"]
