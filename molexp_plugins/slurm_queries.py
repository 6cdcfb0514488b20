"""What the Slurm backend asks the cluster, and how it reads the answers.

Every Slurm command goes through :func:`run_tool`: a timeout on each call
(``$MOLEXP_SLURM_TIMEOUT``, default 60 s) and output decoded leniently (a
Latin-1 byte in a job name is replaced, never an internal UnicodeDecodeError).

States for many jobs come from ONE ``squeue`` call (finished jobs stay listed for
``MinJobAge``); jobs it no longer knows come from ONE ``sacct`` call when
accounting is on, and from the jobcomp file (``JobCompLoc``) when it is off.
Each answer carries what identifies the job (its name, the token in its comment,
its submit time), which molexp compares with what it submitted.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from molexp_core import JobState, MolexpError

SUBMITTED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
             "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "SUSPENDED",
           "STOPPED"}
SUCCEEDED = {"COMPLETED"}
FAILED = {"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "OOM", "TIMEOUT", "BOOT_FAIL",
          "DEADLINE", "SPECIAL_EXIT"}
CANCELLED = {"CANCELLED", "PREEMPTED", "REVOKED"}
DEFAULT_TIMEOUT = 60.0  # seconds for any one Slurm command
COMMENT_PREFIX = "molexp:"  # --comment=molexp:<token>: which submission a job is
_TOKEN = re.compile(r"^molexp:([0-9a-f]{8,32})$")
_NAME = re.compile(r" Name=(.*?) JobState=")  # jobcomp/filetxt writes them in this order
SEP = "\x1f"  # squeue's field separator: no job name molexp submits can hold it
SQUEUE_FORMAT = SEP.join(("%i", "%T", "%r", "%V", "%k", "%j"))


def timeout() -> float:
    """Seconds any one Slurm command may take (``$MOLEXP_SLURM_TIMEOUT``)."""
    text = os.environ.get("MOLEXP_SLURM_TIMEOUT", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


class ToolTimeout(MolexpError):
    """A Slurm command did not answer within :func:`timeout` seconds."""


def run_tool(argv: List[str], limit: Optional[float] = None) -> Any:
    import subprocess  # only when talking to Slurm: start-up stays lean

    limit = timeout() if limit is None else limit
    try:
        return subprocess.run(argv, capture_output=True, encoding="utf-8",
                              errors="replace", timeout=limit, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise MolexpError(f"{argv[0]} not found: is Slurm installed on this machine "
                          "(and on PATH)?") from None
    except subprocess.TimeoutExpired:
        raise ToolTimeout(f"{argv[0]} did not answer within {limit:g} s") from None


def first_error_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " / ".join(lines[:3]) or "no message"


def molexp_status(native: str) -> str:
    word = native.split()[0].rstrip("+") if native else ""
    if word in SUCCEEDED:
        return "succeeded"
    if word in FAILED:
        return "failed"
    if word in CANCELLED:
        return "cancelled"
    if word in RUNNING:
        return "running"
    return "submitted"


def slurm_time(text: str) -> Optional[float]:
    """Slurm's ``2026-12-06T02:20:28`` (the controller's local time) as epoch seconds."""
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def token_of(comment: str) -> Optional[str]:
    match = _TOKEN.match((comment or "").strip())
    return match.group(1) if match else None


def job_state(job_id: str, native: str, reason: Optional[str] = None,
              name: Optional[str] = None, submitted: str = "",
              comment: Optional[str] = None) -> JobState:
    native = native.split()[0] if native.strip() else ""
    if reason in ("None", ""):
        reason = None
    identity: Dict[str, Any] = {"name": name, "submitted_at": slurm_time(submitted)}
    token = token_of(comment or "")
    if token is not None:  # a comment of another form (a user's --comment) says nothing
        identity["token"] = token
    return JobState(job_id, native, molexp_status(native), reason, identity=identity)


def _ids_query(job_ids: Iterable[str]) -> str:
    # array tasks (`123_4`) are asked for by their array job, one line per task (-r)
    return ",".join(sorted({j.split("_")[0] for j in job_ids}, key=lambda j: (len(j), j)))


def squeue(argv_filter: List[str]) -> List[JobState]:
    """Every job squeue lists for the filter (``-j IDS`` or ``-n NAMES``); [] when
    it knows none of the ids; MolexpError when it does not answer."""
    result = run_tool(["squeue", "-h", "-r", "-t", "all", *argv_filter,
                       "-o", SQUEUE_FORMAT])
    if result.returncode != 0:
        if "invalid job id" in (result.stderr or "").lower():
            return []  # every id is gone from squeue: ask the others
        raise MolexpError(f"squeue failed: {first_error_line(result.stderr)}")
    states = []
    for line in result.stdout.splitlines():
        parts = line.split(SEP, 5)
        if len(parts) == 6 and parts[0].strip():
            job_id, native, reason, submitted, comment, name = parts
            states.append(job_state(job_id.strip(), native, reason.strip(), name,
                                    submitted, comment))
    return states


def squeue_ids(job_ids: List[str]) -> Dict[str, JobState]:
    return {s.job_id: s for s in squeue(["-j", _ids_query(job_ids)])}


def sacct(argv_filter: List[str]) -> Optional[List[JobState]]:
    """Jobs sacct knows for the filter (of the last week, when not by id); None when
    accounting is off (or sacct fails)."""
    since = [] if "-j" in argv_filter else ["-S", "now-7days"]
    result = run_tool(["sacct", "-n", "-P", "-X", *since, *argv_filter,
                       "-o", "JobID,State,Reason,Submit,JobName"])
    if result.returncode != 0 or "accounting storage is disabled" in (
        result.stderr + result.stdout
    ).lower():
        return None
    states = []
    for line in result.stdout.splitlines():
        parts = line.split("|", 4)  # the name last: it may hold a `|` of its own
        if len(parts) == 5 and parts[0].strip():
            job_id, native, reason, submitted, name = parts
            states.append(job_state(job_id.strip(), native, reason.strip(), name,
                                    submitted))
    return states


def sacct_ids(job_ids: List[str]) -> Optional[Dict[str, JobState]]:
    found = sacct(["-j", _ids_query(job_ids)])
    return None if found is None else {s.job_id: s for s in found}


def jobcomp_lines(settings: Dict[str, str]) -> Iterable[Dict[str, str]]:
    """The jobcomp file's records (``JobCompType=jobcomp/filetxt``), oldest first."""
    path = jobcomp_path(settings)
    if path is None:
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
                name = _NAME.search(line)  # a name may hold spaces
                if name:
                    fields["Name"] = name.group(1)
                if fields.get("JobId") and "JobState" in fields:
                    yield fields
    except OSError:
        return


