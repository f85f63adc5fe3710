"""A pool of long-lived local worker processes that run prepared runs one after another.

Each worker (:mod:`.pool_worker`) imports torch and exptool once, then executes run after run
through :func:`~exptool.training.worker.execute_request`, so a sweep of many short trainings pays
the interpreter and torch start-up once per worker, not once per point. The parent speaks JSON
lines with each worker over a pair of pipes of its own (the worker's stdout and stderr stay free
for the trainer, and go to the run's ``logs/output.log``).

Devices: with ``gpus=["0", "1", "2", "3"]`` and ``gpus_per_run=1`` there are four slots and each
worker is bound to one through ``CUDA_VISIBLE_DEVICES`` for its whole life, so two runs never
share a slot. Threads: unless the environment sets them, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` are the CPU count divided by the number of workers.

Signals: workers run in their own sessions, so a terminal's Ctrl-C reaches only the parent, which
forwards exactly one SIGINT to every busy worker and collects their ``interrupted`` outcomes
(a second Ctrl-C kills them). :meth:`PoolLauncher.cancel` sends SIGTERM: a trainer that polls
``ctx.should_stop`` checkpoints and returns.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError
from .base import Job, Launcher, OnOutcome, Outcome

WORKER_MODULE = "exptool.training.launchers.pool_worker"
OUTPUT_NAME = "output.log"
# How long a worker that was told to stop may take to report before it is killed.
STOP_WAIT_S = 30.0


def parse_gpus(gpus: str | Sequence[str] | None) -> list[str]:
    """``"0,1,2"`` or ``["0", "1"]`` as a list of device ids (empty for None)."""
    if gpus is None:
        return []
    items = gpus.split(",") if isinstance(gpus, str) else [str(g) for g in gpus]
    ids = [g.strip() for g in items if g.strip()]
    if len(set(ids)) != len(ids):
        raise UsageError(f"--gpus lists a device twice: {','.join(ids)}.")
    return ids


def device_slots(jobs: int | None, gpus: Sequence[str], gpus_per_run: int) -> list[str | None]:
    """One ``CUDA_VISIBLE_DEVICES`` value per worker (None: leave the environment alone).

    Raises:
        UsageError: the numbers do not fit (more workers than device slots, ...).
    """
    if jobs is not None and jobs < 1:
        raise UsageError(f"-j must be at least 1, not {jobs}.")
    if not gpus:
        return [None] * (jobs or 1)
    if gpus_per_run < 1:
        raise UsageError(f"--gpus-per-run must be at least 1, not {gpus_per_run}.")
    count = len(gpus) // gpus_per_run
    if count == 0:
        raise UsageError(
            f"--gpus-per-run {gpus_per_run} needs at least that many devices in --gpus ({len(gpus)} given)."
        )
    if jobs is not None and jobs > count:
        raise UsageError(
            f"-j {jobs} needs {jobs * gpus_per_run} devices at {gpus_per_run} per run; --gpus gives {len(gpus)}.",
            hint="Lower -j (it defaults to the number of device slots), or add devices.",
        )
    slots = [",".join(gpus[i * gpus_per_run : (i + 1) * gpus_per_run]) for i in range(count)]
    return slots[: jobs or count]


@dataclass
class _Worker:
    proc: subprocess.Popen
    requests: Any  # text file (line-buffered) the worker reads requests from
    results_fd: int
    slot: int
    devices: str | None
    buffer: bytes = b""
    job: Job | None = None
    signalled: int | None = None
    started: float = field(default_factory=time.monotonic)
    used: bool = False  # it was given a run (one that never was may be killed at close)

    @property
    def busy(self) -> bool:
        return self.job is not None


class PoolLauncher(Launcher):
    """Runs prepared runs in ``jobs`` long-lived worker processes on this machine.

    Args:
        jobs: workers, i.e. runs at once (default 1, or one per device slot with ``gpus``).
        gpus: device ids to share out (``"0,1,2,3"``); each worker gets its own.
        gpus_per_run: devices per worker.
        threads: ``OMP_NUM_THREADS`` for each worker (default: CPUs / workers, unless already set).
    """

    name = "pool"

    def __init__(
        self,
        jobs: int | None = None,
        gpus: str | Sequence[str] | None = None,
        gpus_per_run: int = 1,
        threads: int | None = None,
    ):
        self.slots = device_slots(jobs, parse_gpus(gpus), gpus_per_run)
        self.threads = threads or max(1, (os.cpu_count() or 1) // len(self.slots))
        self._workers: list[_Worker] = []
        self._queue: list[Job] = []

    @property
    def capacity(self) -> int:
        return len(self.slots)

    # -- the contract ---------------------------------------------------------------------------

    def submit(self, runs: Sequence) -> list[Job]:
        jobs = [Job(prepared) for prepared in runs]
        self._queue.extend(jobs)
        return jobs

    def poll(self, jobs: Sequence[Job], timeout: float | None = None) -> list[Job]:
        try:
            self._dispatch()
            self._read(timeout)
        except KeyboardInterrupt:
            self._stop_all(signal.SIGINT)
            raise
        return [job for job in jobs if job.done]

    def wait(self, jobs: Sequence[Job], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        reported: set[int] = set()
        while True:
            for job in self.poll(jobs, timeout=1.0):
                if id(job) not in reported:
                    reported.add(id(job))
                    if on_outcome is not None:
                        on_outcome(job)
            if all(job.done for job in jobs):
                return [job.outcome for job in jobs]  # type: ignore[misc]

    def cancel(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.done:
                continue
            worker = self._worker_of(job)
            if worker is None:
                if job in self._queue:
                    self._queue.remove(job)
                job.outcome = Outcome.interrupted("cancelled")
            elif worker.signalled is None:
                worker.signalled = signal.SIGTERM
                _signal(worker.proc, signal.SIGTERM)

    def warm_up(self, count: int) -> None:
        """Start up to ``count`` workers now, so their start-up overlaps the caller's preparations."""
        free = sorted(set(range(len(self.slots))) - {w.slot for w in self._workers})
        for slot in free[: max(0, count - len(self._workers))]:
            self._start_worker(slot)

    def close(self) -> None:
        """Let the workers exit (end of their request pipe) and reap them; kill the ones never used."""
        for worker in self._workers:
            if not worker.used and worker.proc.poll() is None:
                worker.proc.kill()  # still warming up, perhaps: nothing of a run's to lose
            try:
                worker.requests.close()
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for worker in self._workers:
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            os.close(worker.results_fd)
        self._workers.clear()

    def __enter__(self) -> PoolLauncher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- workers --------------------------------------------------------------------------------

    def _worker_of(self, job: Job) -> _Worker | None:
        return next((w for w in self._workers if w.job is job), None)

    def _start_worker(self, slot: int) -> _Worker:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        env = dict(os.environ)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(self.threads))
        devices = self.slots[slot]
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices
        cmd = [sys.executable, "-m", WORKER_MODULE, str(req_r), str(res_w)]
        try:
            proc = subprocess.Popen(
                cmd, env=env, pass_fds=(req_r, res_w), stdin=subprocess.DEVNULL, stdout=_stderr_fd(),
                start_new_session=True,  # the terminal's Ctrl-C reaches the parent only; it forwards one
            )
        finally:
            os.close(req_r)
            os.close(res_w)
        requests = os.fdopen(req_w, "w", buffering=1, encoding="utf-8")
        worker = _Worker(proc, requests, res_r, slot, devices)
        self._workers.append(worker)
        return worker

    def _dispatch(self) -> None:
        """Start queued jobs on idle workers; start (or replace) workers as needed."""
        for dead in [w for w in self._workers if not w.busy and w.proc.poll() is not None]:
            self._retire(dead)
        while self._queue:
            idle = next((w for w in self._workers if not w.busy), None)
            if idle is None:
                free = sorted(set(range(len(self.slots))) - {w.slot for w in self._workers})
                if not free:
                    return
                idle = self._start_worker(free[0])
            job = self._queue.pop(0)
            run = job.prepared.run
            line = json.dumps({"request": job.prepared.request(), "output": str(run.logs_dir / OUTPUT_NAME)})
            try:
                idle.requests.write(line + "\n")
            except (BrokenPipeError, OSError):  # it died while idle: replace it, keep the job queued
                self._queue.insert(0, job)
                self._retire(idle)
                continue
            idle.job, idle.signalled, idle.started, idle.used = job, None, time.monotonic(), True
            job.id, job.data["worker_pid"] = str(idle.proc.pid), idle.proc.pid
            if idle.devices is not None:
                job.data["devices"] = idle.devices

    def _retire(self, worker: _Worker) -> None:
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait()
        try:
            worker.requests.close()
        except OSError:
            pass
        os.close(worker.results_fd)
        self._workers.remove(worker)

    def _read(self, timeout: float | None) -> None:
        """Read what the busy workers reported within ``timeout`` seconds."""
        busy = {w.results_fd: w for w in self._workers if w.busy}
        if not busy:
            return
        ready, _, _ = select.select(list(busy), [], [], timeout)
        for fd in ready:
            worker = busy[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                self._worker_died(worker)
                continue
            worker.buffer += chunk
            while b"\n" in worker.buffer:
                line, worker.buffer = worker.buffer.split(b"\n", 1)
                self._handle(worker, line)

    def _handle(self, worker: _Worker, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if worker.job is not None and isinstance(message, dict) and "started" in message:
            worker.job.prepared.started = time.time()  # the duration leaves out the worker's start-up
        if worker.job is not None and isinstance(message, dict) and "outcome" in message:
            worker.job.outcome = Outcome.from_dict(message["outcome"])
            worker.job = None

    def _worker_died(self, worker: _Worker) -> None:
        code = worker.proc.wait()
        job = worker.job
        if job is not None:
            if worker.signalled is not None:
                job.outcome = Outcome.interrupted()
            else:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                job.outcome = Outcome("failed", 1, f"the worker process died ({how}) during the run")
            worker.job = None
        self._retire(worker)

    def _stop_all(self, signum: int) -> None:
        """Ctrl-C: one ``signum`` to every busy worker, then collect their outcomes (a second one kills)."""
        busy = [w for w in self._workers if w.busy]
        for worker in busy:
            if worker.signalled != signum:
                worker.signalled = signum
                _signal(worker.proc, signum)
        self._queue.clear()
        deadline = time.monotonic() + STOP_WAIT_S
        try:
            while any(w.busy for w in self._workers) and time.monotonic() < deadline:
                self._read(0.2)
        except KeyboardInterrupt:
            pass
        for worker in [w for w in self._workers if w.busy]:
            worker.proc.kill()
            self._worker_died(worker)


def _signal(proc: subprocess.Popen, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except OSError:
        pass


def _stderr_fd() -> int | None:
    """Workers print (between runs) where this process prints its errors, so ``--json`` stays clean."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
