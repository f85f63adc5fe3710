"""A submitted sweep's ``--notify``: run by whichever of its cluster jobs ends last, on that job's node.

``exp sweep --launcher slurm`` without ``--wait`` returns once the jobs are queued, long before the
sweep ends, so it cannot run the notifier itself. Instead it leaves ``notify.json`` in the sweep's
folder (:func:`arm`): the command, its timeout and when the sweep was submitted. Every job, after
its point ended for good (not requeued), calls :func:`after_point`; under the folder's record lock
it looks at the whole sweep, and when no point is queued or running any more it marks the file
done and runs the command with the same ``EXPTOOL_*`` variables ``exp sweep`` would have set.
Marking comes first: the word is sent at most once, even when two last jobs end together.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from .._atomic import atomic_write_json
from ..runtime import warn
from ..workspace import Run, now_iso
from .record import SweepRecord, sweeps_dir

NOTIFY_NAME = "notify.json"


def arm(record: SweepRecord, command: str, timeout: float) -> None:
    """Leave the notification for the sweep's last job to send."""
    payload = {"command": command, "timeout": timeout, "submitted": time.time(), "done": False}
    atomic_write_json(record.folder / NOTIFY_NAME, payload)


def disarm(record: SweepRecord) -> None:
    """Drop a notification an earlier submission left (this run of the sweep sends its own, or none)."""
    (record.folder / NOTIFY_NAME).unlink(missing_ok=True)


def after_point(run: Run) -> bool:
    """Send the sweep's notification if ``run`` was a point of a submitted sweep and the last to end.

    Returns True when it ran the command. Never raises for the notification's sake.
    """
    try:
        name = run.read_record().get("sweep")
    except Exception:  # noqa: BLE001 - an unreadable record says nothing about the sweep
        return False
    if not isinstance(name, str):
        return False
    folder = sweeps_dir(run.experiment) / name
    if not (folder / NOTIFY_NAME).exists():
        return False  # the common case: nothing was asked
    try:
        armed = _take(run, name)
    except Exception as exc:  # noqa: BLE001 - the point's outcome is recorded; this is only the word
        warn(f"the notification of sweep {run.experiment.name}/{name} could not be prepared: {exc}")
        return False
    if armed is None:
        return False
    from ..notify import notify  # noqa: PLC0415

    command, timeout, variables = armed
    notify(command, variables, timeout)
    return True


def _take(run: Run, name: str) -> tuple[str, float, dict[str, str]] | None:
    """Under the sweep folder's lock: the command and variables if the sweep has ended and nobody sent it yet."""
    from ..locking import RecordLock  # noqa: PLC0415
    from ..notify import DEFAULT_TIMEOUT_S, sweep_environment  # noqa: PLC0415
    from .snapshot import SweepWatcher  # noqa: PLC0415

    folder = sweeps_dir(run.experiment) / name
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
        snapshot = SweepWatcher(run.experiment, name).take()
        if snapshot.active:
            return None  # another point is queued or running: its job sends the word
        atomic_write_json(path, {**armed, "done": True, "sent": now_iso(), "by": socket.gethostname()})
    duration = max(0.0, time.time() - float(armed.get("submitted") or time.time()))
    code = snapshot.exit_code if snapshot.exit_code is not None else 1
    variables = sweep_environment(snapshot.record, snapshot.state, code, duration, snapshot.counts(),
                                  snapshot.best())
    return armed["command"], float(armed.get("timeout") or DEFAULT_TIMEOUT_S), variables
