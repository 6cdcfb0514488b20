"""Which run is each point of a sweep: the one rule ``molexp runs --sweep``,
``sweeps``, ``status``, ``cancel``, ``--resume`` and ``molexp.runs(sweep=...)`` share.

A sweep record only *points at* runs; a point's state is its run's own record.
A run is the point's when its own ``run.json`` agrees: its ``run_id`` is its
directory's name, it is of the sweep's script and profile, it has the point's
config hash and it names this sweep and this point index in its ``sweep``
field (a point reused by ``--skip-succeeded`` names another sweep, or none, and
must have succeeded).  Anything else (a run deleted, replaced by another
script's run, copied over) is not the point's run: the point is ``missing``.

A point whose run was made but not yet recorded in the sweep record (molexp was
killed between the two) is found by its own record: the run that names this
sweep and this index.  A point with no run at all was never prepared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from molexp_core.runs import index as run_index
from molexp_core.runs import processes
from molexp_core.runs import store as runstore


class Member:
    """One point: its entry in the sweep record, its run directory and that run's
    summary (None when the point has no run of its own), and ``problem``: why the
    run the record names is not the point's (None when it is, or none is named;
    set too when the point's own run was found by its own record instead).
    ``directory`` is the run directory as text (a listing of 10,000 points makes no
    Path it does not use); ``run_dir`` the same as a Path."""

    __slots__ = ("point", "index", "directory", "summary", "problem", "_path")

    def __init__(self, point: Dict[str, Any], index: int, directory: Optional[str],
                 summary: Optional[Dict[str, Any]], problem: Optional[str] = None) -> None:
        self.point, self.index, self.directory = point, index, directory
        self.summary, self.problem = summary, problem
        self._path: Optional[Path] = None

    @property
    def run_dir(self) -> Optional[Path]:
        if self._path is None and self.directory is not None:
            self._path = Path(self.directory)
        return self._path

    @property
    def prepared(self) -> bool:
        """Whether the point ever had a run (recorded, or found by its own record)."""
        return self.directory is not None


def profile_dir(root: Path, record: Dict[str, Any]) -> Optional[Path]:
    """Where the sweep's points are made: ``<root>/<script stem>/<profile>``."""
    profile = record.get("profile") or runstore.DEFAULT_PROFILE_DIR
    try:
        runstore.safe_segment(profile, "profile")
    except runstore.RunStoreError:
        return None
    return Path(root) / runstore.script_dir_name(Path(str(record.get("script")))) / profile


def _relative(point: Dict[str, Any]) -> Optional[str]:
    """The point's run directory relative to the runs root, when it is a safe one
    (the rule of ``sweep_store.run_dir_of``, on text)."""
    relative = point.get("run_dir")
    if not isinstance(relative, str):
        return None
    parts = relative.split("/")
    if len(parts) != 3 or any(not p or p in (".", "..") or p.startswith(".") for p in parts):
        return None
    return relative


def members(root: Path, record: Dict[str, Any]) -> List[Member]:
    """Every point of the sweep ``record``, in point order, with its own run."""
    points = record.get("points") or []
    base = str(root)
    recorded = [_relative(p) for p in points]
    summaries: Dict[str, Dict[str, Dict[str, Any]]] = {}
    home = profile_dir(root, record)
    parents = {f"{base}/{r.rsplit('/', 1)[0]}" for r in recorded if r is not None}
    if home is not None:
        parents.add(str(home))
    for parent in parents:
        summaries[parent] = dict(run_index.profile_summaries(Path(parent)))
    found: List[Member] = []
    unowned: List[int] = []
    for index, (point, relative) in enumerate(zip(points, recorded)):
        summary, problem, directory = None, None, None
        if relative is not None:
            directory = f"{base}/{relative}"
            summary = summaries.get(directory.rsplit("/", 1)[0], {}).get(directory)
            problem = (belongs(record, point, index, directory, summary) if summary is not None
                       else f"its run {relative.rsplit('/', 1)[-1]} is gone (no "
                            f"{runstore.RUN_FILE})")
            if problem is not None:
                summary = None
        elif point.get("run_dir") is not None:
            problem = f"the sweep record names {str(point.get('run_dir'))[:80]!r}, not a run " \
                      "directory of this runs root"
        if summary is None:
            unowned.append(index)
        found.append(Member(point, index, directory, summary, problem))
    if unowned and home is not None:  # made, not yet (or not rightly) recorded?
        own = _runs_naming(record, summaries.get(str(home), {}), set(unowned))
        for index in unowned:
            member = found[index]
            if index in own and own[index][0] != member.directory:
                # ``problem`` still says what the record named
                member.directory, member.summary = own[index]
    return found


def _runs_naming(record: Dict[str, Any], summaries: Dict[str, Dict[str, Any]],
                 wanted: Set[int]) -> Dict[int, Tuple[str, Dict[str, Any]]]:
    """index -> (run dir, summary), for the points ``wanted``: the newest run whose own
    record makes it that point of this sweep."""
    sweep_id = record.get("sweep_id")
    points = record.get("points") or []
    own: Dict[int, Tuple[str, Dict[str, Any]]] = {}
    for text, summary in summaries.items():  # newest first
        sweep = summary.get("sweep")
        if not isinstance(sweep, dict) or sweep.get("id") != sweep_id:
            continue
        index = sweep.get("index")
        if type(index) is not int or index not in wanted or index in own:
            continue
        if belongs(record, points[index], index, text, summary) is None:
            own[index] = (text, summary)
    return own


