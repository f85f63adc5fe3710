"""The launcher contract: how a prepared run gets started, watched, stopped and reported.

``exp train`` prepares a run (:func:`exptool.training.prepare.prepare_run`: lock, resume decision,
config and ``run.json`` written), hands it to a launcher, waits for the :class:`Outcome` and records
it. A launcher decides only *where and how* the trainer executes: in this process
(:mod:`.inprocess`), under torchrun (:mod:`.torchrun`), and next in a pool of local workers or a
SLURM job. To add one, subclass :class:`Launcher`, implement :meth:`~Launcher.submit`,
:meth:`~Launcher.wait` and :meth:`~Launcher.cancel`, and register the class under the entry point
group ``exptool.launchers`` (see :mod:`exptool.training.launchers`).

Contract:

- :meth:`Launcher.submit` takes prepared runs and returns one :class:`Job` per run, in order. It may
  start them at once (torchrun, SLURM) or lazily in :meth:`~Launcher.wait` (in-process).
- :meth:`Launcher.wait` blocks until every given job has ended and returns their outcomes in order,
  calling ``on_outcome(job)`` as each one ends (so one failure is reported at once, not at the end).
  A trainer's failure is an outcome, never an exception; Ctrl-C may raise KeyboardInterrupt after
  the launcher stopped what it started.
- :meth:`Launcher.cancel` asks the given jobs to stop (SIGTERM-like: the trainer may checkpoint).
  Jobs that never started end ``interrupted`` with the error ``cancelled``.
- :meth:`Launcher.poll` waits at most ``timeout`` seconds and returns the jobs that ended meanwhile:
  what a sweep uses to keep :attr:`Launcher.capacity` jobs going and show progress. The default
  runs the first unfinished job to its end (right for launchers that run one job at a time).
- The caller records each outcome in ``run.json`` with :func:`~exptool.training.prepare.finish_run`,
  unless :attr:`Launcher.records_outcomes` is True (jobs that record their own, e.g. on a cluster).
- :meth:`Launcher.warm_up` may be called before runs are prepared, to start what takes long to
  start (a pool's workers import torch meanwhile); :meth:`Launcher.close` lets go of it once no
  more jobs come. Both default to doing nothing.
- :attr:`Launcher.detached` launchers hand jobs to something that outlives this process (a cluster):
  the caller prepares runs with :func:`~exptool.training.prepare.prepare_submission` (recorded
  ``queued``, no lock held here) and may leave before they end.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from ..prepare import PreparedRun

STATUS_CODES = {"completed": EXIT_OK, "interrupted": EXIT_INTERRUPTED, "failed": EXIT_FAILURE}


@dataclass
class Outcome:
    """How a training attempt ended.

    Attributes:
        status: ``completed``, ``failed`` or ``interrupted``.
        exit_code: 0, 1 (or the trainer's own code), 2 for bad settings, 130 interrupted.
        error: one line saying what went wrong, or None.
        duration_s: wall time of the attempt.
        resumed: True when it continued from a checkpoint.
        start_step: the step it resumed from (0 on a fresh start).
        seed: the seed it ran with.
        world_size: number of processes.
        in_trainer: False when exptool could not prepare the trainer (bad writer, device, ...).
        unread_config: dotted config keys the trainer never read (a completed attempt only; exptool's
            own sections left out), or None when not known.
    """

    status: str
    exit_code: int
    error: str | None = None
    duration_s: float = 0.0
    resumed: bool = False
    start_step: int = 0
    seed: int | None = None
    world_size: int = 1
    in_trainer: bool = True
    unread_config: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON across a process boundary)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def interrupted(cls, error: str = "interrupted") -> Outcome:
        """An attempt stopped by Ctrl-C or SIGTERM."""
        return cls("interrupted", EXIT_INTERRUPTED, error)


@dataclass
class Job:
    """One submitted run: the launcher's handle on it.

    Attributes:
        prepared: the run as prepared for this attempt.
        id: the launcher's id for it (a process id, a SLURM job id, ...), or "" before it started.
        outcome: how it ended, once it has.
        data: launcher-private state (process handles, futures, ...).
    """

    prepared: PreparedRun
    id: str = ""
    outcome: Outcome | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """True once the job has an outcome."""
        return self.outcome is not None


OnOutcome = Callable[[Job], None]


class Launcher(abc.ABC):
    """Starts prepared runs somewhere and reports how they ended (see the module docstring)."""

    #: the name users pass as ``--launcher NAME``
    name: ClassVar[str] = ""
    #: True when jobs write their own outcome to ``run.json`` (the caller must not)
    records_outcomes: ClassVar[bool] = False
    #: True when jobs run outside this process tree and outlive it (a cluster's scheduler)
    detached: ClassVar[bool] = False

    @property
    def capacity(self) -> int | None:
        """How many jobs run at once (None: as many as are submitted, the launcher throttles)."""
        return 1

    @property
    def world_size(self) -> int:
        """Processes that take part in one run (what the prepared run records)."""
        return 1

    @property
    def writes_records(self) -> bool:
        """True when this process is the one that owns the run's files (not a follower node)."""
        return True

    @abc.abstractmethod
    def submit(self, runs: Sequence[PreparedRun]) -> list[Job]:
        """Hand the prepared runs over; one :class:`Job` per run, in order."""

    @abc.abstractmethod
    def wait(self, jobs: Sequence[Job], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        """Block until every job has ended; their outcomes in order."""

    @abc.abstractmethod
    def cancel(self, jobs: Sequence[Job]) -> None:
        """Ask the jobs to stop; the ones not started yet never start."""

    def warm_up(self, count: int) -> None:  # noqa: B027 - optional, on purpose
        """Get ready for about ``count`` jobs while the caller prepares them (default: nothing)."""

    def close(self) -> None:  # noqa: B027 - optional, on purpose
        """Let go of what the launcher started (a pool's workers) once no more jobs come (default: nothing)."""

    def poll(self, jobs: Sequence[Job], timeout: float | None = None) -> list[Job]:
        """Wait up to ``timeout`` seconds (None: until one ends); the given jobs that have ended by then.

        The default runs the first unfinished job to its end, whatever the timeout.
        """
        ended = [job for job in jobs if job.done]
        if ended:
            return ended
        pending = [job for job in jobs if not job.done]
        if pending:
            self.wait(pending[:1])
        return [job for job in jobs if job.done]

    def launch(self, prepared: PreparedRun) -> Outcome:
        """Submit one run and wait for it."""
        return self.wait(self.submit([prepared]))[0]
