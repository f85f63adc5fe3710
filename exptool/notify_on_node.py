"""``--notify`` for work submitted to a cluster: sent from the node of the job that ends it.

``exp submit`` and ``exp sweep --launcher slurm`` without ``--wait`` return once the jobs are
queued, long before they end, so they cannot run the notifier themselves. Instead they leave
``notify.json`` (:func:`arm`: the command, its timeout and when it was submitted) in the run's
folder, or in the sweep's. Every job, once its run has ended for good (not requeued), calls
:func:`after_job` on its node: a submitted run's notification is sent with the run's variables;
for a sweep's point, under the sweep folder's record lock, the whole sweep is looked at, and when
no point is queued or running any more the sweep's notification is sent with the variables ``exp
sweep`` would have set. The file is marked done before the command runs: the word is sent at most
once, even when two last jobs end together.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_json
from .runtime import warn
from .workspace import Run, now_iso

NOTIFY_NAME = "notify.json"


def arm(folder: Path, command: str, timeout: float) -> None:
    """Leave a notification in ``folder`` (a run's or a sweep's) for the job that ends it to send."""
    payload = {"command": command, "timeout": timeout, "submitted": time.time(), "done": False}
    folder.mkdir(parents=True, exist_ok=True)  # a new sweep's folder is made when it starts, after this
    atomic_write_json(folder / NOTIFY_NAME, payload)


def disarm(folder: Path) -> None:
    """Drop a notification an earlier submission left (a new submission says its own word, or none)."""
    (folder / NOTIFY_NAME).unlink(missing_ok=True)


def after_job(run: Run) -> bool:
    """On a job's node, once ``run`` has ended: send what was armed for it, or for its sweep if it was the last.

    Returns True when it ran a command. Never raises for the notification's sake.
    """
    try:
        record = run.read_record()
    except Exception:  # noqa: BLE001 - an unreadable record says nothing to notify about
        return False
    sent = False
    sweep = record.get("sweep")
    targets = [(run.path, "run " + run.id, lambda duration: _run_variables(run))]
    if isinstance(sweep, str):
        from .sweeps.record import sweeps_dir  # noqa: PLC0415

        targets.append((sweeps_dir(run.experiment) / sweep, f"sweep {run.experiment.name}/{sweep}",
                        lambda duration: _sweep_variables(run, sweep, duration)))
    for folder, what, variables in targets:
        if not (folder / NOTIFY_NAME).exists():
            continue  # the common case: nothing was asked
        try:
            armed = _take(folder, variables)
        except Exception as exc:  # noqa: BLE001 - the outcome is recorded; this is only the word
            warn(f"the notification of {what} could not be prepared: {exc}")
            continue
        if armed is not None:
            from .notify import notify  # noqa: PLC0415

            notify(*armed)
            sent = True
    return sent


def _take(folder: Path, variables: Any) -> tuple[str, dict[str, str], float] | None:
    """Under the folder's record lock: the command and its variables, if it is due and nobody sent it yet.

    ``variables(seconds since the submission)`` returns the variables, or None when it is not time yet.
    """
    from .locking import RecordLock  # noqa: PLC0415
    from .notify import DEFAULT_TIMEOUT_S  # noqa: PLC0415

    path = folder / NOTIFY_NAME
    with RecordLock(folder):
        try:
            armed: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        if not isinstance(armed, dict) or not isinstance(armed.get("command"), str):
            raise ValueError(f"{path} is not a notification exptool wrote")
        if armed.get("done") or not armed["command"]:
            return None
        submitted = armed.get("submitted")
        found = variables(max(0.0, time.time() - submitted) if isinstance(submitted, (int, float)) else 0.0)
        if found is None:
            return None
        atomic_write_json(path, {**armed, "done": True, "sent": now_iso(), "by": socket.gethostname()})
    return armed["command"], found, float(armed.get("timeout") or DEFAULT_TIMEOUT_S)


def _run_variables(run: Run) -> dict[str, str] | None:
    """The run's ``EXPTOOL_*`` variables from how ``run.json`` says it ended (None while it has not)."""
    from .notify import run_environment  # noqa: PLC0415

    record = run.read_record()
    status = record.get("status")
    if status not in ("completed", "failed", "interrupted"):
        return None
    step, metrics = run.last_metrics()
    code = record.get("exit_code")
    return run_environment(run, status, int(code) if isinstance(code, int) else 1,
                           float(record.get("duration_s") or 0.0), record.get("error"), step, metrics)


def _sweep_variables(run: Run, sweep: str, duration_s: float) -> dict[str, str] | None:
    """The sweep's ``EXPTOOL_*`` variables once none of its points is queued or running (None before)."""
    from .notify import sweep_environment  # noqa: PLC0415
    from .sweeps.snapshot import SweepWatcher  # noqa: PLC0415

    snapshot = SweepWatcher(run.experiment, sweep).take()
    if snapshot.active:
        return None  # another point is queued or running: its job sends the word
    code = snapshot.exit_code if snapshot.exit_code is not None else 1
    return sweep_environment(snapshot.record, snapshot.state, code, duration_s, snapshot.counts(), snapshot.best())
