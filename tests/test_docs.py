"""docs/plugins.md documents every hook, and its code examples are real code."""

import re

from conftest import REPO
from molexp_core import hookspecs

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
