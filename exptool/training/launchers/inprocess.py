"""The default launcher: run each prepared trainer here, in this process, one after another."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Job, Launcher, OnOutcome, Outcome


class InProcessLauncher(Launcher):
    """Calls the trainer in this process with the prepared Run and config (no round trip through files).

    Jobs start lazily, in :meth:`wait`, in the order given; :meth:`cancel` keeps the ones that have
    not started from starting.
    """

    name = "inprocess"

    def submit(self, runs: Sequence) -> list[Job]:
        return [Job(prepared, id=f"inprocess-{i}") for i, prepared in enumerate(runs)]

    def wait(self, jobs: Sequence[Job], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        from ..worker import execute  # noqa: PLC0415

        for job in jobs:
            if job.done:
                continue
            p = job.prepared
            job.outcome = execute(p.run, p.spec, p.config, p.settings, p.trainer, seed=p.seed, resume=p.resume)
            if on_outcome is not None:
                on_outcome(job)
        return [job.outcome for job in jobs]  # type: ignore[misc]

    def cancel(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if not job.done:
                job.outcome = Outcome.interrupted("cancelled")