def belongs(record: Dict[str, Any], point: Dict[str, Any], index: int, run_dir: Any,
            summary: Dict[str, Any]) -> Optional[str]:
    """None when the run at ``run_dir`` (its record summarised as ``summary``) is
    point ``index`` of the sweep ``record``, else why not (one line)."""
    name = str(run_dir).rsplit("/", 1)[-1]
    if summary.get("status") == runstore.CORRUPT:
        return None  # its own record cannot say: shown as corrupt, never resumed as is
    if summary.get("run_id") != name:
        return (f"{name}/run.json says run_id {str(summary.get('run_id'))[:40]!r} "
                "(copied or edited)")
    if summary.get("script") != record.get("script"):
        return f"its run {name} is of script {summary.get('script')}, not {record.get('script')}"
    if summary.get("profile") != record.get("profile"):
        return (f"its run {name} is of profile {summary.get('profile') or '(none)'}, not "
                f"{record.get('profile') or '(none)'}")
    wanted = point.get("config_hash")
    if wanted and summary.get("config_hash") != wanted:
        return f"its run {name} has another config (config_hash " \
               f"{str(summary.get('config_hash'))[:12]}, the point's is {wanted[:12]})"
    sweep = summary.get("sweep") if isinstance(summary.get("sweep"), dict) else {}
    if point.get("reused"):
        if sweep.get("id") == record.get("sweep_id") and sweep.get("index") == index:
            return None
        if summary.get("status") != "succeeded":
            return f"the run {name} it reused is {summary.get('status')} now"
        return None
    if sweep.get("id") != record.get("sweep_id") or sweep.get("index") != index:
        where = (f"point {sweep.get('index')} of sweep {sweep.get('id')}" if sweep.get("id")
                 else "no sweep's point")
        return f"its run {name} is {where}, not point {index} of this sweep"
    return None


def owner_alive(record: Dict[str, Any]) -> bool:
    """Whether the process that made (or runs) the sweep here is still that process."""
    return (record.get("host") == runstore.hostname()
            and processes.same_process(record.get("pid"), record.get("pid_start")))


def unprepared_status(record: Dict[str, Any]) -> str:
    """How a point that never got a run is shown: ``created`` while the sweep's
    process is still preparing it, else ``interrupted`` (resumable)."""
    return "created" if owner_alive(record) else "interrupted"


def placeholder(record: Dict[str, Any], member: Member) -> Tuple[str, Optional[str]]:
    """(status shown, why) of a point without a run of its own: ``missing`` (its run
    is gone, or is not its own), else never prepared: ``created`` while the sweep's
    process is still preparing it, ``interrupted`` when it is gone."""
    if member.problem is not None:
        return "missing", member.problem
    if member.run_dir is None:
        shown = unprepared_status(record)
        return shown, ("the sweep stopped before this point was prepared"
                       if shown == "interrupted" else None)
    return "missing", f"its run {member.run_dir.name} is gone"


def outcome(root: Path, record: Dict[str, Any], member: Member
            ) -> Tuple[str, Optional[Dict[str, Any]], str]:
    """What ``--resume`` does with a point, and why: ``succeeded`` (nothing),
    ``resume`` (its unfinished run, whose record is returned) or ``new`` (a new run:
    never prepared, its run gone, corrupt, edited or another's)."""
    from molexp_core.runs.integrity import RunCorrupt, check_run

    if member.run_dir is None:
        return "new", None, member.problem or "it was never prepared"
    if member.summary is None:
        return "new", None, member.problem or f"its run {member.run_dir.name} is gone"
    try:
        run = runstore.read_run(member.run_dir)
        check_run(member.run_dir, run)  # an edited record is never trusted, nor resumed
    except (runstore.RunStoreError, RunCorrupt) as exc:
        return "new", None, f"its run {member.run_dir.name} is corrupt: " \
                            f"{exc.format_message()[:200]}"
    problem = belongs(record, member.point, member.index, member.run_dir,
                      run_index.summary_of(run))
    if problem is not None:  # the full record disagrees with its summary
        return "new", None, problem
    tasks = run.get("tasks") or {}
    if run.get("status") == "succeeded" and tasks and all(
            (t or {}).get("status") == "succeeded" for t in tasks.values()):
        return "succeeded", run, ""
    if member.point.get("reused"):
        return "new", None, f"the run {member.run_dir.name} it reused is {run.get('status')}"
    return "resume", run, ""


def all_succeeded(root: Path, record: Dict[str, Any]) -> bool:
    """Every point succeeded, by its run's own record: the index's summaries first
    (cheap), each run.json read and checked only when they all say succeeded."""
    found = members(root, record)
    if any(m.summary is None or m.summary.get("status") != "succeeded" for m in found):
        return False
    return all(outcome(root, record, m)[0] == "succeeded" for m in found)
