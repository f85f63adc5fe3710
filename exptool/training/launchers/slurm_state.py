"""What SLURM itself says about runs it holds: one ``squeue`` call per listing, none without such runs.

A run handed to SLURM records its job in ``run.json`` (``"slurm": {"job_id": "123_4", ...}``) and
its status there is ``queued`` until the job starts on a node, which writes ``running`` and then the
outcome. Between those writes only SLURM knows the truth: a job cancelled while pending, or killed
with its node, never writes again. :func:`live_status` combines both: ``queued`` and ``running``
come from SLURM's state, and a run SLURM no longer knows whose record still says queued/running
is ``stale``. Light: imports nothing beyond the standard library, and never submitit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

ACTIVE = ("queued", "running")
# squeue's long state names that mean "waiting" (everything else it lists counts as running).
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SUSPENDED", "SPECIAL_EXIT"}
SQUEUE_TIMEOUT_S = 15


def job_id(record: dict[str, Any]) -> str | None:
    """The SLURM job (``123`` or ``123_4`` for an array task) a run record names, if any."""
    slurm = record.get("slurm")
    value = slurm.get("job_id") if isinstance(slurm, dict) else None
    return str(value) if value else None


def on_slurm(record: dict[str, Any]) -> bool:
    """True when the run was last handed to SLURM and has not ended."""
    return record.get("status") in ACTIVE and (record.get("launcher") == "slurm" or job_id(record) is not None)


def squeue_states() -> dict[str, str] | None:
    """Every job of this user SLURM knows: ``{job id: state}`` (array tasks one by one).

    None when ``squeue`` is missing or fails (the records are then all there is).
    """
    if shutil.which("squeue") is None:
        return None
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    cmd = ["squeue", "--noheader", "--array", "--format=%i|%T"]
    cmd += [f"--user={user}"] if user else ["--me"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    states = {}
    for line in proc.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid:
            states[jid] = state.strip()
    return states


def cluster_states(records: Iterable[dict[str, Any]]) -> dict[str, str] | None:
    """SLURM's states for these records: ``{}`` without a call when none is on SLURM."""
    if not any(on_slurm(r) for r in records):
        return {}
    return squeue_states()


def live_status(record: dict[str, Any], states: dict[str, str] | None) -> str | None:
    """``queued``/``running``/``stale`` from SLURM's ``states`` for a run on SLURM; None otherwise.

    ``states`` None (squeue unavailable) keeps the record's word.
    """
    if not on_slurm(record):
        return None
    jid = job_id(record)
    if jid is None:  # handed over, but the job id never got recorded (crashed during submission)
        return "stale"
    if states is None:
        return str(record.get("status"))
    state = states.get(jid)
    if state is None:
        return "stale"
    return "queued" if state in PENDING_STATES else "running"


def refine_statuses(items: list[tuple[Any, dict[str, Any], dict[str, Any]]]) -> None:
    """For ``(run, record, summary)`` triples, set each summary's ``status`` from SLURM (one call at most).

    A run SLURM no longer knows is read again first: its job may have just written how it ended.
    """
    if not any(on_slurm(record) for _, record, _ in items):
        return
    states = squeue_states()
    for run, record, summary in items:
        status = live_status(record, states)
        if status == "stale":
            fresh = run.read_record()
            status = live_status(fresh, states) or run.status(fresh)
        if status is not None:
            summary["status"] = status


def is_alive(record: dict[str, Any]) -> bool:
    """True when SLURM still holds the run's job (queued or running)."""
    return live_status(record, cluster_states([record])) in ACTIVE
