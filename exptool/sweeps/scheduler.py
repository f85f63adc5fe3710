"""Running a sweep: which points still need work, handing them to a launcher, recording the outcomes.

:class:`SweepRunner` runs what its planner (:mod:`.planning`, which decides per point from its
run's ``run.json``: completed points are skipped, interrupted ones resume from their checkpoints,
failed ones run again only with ``retry_failed``, a point another process trains right now is left
alone) leaves pending. It keeps ``launcher.capacity`` points
going at once (a detached launcher, i.e. SLURM, gets every pending point in one submission), and
reports each start and end through ``on_event`` as it happens. One point failing never stops the
others. Ctrl-C stops every point (they end ``interrupted``); SIGTERM asks every point to stop
(a trainer that polls ``ctx.should_stop`` checkpoints first).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, ExptoolError, RunLockedError, UsageError
from ..workspace import Run, Workspace
from .planning import SweepPlanner
from .record import SweepRecord
from .results import PointState, final_metric, refresh

if TYPE_CHECKING:
    from ..training.launchers.base import Job, Launcher

OnEvent = Callable[[str, PointState], None]
TICK_S = 0.5
GUIDED_PARALLEL = 4
_DONE = ("completed", "failed", "interrupted", "busy")


@dataclass
class SweepResult:
    """How a sweep invocation ended: every point, the exit code, the sweep's state."""

    points: list[PointState]
    exit_code: int
    state: str
    submitted: list[str] = field(default_factory=list)
    best: dict[str, Any] | None = None