def _from_jobcomp(job_id: str, fields: Dict[str, str]) -> JobState:
    return job_state(job_id, fields["JobState"], None, fields.get("Name"),
                     fields.get("SubmitTime", ""))


def jobcomp_ids(job_ids: List[str], settings: Dict[str, str]) -> Dict[str, JobState]:
    """The newest jobcomp record of each job.  An array task that never started has
    no record of its own: the array's own record (its job id, no task id; e.g.
    ``JobState=CANCELLED`` when the array was cancelled) stands for it."""
    wanted = set(job_ids)
    arrays = {j.split("_")[0] for j in wanted if "_" in j}
    states: Dict[str, JobState] = {}
    array_records: Dict[str, Dict[str, str]] = {}
    for fields in jobcomp_lines(settings):
        job_id = fields["JobId"]
        task = fields.get("ArrayTaskId", "")
        if fields.get("ArrayJobId") and task.isdigit() and int(task) < 2**31:
            job_id = f"{fields['ArrayJobId']}_{task}"
        elif job_id in arrays and not fields.get("ArrayJobId"):
            array_records[job_id] = fields  # the array's never-started tasks
        if job_id in wanted:
            states[job_id] = _from_jobcomp(job_id, fields)
    for job_id in wanted - set(states):
        base = job_id.split("_")[0]
        if "_" in job_id and base in array_records:
            states[job_id] = _from_jobcomp(job_id, array_records[base])
    return states


def jobcomp_names(names: List[str], settings: Dict[str, str]) -> List[JobState]:
    wanted = set(names)
    found = []
    for fields in jobcomp_lines(settings):
        if fields.get("Name") in wanted:
            job_id = fields["JobId"]
            if fields.get("ArrayJobId") and fields.get("ArrayTaskId", "").isdigit():
                job_id = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
            found.append(_from_jobcomp(job_id, fields))
    return found


def slurm_settings() -> Dict[str, str]:
    """slurm.conf's settings (keys lower-cased); empty when it cannot be read."""
    conf = os.environ.get("SLURM_CONF") or "/etc/slurm/slurm.conf"
    try:
        text = Path(conf).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line and " " not in line.split("=", 1)[0]:
            key, value = line.split("=", 1)
            settings[key.strip().lower()] = value.strip()
    return settings


def jobcomp_path(settings: Dict[str, str]) -> Optional[Path]:
    """JobCompLoc from slurm.conf's settings, when jobcomp/filetxt is in use."""
    if settings.get("jobcomptype", "").lower() != "jobcomp/filetxt":
        return None
    loc = settings.get("jobcomploc")
    return Path(loc) if loc else None


def accounting_off(settings: Dict[str, str]) -> bool:
    storage = settings.get("accountingstoragetype")
    return storage is not None and storage.lower() == "accounting_storage/none"
