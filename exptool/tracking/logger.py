"""The Logger: one object a training loop talks to, fanning out to CSV, TensorBoard, W&B and more.

Only rank 0 of a multi-process job writes (other ranks' calls do nothing) unless a writer sets
``all_ranks``. Metric values are converted once per ``log`` call (tensors in one batch per device)
and handed to every writer. A writer whose call fails with an I/O error (a full disk) keeps its
calls in memory and is retried on every later call (:mod:`._recovery`); one that fails otherwise
(a bug) is reported once and dropped; the others go on either way.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..runtime import current_rank, warn
from . import _history, _recovery, _shutdown, current
from ._values import check_name, to_floats, to_step
from .logger_content import LoggerContentMixin
from .logger_writers import LoggerWritersMixin
from .template_api import TemplateLoggerMixin
from .textlog import TextLog
from .writers.base import Writer


def _run_at(exp_name: str | None, run_name: str | None, exp_path: str | os.PathLike) -> Any:
    """The template's ``Logger(exp_name, run_name, exp_path)``: ``exp_path`` holds the experiments
    (or, without names, is the run folder itself)."""
    from ..workspace import Run  # noqa: PLC0415

    base = Path(exp_path)
    return Run.from_path(base / exp_name / run_name if exp_name and run_name else base)


def _experiments_here() -> Path | None:
    """``./experiments`` when no workspace is found from here (the template's default), else None."""
    from ..errors import NotAWorkspaceError  # noqa: PLC0415
    from ..workspace import find_workspace_root  # noqa: PLC0415

    try:
        find_workspace_root()
    except NotAWorkspaceError:
        warn("no exptool workspace here: logging to ./experiments, as the template did "
             "(run `exp init` here to make this folder one).")
        return Path("experiments").absolute()
    return None


class Logger(LoggerWritersMixin, LoggerContentMixin, TemplateLoggerMixin):
    """Log metrics, images, histograms, configs and text for one run.

    A run that does not exist yet is created. Used on its own (a script, not ``exp train``), the
    logger also keeps the run's record: ``running`` while it lives, then ``completed``, ``failed``
    or ``interrupted`` (see :mod:`exptool.tracking.run_status`), and ``log_config`` saves the
    run's ``config.json``.

    Args:
        exp_name: experiment name (default: the current experiment, as ``exp`` resolves it).
        run_name: run name (default: the current run).
        exp_path: the template's argument: the folder holding the experiments (default: the
            workspace's ``experiments/``), or, without names, the run folder itself.
        run: an :class:`exptool.workspace.Run` (or a run folder path) instead of names.
        rank: process rank (default: detected; only rank 0 writes).
        resume_step: training restarts after this step: rows and points logged before for later
            steps are dropped, so no step appears twice.
        history: without ``resume_step``, what to do with steps already logged in the run:
            ``"continue"`` (default: carry on after them; a first step at or before the last one
            replaces what was logged from there on) or ``"restart"`` (drop them all). Either way
            no step appears twice.
        root: workspace root (default: found like the ``exp`` command finds it).
        echo: print ``log_info`` messages to the console as well.
        make_current: make this the logger :func:`get_logger` returns.
        system_metrics: sample CPU, memory and GPUs in the background (True: every 10 s; a
            number: every that many seconds); see :meth:`log_system_metrics`.
        manage_run: keep the run's status in ``run.json`` (default: yes, unless ``exp train`` or
            another process owns the run).

    Example::

        with Logger("mnist", "baseline") as logger:
            logger.initialize("csv", "tensorboard")
            logger.log({"loss": loss, "acc": acc}, step)
    """

    def __init__(
        self,
        exp_name: str | None = None,
        run_name: str | None = None,
        exp_path: str | os.PathLike | None = None,
        *,
        run: Any = None,
        rank: int | None = None,
        resume_step: int | None = None,
        root: str | os.PathLike | None = None,
        echo: bool = True,
        make_current: bool = True,
        history: str = "continue",
        system_metrics: bool | float = False,
        manage_run: bool | None = None,
    ):
        self._history = _history.check(history)
        if run is None:
            if exp_path is None and exp_name and run_name and root is None and not os.environ.get("EXPTOOL_ROOT"):
                exp_path = _experiments_here()  # the template's Logger used ./experiments outside a workspace
            if exp_path is not None:
                run = _run_at(exp_name, run_name, exp_path)
            else:
                from ..state import find_run  # noqa: PLC0415

                run = find_run(exp_name, run_name, root)
        elif isinstance(run, (str, os.PathLike)):
            from ..workspace import Run  # noqa: PLC0415

            run = Run.from_path(run)
        self.rank = current_rank() if rank is None else int(rank)
        if self.rank == 0 and not run.exists():
            run.create(exist_ok=True)  # the template's Logger made the run's folders too
        self.run = run
        self._status = None
        if self.rank == 0 and manage_run is not False:
            from .run_status import RunStatus  # noqa: PLC0415

            self._status = RunStatus.claim(run)
        self.echo = echo
        self._resume_step = None if resume_step is None else to_step(resume_step)
        self._step: int | None = self._resume_step
        self._check_history = self._resume_step is None and history == "continue"
        self._writers: dict[str, Writer] = {}
        self._fanout: tuple[Writer, ...] = ()
        self._checked: dict[tuple[str, ...], tuple[str, ...]] = {}  # validated key tuples, one object each
        self._lock = threading.RLock()
        self._finished = False
        self._warned_finished = False
        self._text = TextLog(self.run.logs_dir / "log.txt") if self.is_main else None
        self._recovery = _recovery.Recovery(self)
        self._system: Any = None
        self._summary: Any = None  # the run's SummaryTracker (rank 0, once a writer runs)
        self._pending: list | None = None  # logged entries the tracker has not aggregated yet
        _shutdown.track(self)
        if make_current:
            current.set_logger(self)
        if system_metrics is not False and system_metrics is not None:
            self.log_system_metrics(10.0 if system_metrics is True else system_metrics)

    @classmethod
    def for_run(cls, path: str | os.PathLike, **kwargs: Any) -> Logger:
        """A logger for the run whose folder is ``path`` (``.../experiments/<exp>/<run>``)."""
        return cls(run=path, **kwargs)

    @classmethod
    def _placeholder(cls) -> Logger:
        """A logger with no run: every call does nothing (``log_info`` still prints)."""
        self = cls.__new__(cls)
        self.run = None
        self.rank = 0
        self.echo = True
        self._resume_step = self._step = None
        self._history, self._check_history = "continue", False
        self._writers, self._fanout, self._checked = {}, (), {}
        self._lock = threading.RLock()
        self._finished = self._warned_finished = False
        self._text = None
        self._recovery = _recovery.Recovery(self)
        self._system = None
        self._status = None
        self._summary = self._pending = None
        return self

    # -- properties -------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """True on rank 0, the process whose files are written."""
        return self.rank == 0

    @property
    def step(self) -> int | None:
        """The last step logged (or resumed from); None before the first."""
        return self._step

    @property
    def writers(self) -> dict[str, Writer]:
        """The active writers by name."""
        return dict(self._writers)

    @property
    def finished(self) -> bool:
        return self._finished

    def health(self) -> dict[str, Any]:
        """Write errors so far: ``{"status": ok|failing|recovered|degraded, "writers": {name: counts}}``.

        ``status``: ``failing`` while a writer cannot write, ``recovered`` when every delayed call
        was written after all, ``degraded`` when some were lost or a writer was stopped. The same
        object is kept in ``run.json`` under ``health`` whenever something went wrong.
        """
        with self._lock:
            return self._recovery.to_json()

    def __repr__(self) -> str:
        where = self.run.id if self.run is not None else "no run"
        return f"<Logger {where} rank={self.rank} writers={list(self._writers)}>"

    def _usable(self) -> bool:
        if self._finished:
            if not self._warned_finished:
                self._warned_finished = True
                warn("this logger is finished; further logging is ignored.")
            return False
        return True

    def _step_or_last(self, step: Any) -> int:
        """``step`` validated, or the last step logged (0 before any) for images, histograms, text."""
        if step is not None:
            return to_step(step)
        return 0 if self._step is None else self._step

    # -- logging ------------------------------------------------------------------------------
    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log scalar metrics for ``step`` (default: the step after the last one logged).

        Values may be Python numbers, numpy scalars or one-element tensors (any device; all tensors
        of one call are copied to the host together).

        Raises:
            UsageError: a value that is not a number, a bad metric name or a bad step.
        """
        if not self._fanout and not self._recovery.failing:  # nothing to write here: keep counting steps
            self._step = to_step(step) if step is not None else (0 if self._step is None else self._step + 1)
            return
        if not self._usable():
            return
        values = to_floats(metrics)
        if not values:
            return
        keys = tuple(values)
        known = self._checked.get(keys)
        if known is None:
            for name in keys:
                check_name(name)
            self._checked[keys] = known = keys
        keys = known  # the one long-lived tuple: the summary's pending list then keeps nothing alive
        with self._lock:
            if self._check_history:
                self._check_history = False
                _history.first_step(self, None if step is None else to_step(step))
            if step is None:
                step = 0 if self._step is None else self._step + 1
            elif type(step) is not int or step < 0:
                step = to_step(step)
            self._step = step
            wall_time = time.time()
            if self._recovery.failing:
                self._retry_failing()
                self._recovery.queue("log_metrics", (step, values, wall_time))
            for writer in self._fanout:
                try:
                    writer.log_metrics(step, values, wall_time)
                except Exception as exc:  # noqa: BLE001
                    self._writer_failed(writer, "log_metrics", exc, (step, values, wall_time))
            pending = self._pending
            if pending is not None:  # the run summary: an append here, arithmetic in batches
                pending += (keys, step, values)
                if wall_time >= self._summary.due:
                    self._summary.tick(pending, wall_time)

    # -- lifecycle ----------------------------------------------------------------------------
    def resume(self, step: int) -> None:
        """Continue after ``step``: forget rows/points logged earlier for later steps."""
        step = to_step(step)
        with self._lock:
            self._resume_step = self._step = step
            self._each("resume", step)
            if self._summary is not None:
                self._summary.resume(self._pending)
        if self._text is not None:
            self._text.write(f"resumed after step {step}", "info")

    def _drop_after(self, step: int) -> None:
        """Like :meth:`resume`, but ``-1`` is allowed: forget everything."""
        with self._lock:
            self._resume_step = self._step = step if step >= 0 else None
            self._each("resume", step)
            if self._summary is not None:
                self._summary.resume(self._pending)
        if self._text is not None:
            self._text.write(f"dropped what was logged after step {step}" if step >= 0 else "dropped earlier logs",
                             "info")

    def flush(self) -> None:
        """Hand everything buffered by every writer to the operating system."""
        with self._lock:
            self._each("flush")

    def finish(self, reason: str | None = None, *, error: BaseException | None = None) -> None:
        """Flush and close every writer. Safe to call twice; runs by itself at exit and on SIGTERM.

        A logger that keeps its run's record marks it ``completed`` (``failed`` when ``error``, or
        an uncaught exception at exit, ended the script; ``interrupted`` after Ctrl-C or SIGTERM).
        """
        system, self._system = self._system, None
        if system is not None and not self._finished:
            system.stop()  # its last sample still reaches the writers
        with self._lock:
            if self._finished:
                return
            self._finished = True
            closed = self._recovery.finish()  # a last retry; what still cannot be written is lost
            writers = [(n, w) for n, w in self._writers.items() if n not in closed]
        for name, writer in writers:
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - close the others anyway
                warn(f"closing the {name} writer failed: {exc}")
        if self._summary is not None:
            self._summary.release(self._pending)
            self._summary = self._pending = None
        if self._text is not None:
            if writers or self._text.used:
                self._text.write("logger finished" + (f" ({reason})" if reason else ""), "info")
            self._text.close()
        self._recovery.report()
        _shutdown.untrack(self)
        current.forget(self)
        if self._status is not None:
            from .run_status import status_at_exit  # noqa: PLC0415

            self._status.end(*status_at_exit(reason, error))

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is not None and self._text is not None and not self._finished:
            self._text.write(f"stopped by {exc_type.__name__}: {exc}", "error")
        self.finish(error=exc)
