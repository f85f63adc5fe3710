"""The Logger: one object a training loop talks to, fanning out to CSV, TensorBoard, W&B and more.

Only rank 0 of a multi-process job writes (other ranks' calls do nothing) unless a writer sets
``all_ranks``. Metric values are converted once per ``log`` call (tensors in one batch per device)
and handed to every writer. A writer whose call fails with an I/O error (a full disk) keeps its
calls in memory and is retried on every later call (:mod:`._recovery`); one that fails otherwise
(a bug) is reported once and dropped; the others go on either way.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..config import as_config_dict
from ..errors import ExptoolError, UsageError, WorkFailedError
from ..runtime import current_rank, warn
from . import _history, _recovery, _shutdown, current
from ._values import check_name, to_floats, to_step
from .registry import canonical_name, get_factory
from .template_api import TemplateLoggerMixin
from .textlog import TextLog, check_level
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


class Logger(TemplateLoggerMixin):
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

    # -- writers ----------------------------------------------------------------------------
    def add_writer(self, writer: str | Writer, **options: Any) -> Writer | None:
        """Start a writer by registered name (with ``options`` for its factory) or add an instance.

        Returns the writer, or None on ranks where it does not run. Adding a name twice returns
        the existing writer.
        """
        if self.run is None:
            return None
        if isinstance(writer, str):
            name = canonical_name(writer)
            if name in self._writers:
                return self._writers[name]
            factory = get_factory(name)
            if not self.is_main and not getattr(factory, "all_ranks", False):
                return None
            try:
                instance = factory(run=self.run, resume_step=self._resume_step, **options)
            except ExptoolError:
                raise
            except OSError as exc:
                raise WorkFailedError(f"Cannot start the {name} writer: {exc}") from exc
        else:
            instance = writer
            if not self.is_main and not getattr(instance, "all_ranks", False):
                return None
            name = getattr(instance, "name", type(instance).__name__.lower())
            base, n = name, 2
            while name in self._writers:
                name, n = f"{base}{n}", n + 1
        if self._history == "restart" and self._resume_step is None:
            instance.resume(-1)  # drop everything logged before (-1: before the first step)
        with self._lock:
            self._writers[name] = instance
            self._refresh_fanout()
            self._track_summary()
        if self._text is not None:
            text = self._text
            if callable(getattr(instance, "report_start", None)):  # starts in the background (W&B)
                instance.report_start(lambda message, level="info": text.write(message, level))
            else:
                text.write(f"{name} writer started for run {self.run.id}", "info")
        return instance

    def _track_summary(self) -> None:
        """Keep ``<run>/summary.json`` (see :mod:`exptool.runs.summary`) once rank 0 has a writer."""
        if not self.is_main:
            return
        if self._summary is None:
            from ..runs.tracker import track  # noqa: PLC0415

            self._summary, self._pending = track(self.run.path), []
        self._summary.sync()

    def initialize(self, *names: str | Iterable[str], **options: Mapping[str, Any]) -> Logger:
        """Start several writers: ``initialize("csv", "tensorboard", wandb={"project": "p"})``.

        Writers named only in ``options`` are started too. Returns the logger, for chaining.
        """
        flat: list[str] = []
        for item in names:
            flat.extend([item] if isinstance(item, str) else list(item))
        flat += [n for n in options if n not in flat]
        for name in flat:
            self.add_writer(name, **dict(options.get(name) or {}))
        return self

    def initialize_csv(self, file_name: str | None = None, **options: Any) -> Writer | None:
        """Write metrics to ``logs/metrics.csv`` (or ``logs/<file_name>``, the template's argument)."""
        if file_name is not None and self.run is not None and "path" not in options:
            options["path"] = self.run.logs_dir / file_name
        return self.add_writer("csv", **options)

    def initialize_tensorboard(self, **options: Any) -> Writer | None:
        """Write TensorBoard event files to ``logs/``."""
        return self.add_writer("tensorboard", **options)

    def initialize_wandb(self, project: str | None = None, *, project_name: str | None = None,
                         **kwargs: Any) -> Writer | None:
        """Log to W&B (offline when there are no credentials); ``kwargs`` go to ``wandb.init``.

        ``project_name`` is the template's name for ``project``.
        """
        if project is not None and project_name is not None and project != project_name:
            raise UsageError(f"initialize_wandb: project {project!r} and project_name {project_name!r} differ.")
        return self.add_writer("wandb", project=project or project_name, **kwargs)

    def _refresh_fanout(self) -> None:
        failing = self._recovery.failing
        self._fanout = tuple(w for n, w in self._writers.items() if n not in failing)

    def _writer_failed(self, writer: Writer, what: str, exc: BaseException, args: tuple = (), size: int = 0) -> None:
        names = [n for n, w in self._writers.items() if w is writer]
        label = names[0] if names else getattr(writer, "name", "writer")
        if names and self._recovery.writer_failed(label, writer, what, exc, args, size):
            self._refresh_fanout()  # kept: retried on the next call
            return
        for n in names:
            del self._writers[n]
        self._refresh_fanout()
        message = f"{label} writer stopped: {what} failed ({exc.__class__.__name__}: {exc}); other writers continue."
        warn(message)
        if self._text is not None:
            self._text.write(message, "error")
        self._recovery.record()
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - it already failed; closing is best effort
            pass

    def _retry_failing(self) -> None:
        """Give failing writers another go (they rejoin the fan-out once their backlog is written)."""
        for name, exc in self._recovery.retry():
            self._writer_failed(self._writers[name], "recover", exc)
        self._refresh_fanout()

    def _each(self, what: str, *args: Any, size: int = 0) -> None:
        if self._recovery.failing:
            self._retry_failing()
            self._recovery.queue(what, args, size)
        for writer in self._fanout:
            try:
                getattr(writer, what)(*args)
            except Exception as exc:  # noqa: BLE001 - one writer must not stop training or the others
                self._writer_failed(writer, what, exc, args, size)

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

    def log_image(self, name: str, image: Any, step: int | None = None) -> Path | None:
        """Save ``image`` as ``visualizations/<name>_step<step>.png`` and send it to the writers.

        ``image``: numpy array, tensor or PIL image; HW, HWC, CHW or a batch (BHWC/BCHW, tiled
        into a grid); pixel values as :mod:`exptool.images` reads them (floats on a 0..1 scale,
        integers on 0..255, widened when values fall outside). ``step`` defaults to the last step logged.
        Returns the PNG's path (None on ranks that do not write).
        """
        from ..images import image_filename, prepare_image, save_png  # noqa: PLC0415

        if self.run is None or not self._usable() or not (self.is_main or self._fanout or self._recovery.failing):
            return None
        step = self._step_or_last(step)
        data = prepare_image(image, name)
        tag = name[:-4] if name.lower().endswith(".png") else name
        path = None
        if self.is_main:
            path = self.run.visualizations_dir / image_filename(name, step)
            try:
                save_png(data, path, fsync=False)
            except OSError as exc:  # a full disk must not stop training: the writers still get it
                with self._lock:
                    self._recovery.file_lost("png", exc)
                path = None
        with self._lock:
            self._each("log_image", tag, data, step, size=len(data.png))
        return path

    def log_histogram(self, name: str, values: Any, step: int | None = None, bins: int = 64) -> None:
        """Log the distribution of ``values`` (array or tensor; non-finite values are left out)."""
        if not (self._fanout or self._recovery.failing) or not self._usable():
            return
        import numpy as np  # noqa: PLC0415

        if type(bins) is not int or bins < 1:
            raise UsageError(f"Histogram {name!r}: bins must be a positive integer, not {bins!r}.")
        if hasattr(values, "detach"):
            values = values.detach().cpu().double().numpy()
        try:
            arr = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise UsageError(f"Histogram {name!r} needs numbers (an array or tensor).") from None
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            raise UsageError(f"Histogram {name!r} has no finite values.")
        counts, edges = np.histogram(arr, bins=bins)
        step = self._step_or_last(step)
        with self._lock:
            self._each("log_histogram", name, arr, step, counts, edges, size=arr.nbytes)

    def log_config(self, config: Any) -> None:
        """Record the run's configuration: the text log, TensorBoard text/hparams and W&B config."""
        if self.run is None or not self._usable():
            return

        data = as_config_dict(config)
        if self._status is not None:
            self._status.record_config(data)
        if self._text is not None:
            self._text.write("config: " + json.dumps(data, default=str, sort_keys=False), "info")
        with self._lock:
            self._each("log_config", data)

    def log_text(self, tag: str, text: str, step: int | None = None) -> None:
        """Send a piece of text to the writers that show text (TensorBoard, W&B summary)."""
        if not (self._fanout or self._recovery.failing) or not self._usable():
            return
        step = self._step_or_last(step)
        with self._lock:
            self._each("log_text", tag, text, step, size=len(text))

    def log_architecture(self, model: Any) -> str:
        """Write ``logs/architecture.txt`` (parameter counts and module tree) and return its text."""
        from .architecture import describe  # noqa: PLC0415

        text = describe(model)
        if self.run is None or not self._usable() or not self.is_main:
            return text
        self.run.logs_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.logs_dir / "architecture.txt", text)
        self._text.write(text.split("\n", 2)[1] + " (see logs/architecture.txt)", "info")
        self.log_text("architecture", "\n".join("    " + line for line in text.splitlines()), 0)
        return text

    def log_git_hash(self) -> str | None:
        """Record the workspace's git commit (``<hash>`` plus ``-dirty`` with uncommitted changes).

        Returns it, or None when the workspace is not in a git repository.
        """
        root = self.run.workspace.root if self.run is not None else Path.cwd()
        from ..provenance import git_hash as find_git_hash  # noqa: PLC0415

        git_hash = find_git_hash(root)
        if self.run is None or not self._usable():
            return git_hash
        if git_hash is None:
            self.log_info(f"{root} is not in a git repository (or git is missing); no commit recorded.", "warning")
            return None
        if self._text is not None:
            self._text.write(f"git commit: {git_hash}", "info")
        self.log_text("git_hash", git_hash, 0)
        return git_hash

    def log_info(self, message: Any, level: str = "info", *, message_type: str | None = None) -> None:
        """Append a timestamped line to ``logs/log.txt`` (and print it unless ``echo`` is off).

        ``level``: debug, info, warning, error or critical (``message_type`` is the template's
        name for it). Debug lines are not printed.
        """
        level = check_level(message_type if message_type is not None else level)
        if not self.is_main:
            return
        if self._text is not None and not self._finished:
            self._text.write(str(message), level)
        if self.echo and level != "debug":
            if level == "info":
                print(message, flush=True)
            else:
                print(f"{level}: {message}", file=sys.stderr, flush=True)

    def log_system_metrics(self, interval: float = 10.0, gpus: bool = True) -> Any:
        """Sample system metrics every ``interval`` seconds until the logger finishes.

        CPU %, memory, the process tree's resident memory and, with NVIDIA GPUs, their
        utilisation, memory, power and temperature (names in :mod:`exptool.tracking.system`) go to
        ``logs/system.csv`` (one row per sample, by wall time) and to the writers under ``system/``
        (TensorBoard, W&B), at the training step current when sampled. A background thread does
        the work; it never touches CUDA. Only rank 0 samples; calling this twice keeps the first.

        Returns:
            The running sampler (``.stop()``, ``.samples``), or None where nothing is sampled.

        Raises:
            UsageError: ``interval`` is not a number of seconds of at least 0.05.
        """
        from .system import LoggerSystemMetrics, check_interval  # noqa: PLC0415

        try:
            interval = check_interval(interval)
        except ValueError as exc:
            raise UsageError(f"System metrics interval: {exc}.") from None
        if self.run is None or not self.is_main or self._finished:
            return None
        with self._lock:
            if self._system is None:
                self._system = LoggerSystemMetrics(self, interval, gpus)
        if self._text is not None:
            self._text.write(f"system metrics every {interval:g} s", "info")
        return self._system

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
