"""molexp from Python: load a profile's config, list and inspect runs.

A facade over molexp's core, like the CLI: the same discovery, resolution,
coercion hooks, run index and status rules as ``molexp run`` and ``molexp runs``,
with molexp's own exceptions (``molexp.MolexpError`` and its usage/config
subclasses; never ``SystemExit``) and config warnings issued as Python warnings
(``molexp.ConfigWarning``).  See ``docs/python-api.md``.

Everything here is imported on first use of ``molexp.<name>``, so that
``import molexp.workflow`` (every script does it) stays cheap.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

from molexp_core.config.hashing import config_hash as _config_hash
from molexp_core.config.profile_config import ProfileConfig
from molexp_core.errors import ConfigError, ConfigWarning, MolexpError, MolexpUsageError

__all__ = [
    "ConfigError", "ConfigWarning", "MolexpError", "MolexpUsageError", "ProfileConfig",
    "Run", "RunResults", "config_hash", "get_run", "load_config", "runs",
]

PathLike = Union[str, "os.PathLike[str]"]
STATUSES = ("created", "submitted", "running", "succeeded", "failed", "cancelled",
            "interrupted", "lost", "corrupt")


def load_config(profile: Optional[str] = None, overrides: Union[str, Iterable[str]] = (),
                *, config: Optional[PathLike] = None, directory: PathLike = ".",
                strict: bool = False) -> ProfileConfig:
    """The merged config of ``profile`` (``None``: the defaults), as ``molexp run``
    would resolve it from ``directory``.

    ``overrides`` are the ``"key=value"`` strings a user types after ``-o``;
    ``config`` names the file (relative to ``directory``) instead of discovering
    ``molcfg.yaml``/``.yml``/``.json`` (or a plugin's) in ``directory``.  Each
    config warning (a typo'd override key, a YAML 1.2 ``yes``/``no``, ...) is
    issued as a :class:`ConfigWarning`; ``strict=True`` raises
    :class:`MolexpUsageError` instead.  Bad input raises :class:`ConfigError` or
    :class:`MolexpUsageError`.
    """
    import warnings

    from molexp_core.config.overrides import parse_all
    from molexp_core.config.resolution import resolve
    from molexp_core.plugin_host.manager import get_plugin_host

    texts = [overrides] if isinstance(overrides, str) else list(overrides)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"overrides are 'key=value' strings, not {type(text).__name__} "
                            f"({text!r})")
    resolved = resolve(get_plugin_host(), Path(config) if config is not None else None,
                       profile, parse_all(texts), None, Path(directory))
    if strict and resolved.warnings:
        raise MolexpUsageError(f"strict: {resolved.warnings[0]}")
    for text in resolved.warnings:
        warnings.warn(ConfigWarning(text), stacklevel=2)
    return ProfileConfig(resolved.config)


def config_hash(mapping: Mapping) -> str:
    """The documented ``config_hash`` of a config (SHA-256 of its canonical JSON)."""
    if isinstance(mapping, ProfileConfig):
        mapping = mapping.to_dict()
    return _config_hash(mapping)


class _CurrentRuns(str):
    """The default ``root``: ``./runs``, which may not exist yet (nothing ran)."""


DEFAULT_ROOT = _CurrentRuns("runs")


def runs(root: Optional[PathLike] = DEFAULT_ROOT, *, script: Optional[str] = None,
         profile: Optional[str] = None, status: Optional[str] = None,
         sweep: Optional[str] = None) -> List["Run"]:
    """The runs under ``root``, newest first, as ``molexp runs`` lists them.

    ``root=None`` means what the CLI uses: ``$MOLEXP_RUNS_DIR``, else ``./runs``.
    Filters: ``script`` (``"train.py"``, ``"train"`` or a path), ``profile``,
    ``status`` (as shown: ``interrupted`` and ``lost`` included) and ``sweep``
    (a sweep id or a unique prefix of one, as ``molexp runs --sweep`` takes it:
    that sweep's points in point order, reused ones included; an unknown id
    raises :class:`MolexpError`).  A ``root`` you name that does not exist (a
    typo) raises :class:`MolexpError`; the default ``./runs`` before any run
    gives ``[]``.
    """
    from molexp_core.runs import store as runstore
    from molexp_core.runs.query import load_runs

    if status is not None and status not in STATUSES:
        raise MolexpUsageError(f"status {status!r}: use one of {', '.join(STATUSES)}")
    base = runstore.runs_root(None if root is None else os.fspath(root))
    if not isinstance(root, _CurrentRuns) and root is not None and not base.is_dir():
        raise MolexpError(f"runs root {base} " + ("is not a directory" if base.exists()
                                                  else "does not exist"))
    if sweep is not None:
        pairs = _sweep_runs(base, sweep, profile, script)
    else:
        pairs = load_runs(base, profile, status, script)
    _reconcile(pairs)
    found = [Run(run_dir, summary) for run_dir, summary in pairs]
    return [run for run in found if status is None or run.status == status]


def get_run(ref: Union[str, PathLike], root: Optional[PathLike] = "runs") -> "Run":
    """One run: ``ref`` is a run id, a unique prefix or suffix of one, a run
    directory, or ``"latest"`` (the newest run under ``root``)."""
    from molexp_core.runs import store as runstore

    base = runstore.runs_root(None if root is None else os.fspath(root))
    run_dir = runstore.find_run(base, os.fspath(ref))
    pairs = [(run_dir, runstore.read_run(run_dir))]
    _reconcile(pairs)
    return Run(run_dir, pairs[0][1], complete=True)


def _reconcile(pairs: list) -> None:
    """Ask the schedulers about queued and running jobs, as ``molexp runs`` does."""
    from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

    if any(needs_scheduler(record) for _, record in pairs):
        from molexp_core.plugin_host.manager import get_plugin_host

        refresh = reconcile(pairs, get_plugin_host().schedulers())
        for name, why in sorted(refresh.unanswered.items()):
            import warnings

            warnings.warn(f"scheduler {name} did not answer ({why}); the states are what "
                          "the runs last recorded and may be stale", RuntimeWarning,
                          stacklevel=3)


def _sweep_runs(root: Path, ref: str, profile: Optional[str],
                script: Optional[str]) -> list:
    """(run dir, summary) of the sweep's points, decided as the CLI decides them
    (``runs/sweep_members.py``), then filtered like any listing."""
    from molexp_core.runs import sweep_members, sweep_store
    from molexp_core.runs.query import load_runs

    if not isinstance(ref, str):
        raise TypeError(f"sweep is a sweep id (a string), not {type(ref).__name__}")
    record = sweep_store.read_sweep(sweep_store.find_sweep(root, ref.strip()))
    pairs = [(m.run_dir, m.summary) for m in sweep_members.members(root, record)
             if m.run_dir is not None and m.summary is not None]
    if script is not None or profile is not None:
        allowed = {str(d) for d, _ in load_runs(root, profile, None, script)}
        pairs = [(d, r) for d, r in pairs if str(d) in allowed]
    return pairs


def _sweep_id(record: Dict[str, Any]) -> Optional[str]:
    sweep = record.get("sweep")
    if isinstance(sweep, dict):
        return sweep.get("id")
    return sweep if isinstance(sweep, str) else None


def _sweep_columns(sweep: Any) -> Dict[str, Any]:
    """A sweep point's name, index and swept values (``point`` nested, so a
    DataFrame of a sweep has ``point.<key>`` columns); None and {} for other runs."""
    sweep = sweep if isinstance(sweep, dict) else {}
    point = sweep.get("point")
    return {"sweep_name": sweep.get("name"), "sweep_index": sweep.get("index"),
            "point": copy.deepcopy(point) if isinstance(point, dict) else {}}


class Run:
    """One run directory, read from its ``run.json`` (the summary the run index
    keeps is used until a field it lacks is asked for)."""

    def __init__(self, run_dir: PathLike, record: Optional[Dict[str, Any]] = None, *,
                 complete: bool = False) -> None:
        from molexp_core.runs import store as runstore

        self.run_dir = Path(run_dir).absolute()
        self._record: Dict[str, Any] = dict(record) if record is not None else {}
        self._complete = complete or record is None
        if record is None:
            self._record = runstore.read_run(self.run_dir)
        self.status: str = runstore.display_status(self._record, self.run_dir)
        self._results: Optional[RunResults] = None

    def _full(self) -> Dict[str, Any]:
        if not self._complete:
            from molexp_core.runs import store as runstore

            self._record = runstore.read_run(self.run_dir)
            self._complete = True
        return self._record

    def _get(self, key: str) -> Any:
        if key in self._record:
            return self._record[key]
        return self._full().get(key)

    @property
    def run_id(self) -> str:
        return self._get("run_id") or self.run_dir.name

    @property
    def script(self) -> Optional[str]:
        return self._get("script")

    @property
    def profile(self) -> Optional[str]:
        return self._get("profile")

    @property
    def config(self) -> ProfileConfig:
        return ProfileConfig(self._full().get("config") or {})

    @property
    def config_hash(self) -> Optional[str]:
        return self._get("config_hash")

    @property
    def overrides(self) -> List[str]:
        return list(self._full().get("overrides") or [])

    @property
    def created_at(self) -> Optional[str]:
        return self._get("created_at")

    @property
    def started_at(self) -> Optional[str]:
        return self._get("started_at")

    @property
    def finished_at(self) -> Optional[str]:
        return self._get("finished_at")

    @property
    def attempts(self) -> int:
        return int(self._full().get("attempts") or 0)

    @property
    def tasks(self) -> Dict[str, Dict[str, Any]]:
        """Task name -> its record (``status``, ``started_at``, ...), in order."""
        return copy.deepcopy(self._full().get("tasks") or {})

    @property
    def results(self) -> "RunResults":
        """Task name -> the value it returned, read from disk on first access."""
        if self._results is None:
            self._results = RunResults(self.run_dir, self._full().get("tasks") or {})
        return self._results

    @property
    def metrics(self) -> Any:
        """The per-step metrics the tasks logged (``metrics.jsonl``), read on each
        access: a mapping of metric name -> series (``.steps``, ``.values``,
        ``.last``, ``.min``, ``.max``); ``.summary()``; ``.to_rows()`` for pandas.
        Empty when none were logged; MolexpError when the file cannot be used."""
        from molexp_core.runs.metrics import read_metrics

        return read_metrics(self.run_dir)

    @property
    def artifacts(self) -> Dict[str, Dict[str, Any]]:
        """Task name -> the index of the files it left in ``ctx.artifact_dir``
        (``files``: path, size, sha256; ``skipped``; ``error`` when unusable)."""
        from molexp_core.runs.artifacts import read_artifacts

        return read_artifacts(self.run_dir, self._full())

    @property
    def scheduler(self) -> Dict[str, Any]:
        return copy.deepcopy(self._full().get("scheduler") or {})

    @property
    def parent_run(self) -> Optional[str]:
        return self._get("parent_run")

    @property
    def error(self) -> Optional[str]:
        return self._full().get("error")

    @property
    def warnings(self) -> List[str]:
        return list(self._full().get("warnings") or [])

    @property
    def sweep(self) -> Optional[Dict[str, Any]]:
        value = self._full().get("sweep")
        return copy.deepcopy(value) if isinstance(value, dict) else None

    @property
    def record(self) -> Dict[str, Any]:
        """A copy of the whole ``run.json``."""
        return copy.deepcopy(self._full())

    def to_dict(self, results: bool = True, metrics: bool = False) -> Dict[str, Any]:
        """Plain JSON data, one level per field (``config`` and ``results`` nested):
        ``pandas.json_normalize([run.to_dict() for run in runs])`` is a table with
        ``config.optimizer.lr`` and ``results.Train.loss`` columns; ``metrics=True``
        adds each metric's summary (``metrics.loss.last``, ``metrics.loss.min``, ...,
        the names ``molexp runs -c`` takes), read from ``metrics.jsonl``."""
        data = {
            "run_id": self.run_id, "run_dir": str(self.run_dir), "script": self.script,
            "profile": self.profile, "status": self.status, "config_hash": self.config_hash,
            "overrides": self.overrides, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "attempts": self.attempts, "parent_run": self.parent_run,
            "scheduler": self.scheduler.get("name"), "job_id": self.scheduler.get("job_id"),
            "error": self.error, "sweep": _sweep_id(self._full()),
            **_sweep_columns(self._full().get("sweep")),
            "tasks": {name: task.get("status") for name, task in self.tasks.items()},
            "config": self.config.to_dict(),
        }
        if results:
            data["results"] = {name: self.results.get_or_none(name) for name in self.results}
        if metrics:
            data["metrics"] = self._metric_summary()
        return data

    def _metric_summary(self) -> Dict[str, Any]:
        """name -> ``{"last", "min", "max", "first", "count", "step"}``; ``{}`` when the
        file cannot be used (as ``to_dict`` treats an unusable result)."""
        from molexp_core.runs.metrics import read_metrics

        try:
            found = read_metrics(self.run_dir)
        except MolexpError:
            return {}
        return {name: {"last": s.last, "min": s.min, "max": s.max, "first": s.first,
                       "count": s.count, "step": s.last_step} for name, s in found.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.run_dir == self.run_dir

    def __hash__(self) -> int:
        return hash(self.run_dir)

    def __repr__(self) -> str:
        return (f"Run(run_id={self.run_id!r}, status={self.status!r}, "
                f"profile={self.profile!r})")


class RunResults(Mapping):
    """A run's task results by task name; each is read (and kept) on first access,
    with the checks ``molexp show`` applies (its own regular file in ``results/``,
    under the size cap, naming the same task; never through a link).

    Only tasks that recorded a result file are keys; one that cannot be used
    raises :class:`MolexpError` saying why.  Values are copies: changing one
    changes nothing on disk or in the next access.
    """

    def __init__(self, run_dir: Path, tasks: Dict[str, Any]) -> None:
        self._run_dir = run_dir
        self._tasks = {name: task for name, task in tasks.items()
                       if isinstance(task, dict) and task.get("result_file")}
        self._loaded: Dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._tasks:
            raise KeyError(name)
        if name not in self._loaded:
            from molexp_core.runs.executor import ResultUnavailable, load_result

            try:
                self._loaded[name] = load_result(self._run_dir, name, self._tasks[name])
            except ResultUnavailable as exc:
                raise MolexpError(f"run {self._run_dir.name}: the result of task {name} "
                                  f"cannot be used: {exc}") from None
        return copy.deepcopy(self._loaded[name])

    def get_or_none(self, name: str) -> Any:
        """The result, or None when there is none or it cannot be used."""
        try:
            return self[name]
        except (KeyError, MolexpError):
            return None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"RunResults({list(self._tasks)!r})"