class SweepRunner(SweepPlanner):
    """Runs the points of one recorded sweep through a launcher (see the module docstring).

    Args:
        ws: the workspace.
        record: the sweep (from :func:`~exptool.sweeps.record.open_sweep`).
        launcher: where points run (a pool, SLURM, ...).
        retry_failed: run failed points again.
        wait: for a detached launcher, wait for the jobs to end (else return once submitted).
        on_event: called with ``(kind, point)``: ``skip``, ``start``, ``end``, ``tick`` (periodically,
            with the first point), ``note``.
    """

    def __init__(
        self,
        ws: Workspace,
        record: SweepRecord,
        launcher: Launcher,
        *,
        retry_failed: bool = False,
        wait: bool = True,
        on_event: OnEvent | None = None,
    ):
        super().__init__(ws, record, retry_failed=retry_failed)
        self.launcher, self.wait = launcher, wait
        self.on_event = on_event or (lambda kind, point: None)
        self._jobs: dict[int, Job] = {}
        self._terminate = False
        self._interrupted = False
        self._cancelled = False

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> SweepResult:
        """Run (or submit) what :meth:`plan` left pending; returns when the work has ended.

        Raises:
            RunLockedError: another process runs this sweep.
        """
        if self.launcher.detached and self.record.spec.method == "tpe" and not self.wait:
            raise UsageError("A guided (tpe) sweep on a cluster must wait for its trials: drop --no-wait.")
        if not self.points:
            self.plan()
        self.record.lock()
        old_term = _set_handler(signal.SIGTERM, self._on_sigterm)
        old_int = _set_handler(signal.SIGINT, signal.default_int_handler)
        # A dropped terminal (SSH gone) stops the points as SIGTERM does; under nohup it stays ignored.
        hup = getattr(signal, "SIGHUP", None)
        old_hup = _set_handler(hup, self._on_sigterm) if hup and signal.getsignal(hup) is not signal.SIG_IGN else None
        try:
            self.record.save(state="running", launcher=self.launcher.name, retired=self.record.data.get("retired", []))
            for point in self.points:
                if point.status != "pending":
                    self.on_event("skip", point)
            try:
                if self.launcher.detached and self.record.spec.method != "tpe":
                    self._submit_all()
                else:
                    self._loop()
            except KeyboardInterrupt:
                self._interrupted = True
                self._stop_active()
            return self._result()
        finally:
            _set_handler(signal.SIGTERM, old_term)
            _set_handler(signal.SIGINT, old_int)
            if old_hup is not None:
                _set_handler(hup, old_hup)
            self.launcher.close()
            self.record.unlock()

    def _loop(self) -> None:
        pending = [p for p in self.points if p.status == "pending"]
        # A cluster takes every point at once, except a guided search: TPE learns from finished trials.
        capacity = self.launcher.capacity or (GUIDED_PARALLEL if self._search else len(self.points) or 1)
        while True:
            while not self._stopping and len(self._jobs) < capacity:
                point = pending.pop(0) if pending else self._ask()
                if point is None:
                    break
                self._start([point])
            if not self._jobs:
                return
            if self._terminate and not self._cancelled:
                self._cancelled = True
                self.launcher.cancel(list(self._jobs.values()))
            ended = self.launcher.poll(list(self._jobs.values()), timeout=TICK_S)
            for job in ended:
                self._end(job)
            self._tick()

    @property
    def _stopping(self) -> bool:
        return self._terminate or self._interrupted

    def _submit_all(self) -> None:
        pending = [p for p in self.points if p.status == "pending"]
        self._start(pending)
        if not self.wait:
            return
        watched = [p for p in self.points if p.status == "queued" and p.index not in self._jobs]
        watch = getattr(self.launcher, "watch", None)
        if watched and callable(watch):
            self._jobs.update({p.index: job for p, job in zip(watched, watch([p.run for p in watched]), strict=True)})
        while self._jobs:
            for job in self.launcher.poll(list(self._jobs.values()), timeout=2.0):
                self._end(job)
            self._tick()
            if self._terminate:
                raise KeyboardInterrupt

    def _ask(self) -> PointState | None:
        """tpe: a new trial as a new point, while the sweep has fewer points than trials."""
        if self._search is None or len(self.record.points) >= self.record.spec.size:
            return None
        number, params = self._search.ask()
        raw = self.record.add_point(params, trial=number)
        self.record.save()
        point = PointState(int(raw["index"]), self.record.point_run(raw), params, trial=number)
        self.points.append(point)
        try:
            self._configs[point.index] = self._config_for(point)
        except ExptoolError as exc:
            self._fail(point, exc.message)
            return self._ask()
        return point

    def _start(self, points: list[PointState]) -> None:
        """Prepare ``points`` and hand them to the launcher (one submission for all)."""
        from ..training.prepare import prepare_run, prepare_submission  # noqa: PLC0415

        prepared, started = [], []
        for point in points:
            trainer, config = self._configs.get(point.index) or self._config_for(point)
            run = point.run
            try:
                self._tag(run, point)
                clear = self._needs_clear(run, point)
                if self.launcher.detached:
                    p = prepare_submission(run, trainer, config, clear=clear, world_size=self.launcher.world_size,
                                           launcher=self.launcher.name)
                else:
                    p = prepare_run(run, trainer, config, clear=clear, world_size=self.launcher.world_size,
                                    handle_sigterm=False)
            except RunLockedError:
                point.status, point.note = "busy", "another process is training it"
                self.on_event("skip", point)
                continue
            except ExptoolError as exc:
                self._fail(point, exc.message)
                continue
            if point.trial is not None and point.note == "retried" and self._search is not None:
                point.trial, _ = self._search.ask(point.params)
                self._remember_trial(point)
            prepared.append(p)
            started.append(point)
        if not prepared:
            return
        try:
            jobs = self.launcher.submit(prepared)
        except BaseException:
            for p in prepared:
                p.release()
            raise
        for point, job in zip(started, jobs, strict=True):
            self._jobs[point.index] = job
            point.status = "queued" if self.launcher.detached else "running"
            point.started = time.monotonic()
            point.error = None
            self.on_event("start", point)

    def _remember_trial(self, point: PointState) -> None:
        for raw in self.record.points:
            if int(raw["index"]) == point.index:
                raw["trial"] = point.trial
        self.record.save()

    def _tag(self, run: Run, point: PointState) -> None:
        """Create the point's run if needed and mark it as the sweep's."""
        if not run.exists():
            run.create(exist_ok=True)
        record = run.read_record()
        if record.get("sweep") == self.record.name and record.get("sweep_index") == point.index:
            return
        tags = [t for t in record.get("tags", []) if isinstance(t, str)] if isinstance(record.get("tags"), list) else []
        run.update_record(
            sweep=self.record.name,
            sweep_index=point.index,
            sweep_params={k.lstrip("+"): v for k, v in point.params.items()},
            tags=tags + ([self.record.name] if self.record.name not in tags else []),
        )

    def _needs_clear(self, run: Run, point: PointState) -> bool:
        """A point with logged steps but no checkpoint cannot resume: it starts over (and says so)."""
        from ..training.prepare import _has_logged_steps, has_checkpoints  # noqa: PLC0415

        if has_checkpoints(run) or not _has_logged_steps(run):
            return False
        point.note = "starts over (no checkpoint to resume from)"
        return True

    def _fail(self, point: PointState, message: str) -> None:
        point.status, point.error = "failed", message
        if self._search is not None:
            self._search.tell(point.trial, None, failed=True)
        self.on_event("end", point)

    def _end(self, job: Job) -> None:
        from ..training.prepare import finish_run  # noqa: PLC0415

        index = next(i for i, j in self._jobs.items() if j is job)
        del self._jobs[index]
        point = next(p for p in self.points if p.index == index)
        outcome = job.outcome
        if job.prepared is not None:
            if not self.launcher.records_outcomes:
                finish_run(job.prepared, outcome)
            job.prepared.release()
        point.status, point.error = outcome.status, outcome.error
        point.duration_s = outcome.duration_s or point.duration_s
        refresh(point, self.record.spec.metric)
        point.metric = final_metric(point.run, self.record.spec.metric)
        if outcome.status == "interrupted" and outcome.error == "interrupted":
            self._interrupted = True  # Ctrl-C reached the trainer (an in-process launcher)
        if self._search is not None and outcome.status != "interrupted":
            self._search.tell(point.trial, point.metric, failed=outcome.status != "completed")
        self.on_event("end", point)

    def _tick(self) -> None:
        for job in self._jobs.values():
            pid = job.data.get("worker_pid")
            if pid and not job.data.get("pid_recorded") and job.prepared is not None:
                job.data["pid_recorded"] = True
                job.prepared.run.update_record(worker_pid=pid)  # exp cancel RUN stops this point alone
        for point in self.points:
            if point.status in ("running", "queued"):
                refresh(point, self.record.spec.metric)
        if self.points:
            self.on_event("tick", self.points[0])

    def _stop_active(self) -> None:
        """After Ctrl-C: whatever is still active ends ``interrupted``; cluster jobs keep running."""
        if self.launcher.detached:
            for index in list(self._jobs):
                job = self._jobs.pop(index)
                if job.prepared is not None:
                    job.prepared.release()
            return
        jobs = list(self._jobs.values())
        if any(not j.done for j in jobs):
            try:
                self.launcher.cancel(jobs)
                self.launcher.poll(jobs, timeout=0)
            except KeyboardInterrupt:
                pass
        from ..training.launchers.base import Outcome  # noqa: PLC0415

        for job in jobs:
            if job.outcome is None:
                job.outcome = Outcome.interrupted()
            self._end(job)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._terminate = True

    def _result(self) -> SweepResult:
        statuses = [p.status for p in self.points]
        if self._stopping or "interrupted" in statuses:
            code, state = EXIT_INTERRUPTED, "interrupted"
        elif self.launcher.detached and not self.wait and any(s == "queued" for s in statuses):
            code, state = (EXIT_FAILURE, "failed") if any(s in ("failed", "busy") for s in statuses) else (
                EXIT_OK, "submitted")
        elif any(s != "completed" for s in statuses) or (self._search and len(self.points) < self.record.spec.size):
            code, state = EXIT_FAILURE, "failed"
        else:
            code, state = EXIT_OK, "completed"
        best = self._search.best() if self._search is not None else None
        self.record.save(state=state, best=best)
        submitted = [j.id for j in self._jobs.values()]
        return SweepResult(self.points, code, state, submitted, best)


def _set_handler(signum: int, handler: Any) -> Any:
    try:
        return signal.signal(signum, handler)
    except (ValueError, TypeError):  # not the main thread, or the old handler was set from C
        return None
