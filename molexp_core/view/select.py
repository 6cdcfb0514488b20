"""What `molexp view` shows: the runs and sweeps named, or the defaults.

``molexp view``: the newest sweep (of ``--script``/``--profile`` when given), else
the newest runs of the script (of ``--script``, else of the newest run).  Named
references resolve as everywhere else: ``sw-...`` prefixes for sweeps, run ids,
unique prefixes or suffixes, run directories and ``latest`` for runs (the run
store's own readers: capped, never through a link).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from molexp_core.errors import MolexpUsageError
from molexp_core.runs import store as runstore
from molexp_core.runs import sweep_store

DEFAULT_LIMIT = 200  # runs of a script shown when no run or sweep is named


class Selection:
    """The sweeps (directory, record) and the loose runs (directory) to show."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sweeps: List[Tuple[Path, Dict[str, Any]]] = []
        self.runs: List[Path] = []
        self.how = ""  # what the selection is, in words (the page's subtitle)

    @property
    def empty(self) -> bool:
        return not self.sweeps and not self.runs


def select(root: Path, refs: Sequence[str], script: Optional[str], profile: Optional[str],
           limit: Optional[int]) -> Selection:
    chosen = Selection(root)
    if refs:
        if script or profile:
            raise MolexpUsageError("--script and --profile choose what to show when no "
                                   "RUN or SWEEP is named; give one or the other")
        seen = set()
        for ref in refs:
            if sweep_store.is_sweep_ref(ref):
                directory = sweep_store.find_sweep(root, ref)
                if directory.name not in seen:
                    seen.add(directory.name)
                    chosen.sweeps.append((directory, sweep_store.read_sweep(directory)))
            else:
                run_dir = runstore.find_run(root, ref)
                if str(run_dir) not in seen:
                    seen.add(str(run_dir))
                    chosen.runs.append(run_dir)
        chosen.how = " ".join(refs)
        return chosen
    newest = _newest_sweep(root, script, profile)
    if newest is not None:
        chosen.sweeps.append(newest)
        chosen.how = f"the newest sweep, {newest[1]['sweep_id']}"
        return chosen
    from molexp_core.runs.query import load_runs

    if script is None:
        latest = load_runs(root, profile)
        if not latest:
            raise MolexpUsageError(f"no runs under {root} to view"
                                   + (f" with profile {profile!r}" if profile else "")
                                   + " (run one with `molexp run SCRIPT`)")
        script = Path(str(latest[0][1].get("script") or "?")).name
    pairs = load_runs(root, profile, None, script)
    if not pairs:
        raise MolexpUsageError(f"no runs of {script} under {root}"
                               + (f" with profile {profile!r}" if profile else ""))
    count = limit or DEFAULT_LIMIT
    chosen.runs = [run_dir for run_dir, _ in pairs[:count]]
    chosen.how = (f"the newest {len(chosen.runs)} run(s) of {script}"
                  + (f", profile {profile}" if profile else "")
                  + (f" (of {len(pairs)}; --limit shows more)" if len(pairs) > count else ""))
    return chosen


def _newest_sweep(root: Path, script: Optional[str], profile: Optional[str]
                  ) -> Optional[Tuple[Path, Dict[str, Any]]]:
    stem = runstore.script_dir_name(Path(script.strip())) if script else None
    wanted = None
    if profile:
        from molexp_core.config.profiles import normalize_profile_name

        wanted = normalize_profile_name(profile.strip())
    for directory in sweep_store.list_sweeps(root):  # newest first
        try:
            record = sweep_store.read_sweep(directory)
        except sweep_store.SweepStoreError:
            continue  # a damaged record: the next one
        if stem and runstore.script_dir_name(Path(str(record.get("script") or ""))) != stem:
            continue
        if wanted and record.get("profile") != wanted:
            continue
        return directory, record
    return None
