"""Run a prepared trainer under torchrun: several processes on this machine, or across machines.

The launcher starts ``python -m torch.distributed.run ... -m exptool.training.launchers.torchrun``;
each worker rebuilds the run from the JSON spec (``EXPTOOL_LAUNCH_SPEC``), calls
:func:`~exptool.training.worker.execute_request` with its rank, and writes its outcome to a file the
launcher reads back. Ctrl-C and SIGTERM are forwarded to torchrun, which stops its workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError
from .base import Job, Launcher, OnOutcome, Outcome

SPEC_ENV = "EXPTOOL_LAUNCH_SPEC"
OUTCOME_ENV = "EXPTOOL_OUTCOME_FILE"
WORKER_MODULE = "exptool.training.launchers.torchrun"


@dataclass
class DistOptions:
    """torchrun options: processes per node and, for several machines, the rendezvous."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    def __post_init__(self) -> None:
        if self.node_rank >= self.nnodes:
            raise UsageError(f"--node-rank {self.node_rank} must be below --nnodes {self.nnodes}.")
        if self.nnodes > 1 and not self.master_addr:
            raise UsageError("--nnodes above 1 needs --master-addr: the address of the machine with --node-rank 0.")

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def torchrun_args(self) -> list[str]:
        """Arguments for ``python -m torch.distributed.run``."""
        args = ["--nproc-per-node", str(self.nproc_per_node)]
        if self.nnodes == 1 and self.master_addr is None and self.master_port is None:
            return ["--standalone", *args]  # a free port on localhost: no clashes between runs
        args += ["--nnodes", str(self.nnodes), "--node-rank", str(self.node_rank)]
        args += ["--master-addr", self.master_addr or "127.0.0.1", "--master-port", str(self.master_port or 29500)]
        return args


class TorchrunLauncher(Launcher):
    """Starts each prepared run under torchrun and waits for it; one run at a time."""

    name = "torchrun"

    def __init__(self, dist: DistOptions | None = None, **options: Any):
        self.dist = dist or DistOptions(**options)

    @property
    def world_size(self) -> int:
        return self.dist.world_size

    @property
    def writes_records(self) -> bool:
        return self.dist.node_rank == 0

    def submit(self, runs: Sequence) -> list[Job]:
        return [Job(prepared) for prepared in runs]

    def wait(self, jobs: Sequence[Job], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        for job in jobs:
            if job.done:
                continue
            job.outcome = self._run(job)
            if on_outcome is not None:
                on_outcome(job)
        return [job.outcome for job in jobs]  # type: ignore[misc]

    def cancel(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            proc = job.data.get("process")
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            elif not job.done:
                job.outcome = Outcome.interrupted("cancelled")

    def _run(self, job: Job) -> Outcome:
        """Start torchrun with the workers and wait; forward SIGINT/SIGTERM to it."""
        dist = self.dist
        from ..replicas import REPLICA_ENV, compare, warn_once  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="exptool-") as tmp:
            env = {**os.environ, SPEC_ENV: json.dumps(job.prepared.request()), OUTCOME_ENV: tmp, REPLICA_ENV: tmp}
            env.setdefault("OMP_NUM_THREADS", "1")
            cmd = [sys.executable, "-c", _AGENT, *dist.torchrun_args(), "-m", WORKER_MODULE]
            proc = subprocess.Popen(cmd, env=env, stdout=_stdout_fd())
            job.id, job.data["process"] = str(proc.pid), proc
            signalled: list[int] = []

            def forward(signum: int, frame: Any) -> None:
                signalled.append(signum)
                try:
                    proc.send_signal(signum)
                except OSError:
                    pass

            stops = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
            old = {s: signal.signal(s, forward) for s in stops}
            try:
                rc = proc.wait()
            finally:
                for s, handler in old.items():
                    signal.signal(s, handler)
            results = {r: _read_outcome(Path(tmp) / f"outcome-{r}.json") for r in range(dist.nproc_per_node)}
            if dist.nnodes == 1:  # the last checkpoint too (workers compare at each save, rank 0 first)
                message = compare(tmp, dist.nproc_per_node)
                if message:
                    warn_once(tmp, message)
        return _combine(results, rc, bool(signalled), dist.world_size)


def _combine(results: dict[int, dict[str, Any] | None], rc: int, signalled: bool, world_size: int) -> Outcome:
    """One outcome from the workers' outcomes and torchrun's exit code."""
    main = results.get(0) or {}
    failed = [r for r in results.values() if r and r.get("status") == "failed"]
    if failed:
        # The first rank that raised is the cause; the others were stopped by torchrun.
        status, error = "failed", failed[0].get("error")
    elif rc != 0 and not signalled:
        status, error = "failed", f"a worker failed (torchrun exit code {rc}); see the messages above"
    elif signalled or main.get("status") == "interrupted":
        status, error = "interrupted", main.get("error") or "interrupted"
    else:
        status, error = "completed", None
    code = {"completed": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_FAILURE)
    if failed and isinstance(failed[0].get("exit_code"), int) and failed[0]["exit_code"] > 0:
        code = failed[0]["exit_code"]  # a trainer's own sys.exit(3) stays 3
    in_trainer = bool(failed[0].get("in_trainer", True)) if failed else True
    return Outcome(
        status, code, error, start_step=int(main.get("start_step", 0)), world_size=world_size, in_trainer=in_trainer,
        unread_config=main.get("unread_config") if status == "completed" else None,
    )


# torchrun itself (``python -m torch.distributed.run``), minus the traceback it prints when Ctrl-C or
# SIGTERM stops it: it has shut its workers down by then, and `exp train` reports the interruption.
_AGENT = f"import sys; from {WORKER_MODULE} import agent_main; sys.exit(agent_main(sys.argv[1:]))"


def agent_main(argv: list[str]) -> int:
    """Run torchrun's ``main`` with ``argv``; a signal that stops it exits ``128 + signal`` quietly."""
    from torch.distributed.elastic.multiprocessing.api import SignalException  # noqa: PLC0415
    from torch.distributed.run import main  # noqa: PLC0415

    try:
        main(argv)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0


def _stdout_fd() -> int | None:
    """The file descriptor behind ``sys.stdout`` (stderr's under ``redirect_stdout``), for the workers."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _read_outcome(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def worker_main() -> int:
    """Entry point of each torchrun worker: the spec comes in ``EXPTOOL_LAUNCH_SPEC``."""
    from ..worker import execute_request  # noqa: PLC0415

    outcome = execute_request(json.loads(os.environ[SPEC_ENV]))
    folder = os.environ.get(OUTCOME_ENV)
    if folder:
        from ..._atomic import atomic_write_json  # noqa: PLC0415

        rank = int(os.environ.get("LOCAL_RANK", 0))
        atomic_write_json(Path(folder) / f"outcome-{rank}.json", outcome.to_dict(), fsync=False)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(worker_main())
