"""bench/run.py's hostile-documents case: refusing an alias bomb or 10,000 levels of
nesting costs about what refusing a one-line syntax error does.

Moved here from tests/test_bad_input.py (issue 22): a wall-clock bound in a test fails
on a loaded machine; here it is a ratio against a baseline measured in the same run,
with each side's peak memory (ru_maxrss of the child) beside it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

from run import MOLEXP, Result, compare, env_for

ECHO = '''from molexp.workflow import Task


class Echo(Task):
    async def execute(self, ctx):
        return {"config": ctx.config.to_dict()}
'''
LAUGHS = "version: 1\ndefaults:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + \
    "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
DOCUMENTS = {
    "yaml-alias-bomb": ("molcfg.yaml", LAUGHS),
    "yaml-deep-flow": ("molcfg.yaml", "version: 1\ndefaults:\n  x: " + "[" * 10000
                       + "]" * 10000 + "\n"),
    "yaml-deep-block": ("molcfg.yaml", "version: 1\ndefaults:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(10000)) + "  " * 10001 + "v: 1\n"),
    "json-deep": ("molcfg.json", '{"version": 1, "defaults": {"x": ' + "[" * 10000
                  + "]" * 10000 + "}}"),
}
BASELINE = ("molcfg.yaml", "version: 1\ndefaults:\n  a: [1, 2\n")  # a plain syntax error


PEAK: dict = {}  # case -> the largest peak RSS (MB) of one refusal


def _refuse(work: Path, name: str, text: str, case: str = "baseline") -> float:
    """Seconds for `molexp run` to refuse the document (exit 2), measured inside a
    probe child that also reports the refusal's own peak RSS."""
    for old in work.glob("molcfg.*"):
        old.unlink()
    (work / name).write_text(text)
    env = env_for(XDG_CACHE_HOME=str(work / "cache"))  # each parse for real
    done = subprocess.run([sys.executable, "-c", PROBE, MOLEXP, "run", "echo.py"], cwd=work,
                          env=env, capture_output=True, text=True)
    seconds, rss_kb, code = done.stdout.split()
    if int(code) != 2:
        raise SystemExit(f"hostile document not refused (exit {code}): {done.stderr}")
    PEAK[case] = max(PEAK.get(case, 0.0), int(rss_kb) / 1024)
    return float(seconds)


PROBE = """import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)
"""


def case_hostile_documents(work: Path, reps: int) -> List[Result]:
    (work / "echo.py").write_text(ECHO)
    results = []
    for case, (name, text) in DOCUMENTS.items():
        a, b = [], []
        for _ in range(reps):
            a.append(_refuse(work, name, text, case))
            b.append(_refuse(work, *BASELINE))
        rss = PEAK[case]
        # the alias bomb is expanded up to molexp's node cap before it is refused
        results.append(compare(f"hostile_{case}", f"refuse {case}",
                               "refuse a 1-line syntax error", a, b, 10.0,
                               note=f"peak RSS {rss:.0f} MB (baseline "
                               f"{PEAK['baseline']:.0f} MB)",
                               extra={"peak_rss_mb": rss, "baseline_rss_mb": PEAK["baseline"]}))
    return results
