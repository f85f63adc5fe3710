"""What a SLURM job runs on its node: take the run, train it, record how it ended, requeue if asked.

:func:`run_job` is the function submitit calls in every task of the job (one task per GPU, ``srun``
starts them). With several tasks it builds the process group from SLURM's variables
(``RANK``/``WORLD_SIZE``/``MASTER_ADDR``... through submitit's ``TorchDistributedEnvironment``), no
torchrun; only global rank 0 takes the run's lock and writes ``run.json``, logs and checkpoints.

Signals: SLURM sends SIGUSR2 ``signal_delay_s`` before the time limit (and, where the site sets it
up, before preemption). The job then asks the trainer to stop as SIGTERM would (``ctx.should_stop``:
checkpoint and return), records the run ``queued`` again and requeues itself with ``scontrol
requeue``; the next attempt resumes from that checkpoint, and ``attempts`` in ``run.json`` goes
up. SIGTERM alone (``scancel``, ``exp cancel``) stops the trainer the same way but does not requeue:
the run ends ``interrupted``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

LOCK_WAIT_S = 120.0


def _job_environment() -> dict[str, Any]:
    """Facts about this job from SLURM's variables (what ``run.json`` records)."""
    env = os.environ
    array_job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array_job}_{task}" if array_job and task else env.get("SLURM_JOB_ID", "")
    return {
        "job_id": job_id,
        "raw_job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": array_job,
        "array_index": int(task) if task and task.isdigit() else None,
        "node_list": env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or socket.gethostname(),
        "restart_count": int(env.get("SLURM_RESTART_COUNT") or 0),
        "partition": env.get("SLURM_JOB_PARTITION"),
    }


def _export_distributed() -> tuple[int, int]:
    """Rank and world size of this task; with several tasks, the env:// variables torch reads."""
    tasks = int(os.environ.get("SLURM_NTASKS") or 1)
    rank = int(os.environ.get("SLURM_PROCID") or 0)
    if tasks > 1:
        from submitit.helpers import TorchDistributedEnvironment  # noqa: PLC0415

        # Each task keeps every GPU of its node visible; exptool picks cuda:LOCAL_RANK itself.
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    return rank, tasks


def run_job(request: dict[str, Any]) -> dict[str, Any]:
    """Run one prepared run inside a SLURM job; returns the outcome as a dict (submitit keeps it)."""
    from ...config import load_config  # noqa: PLC0415
    from ...errors import AlreadyExistsError, ExptoolError, RunLockedError  # noqa: PLC0415
    from ...workspace import Workspace, now_iso  # noqa: PLC0415
    from ..prepare import finish_run, mark_failed, prepare_run  # noqa: PLC0415
    from ..registry import TrainerSpec  # noqa: PLC0415
    from ..worker import execute  # noqa: PLC0415
    from .base import Outcome  # noqa: PLC0415

    rank, world_size = _export_distributed()
    writes = rank == 0
    run = Workspace(Path(request["workspace"])).run(request["experiment"], request["run"])
    spec = TrainerSpec(**request["trainer"])
    job = _job_environment()
    requeue: list[int] = []

    def on_usr2(signum: int, frame: Any) -> None:
        requeue.append(signum)
        os.kill(os.getpid(), signal.SIGTERM)  # the trainer's own SIGTERM handling: should_stop, grace

    signal.signal(signal.SIGUSR2, on_usr2)
    submitted = run.read_record().get("slurm") or {}  # what the submitter recorded (prepare resets it)
    try:
        config = load_config(run.config_path)
        options = {"seed": request.get("seed"), "world_size": world_size, "writes_records": writes,
                   "lock_wait": LOCK_WAIT_S}
        try:
            prepared = prepare_run(run, spec, config, resume=None, **options)
        except AlreadyExistsError:
            # Logs but no checkpoint: an earlier attempt died before its first checkpoint. Start over.
            prepared = prepare_run(run, spec, config, clear=True, **options)
    except RunLockedError as exc:  # someone else trains it: leave its record alone
        return Outcome("failed", exc.exit_code, exc.message, in_trainer=False).to_dict()
    except ExptoolError as exc:
        if writes:
            run.update_record(status="failed", error=exc.message, exit_code=exc.exit_code, ended=now_iso())
            _after_job(run)
        return Outcome("failed", exc.exit_code, exc.message, in_trainer=False).to_dict()
    with prepared:
        if writes:
            run.update_record(launcher="slurm", slurm={**submitted, **job, "started": now_iso()})
        try:
            try:
                outcome = execute(run, spec, prepared.config, prepared.settings, prepared.trainer,
                                  seed=prepared.seed, resume=prepared.resume)
            except KeyboardInterrupt:  # a signal outside the trainer's handlers
                outcome = Outcome.interrupted()
            if requeue and outcome.status == "interrupted":
                outcome.error = "stopped by SIGUSR2 (time limit or preemption); requeued"
                if writes:  # one write: a watcher must never see this attempt as the run's end
                    previous = run.read_record()
                    run.update_record(
                        status="queued", ended=now_iso(), exit_code=None, error=outcome.error,
                        duration_s=round(time.time() - prepared.started, 3), start_step=outcome.start_step,
                        requeues=int(previous.get("requeues") or 0) + 1,
                    )
                    prepared.release()
                    _requeue(job["job_id"])
                return outcome.to_dict()
            finished = finish_run(prepared, outcome).to_dict()
        except BaseException as exc:
            mark_failed(prepared, exc)
            raise
    if writes:
        _after_job(run)
    return finished


def _after_job(run: Any) -> None:
    """A submitted run's ``--notify``, or its sweep's when it was the last point (sent from this node)."""
    from ...notify_on_node import after_job  # noqa: PLC0415

    after_job(run)


def _requeue(job_id: str) -> None:
    """Put this job back in the queue (SLURM then stops this attempt)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the requeue's own SIGTERM must not cut the exit short
    subprocess.run(["scontrol", "requeue", job_id], check=False, timeout=60, stdin=subprocess.DEVNULL)
