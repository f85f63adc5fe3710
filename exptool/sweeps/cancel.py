"""Stopping runs and sweeps: through SLURM for jobs it holds, by SIGTERM for local processes.

SIGTERM is what every launcher understands as "stop": a trainer that polls ``ctx.should_stop``
checkpoints and returns, the run ends ``interrupted`` and training it again resumes. A SLURM job
still waiting in the queue never starts, so its run is recorded ``interrupted`` (``cancelled``) here.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

from ..errors import ExptoolError
from ..locking import is_locked, read_holder
from ..workspace import Run, now_iso
from .record import SweepRecord


@dataclass
class Cancelled:
    """What cancelling did to one run (or a sweep's own process).

    Attributes:
        target: ``exp/run``, or ``sweep exp/name``.
        action: ``scancel`` (SLURM), ``sigterm`` (a local process), or ``none`` (nothing was running).
        detail: the job id or pid, and a word on the state it was in.
    """

    target: str
    action: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "action": self.action, "detail": self.detail}


def cancel_runs(runs: list[Run], *, local: bool = True) -> list[Cancelled]:
    """Stop each run that is queued or running (one ``squeue`` and one ``scancel`` for all of SLURM's).

    ``local=False`` leaves runs trained by local processes alone (their sweep was told to stop them).

    Raises:
        ExptoolError: a run is being trained on another machine (its process cannot be signalled
            from here), or ``scancel`` failed.
    """
    from ..training.launchers.slurm import scancel  # noqa: PLC0415
    from ..training.launchers.slurm_state import PENDING_STATES, job_id, on_slurm, squeue_states  # noqa: PLC0415

    records = {run: run.read_record() for run in runs}
    states = squeue_states() if any(on_slurm(r) for r in records.values()) else {}
    results, jobs = [], []
    for run, record in records.items():
        jid = job_id(record) if on_slurm(record) else None
        if jid and states is not None and jid in states:
            jobs.append(jid)
            waiting = states[jid] in PENDING_STATES
            if waiting:
                run.update_record(status="interrupted", error="cancelled", exit_code=130, ended=now_iso())
            results.append(Cancelled(run.id, "scancel", f"job {jid} ({'queued' if waiting else 'running'})"))
        elif record.get("status") == "running" and is_locked(run.path):
            if local:
                results.append(_signal_local(run, record))
        else:
            results.append(Cancelled(run.id, "none", str(run.status(record))))
    scancel(jobs)
    return results


def _signal_local(run: Run, record: dict[str, Any]) -> Cancelled:
    holder = read_holder(run.path)
    host = holder.get("host")
    if host and host != socket.gethostname():
        raise ExptoolError(f"Run {run.id!r} is being trained on {host}; cancel it there.",
                           hint=f"On {host}: exp cancel -e {run.experiment.name} -r {run.name}")
    # A run in a local sweep: its worker process, so the sweep's other points carry on.
    pid = record.get("worker_pid") or holder.get("pid")
    if not isinstance(pid, int):
        raise ExptoolError(f"Run {run.id!r} is running, but its process is unknown.",
                           hint="Stop it where it runs (Ctrl-C or kill).")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return Cancelled(run.id, "none", "its process has just ended")
    except PermissionError:
        raise ExptoolError(f"Not allowed to signal pid {pid}, which trains {run.id!r}.") from None
    return Cancelled(run.id, "sigterm", f"pid {pid}")


def cancel_sweep(record: SweepRecord) -> list[Cancelled]:
    """Stop a sweep: its own process if it runs here (it stops its points), and its points' SLURM jobs."""
    results = []
    folder = record.folder
    if is_locked(folder):
        holder = read_holder(folder)
        target = f"sweep {record.experiment.name}/{record.name}"
        if holder.get("host") and holder.get("host") != socket.gethostname():
            raise ExptoolError(f"Sweep {record.name!r} runs on {holder.get('host')}; cancel it there.")
        pid = holder.get("pid")
        if isinstance(pid, int):
            try:
                os.kill(pid, signal.SIGTERM)
                results.append(Cancelled(target, "sigterm", f"pid {pid}"))
            except ProcessLookupError:
                pass
    runs = [record.point_run(p) for p in record.points if record.point_run(p).exists()]
    # A second SIGTERM would cut a checkpointing trainer short: the sweep's process stops its own points.
    results += [r for r in cancel_runs(runs, local=not results) if r.action != "none"]
    return results
