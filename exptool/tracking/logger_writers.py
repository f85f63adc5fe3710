"""The Logger's writers: starting them by name, and handing each call to all of them.

A writer whose call fails with an I/O error keeps its calls in memory and is retried on every
later call (:mod:`._recovery`); one that fails otherwise is reported once and dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ExptoolError, UsageError, WorkFailedError
from ..runtime import warn
from .registry import canonical_name, get_factory
from .writers.base import Writer

if TYPE_CHECKING:
    from .logger import Logger


class LoggerWritersMixin:
    """The Logger's ``add_writer`` and ``initialize*`` and its fan-out to the writers, mixed into
    :class:`~exptool.tracking.Logger`."""

    run: Any

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
