"""Writers that hit an I/O error (a full disk, a lost mount) wait and retry instead of being dropped.

When a writer's call raises an ``OSError``, the Logger keeps that call and every later one for the
writer here, in order and in memory (at most :data:`MAX_PENDING` calls and :data:`MAX_PENDING_BYTES`
of image data: beyond that the oldest are dropped and counted as lost). On every following call
the writer is asked to :meth:`~exptool.tracking.writers.base.Writer.recover` (reopen its file, cut
off a half-written record) and the kept calls are replayed; once that succeeds the writer is back
in the fan-out. One warning when a writer starts failing, one when it recovers, and a summary at
the end of how many calls were delayed (written late) or lost. Other exceptions are bugs, not
write failures: such a writer is still stopped for good.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timezone
from typing import Any

from ..runtime import log as _log

MAX_PENDING = 50_000  # calls kept per failing writer (a step's metrics, an image, a histogram, a text)
MAX_PENDING_BYTES = 64 << 20  # image bytes kept per failing writer
_KEEP = ("resume", "log_config")  # never dropped: replaying later calls without them would be wrong



def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def describe(exc: BaseException) -> str:
    """``No space left on device (logs/metrics.csv)``: an error in a few words."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{exc.__class__.__name__}: {exc}"


def _handles(writer: Any, method: str) -> bool:
    """False when ``writer`` keeps the contract's do-nothing ``method`` (a CSV writer and images)."""
    from .writers.base import Writer  # noqa: PLC0415

    mine = getattr(type(writer), method, None)
    return mine is not None and mine is not getattr(Writer, method, None)


class WriterHealth:
    """What went wrong with one writer during this logger's life (kept in ``run.json`` under ``health``)."""

    def __init__(self) -> None:
        self.errors = 0  # failed calls and failed retries
        self.delayed = 0  # calls written late, after a recovery
        self.lost = 0  # calls dropped (bound reached, or still failing at the end)
        self.stopped: str | None = None  # why the writer was stopped for good (not an I/O error)
        self.failing_since: str | None = None
        self.last_error: str | None = None
        self.outages = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "errors": self.errors, "delayed": self.delayed, "lost": self.lost, "outages": self.outages,
            "failing_since": self.failing_since, "last_error": self.last_error, "stopped": self.stopped,
        }


class FailingWriter:
    """A writer whose last call failed with an ``OSError``: its calls wait here until a retry works."""

    def __init__(self, name: str, writer: Any, health: WriterHealth, exc: BaseException):
        self.name = name
        self.writer = writer
        self.health = health
        self.pending: deque[tuple[str, tuple, int]] = deque()
        self.bytes = 0
        self.started = time.monotonic()
        self.delayed_at_start, self.lost_at_start = health.delayed, health.lost
        health.outages += 1
        health.errors += 1
        health.failing_since = _now()
        health.last_error = describe(exc)

    def add(self, method: str, args: tuple, size: int = 0) -> None:
        """Keep a call for later; drop the oldest droppable ones beyond the bounds (counted as lost)."""
        if method == "flush" or not _handles(self.writer, method):
            return
        self.pending.append((method, args, size))
        self.bytes += size
        while len(self.pending) > MAX_PENDING or self.bytes > MAX_PENDING_BYTES:
            if not self._drop_oldest():
                break

    def _drop_oldest(self) -> bool:
        for i, (method, _, size) in enumerate(self.pending):
            if method not in _KEEP:
                del self.pending[i]
                self.bytes -= size
                self.health.lost += 1
                return True
        return False

    def retry(self) -> bool:
        """Recover the writer and replay the kept calls in order; True when all of them went through.

        Raises:
            Exception: anything but an ``OSError`` (a bug in the writer): the caller stops it.
        """
        try:
            recover = getattr(self.writer, "recover", None)
            if recover is not None:
                recover()
            while self.pending:
                method, args, size = self.pending[0]
                getattr(self.writer, method)(*args)
                self.pending.popleft()
                self.bytes -= size
                if method not in _KEEP:
                    self.health.delayed += 1
        except OSError as exc:
            self.health.errors += 1
            self.health.last_error = describe(exc)
            return False
        self.health.failing_since = None
        return True

    def give_up(self) -> int:
        """Count what is still kept as lost (the logger is finishing); returns how many."""
        lost = sum(1 for method, _, _ in self.pending if method not in _KEEP)
        self.health.lost += lost
        self.pending.clear()
        self.bytes = 0
        return lost


def warn_failing(name: str, exc: BaseException) -> str:
    message = (
        f"{name} writer cannot write ({describe(exc)}); keeping what is logged in memory "
        f"(up to {MAX_PENDING} calls) and retrying on every call."
    )
    _log.warning("%s", message)
    return message


def summary(health: dict[str, WriterHealth]) -> str | None:
    """The end-of-run line: ``write errors: csv 10 calls delayed, 0 lost; ...`` (None when all went well)."""
    parts = []
    for name, h in health.items():
        if h.stopped:
            parts.append(f"{name} stopped ({h.stopped})")
        elif h.errors:
            parts.append(f"{name} {h.delayed} delayed, {h.lost} lost")
    if not parts:
        return None
    return "write errors during this run (calls = a step's metrics, an image, ...): " + "; ".join(parts) + "."


def status(health: dict[str, WriterHealth], failing: dict[str, FailingWriter]) -> str:
    """``ok``, ``failing`` (a writer is failing now), ``degraded`` (something lost or stopped) or ``recovered``."""
    if failing:
        return "failing"
    if any(h.lost or h.stopped for h in health.values()):
        return "degraded"
    if any(h.errors for h in health.values()):
        return "recovered"
    return "ok"


class Recovery:
    """The Logger's bookkeeping of failing writers: which ones, what they wait to write, their health.

    Every method is called with the Logger's lock held.
    """

    def __init__(self, logger: Any):
        self._logger = logger
        self.failing: dict[str, FailingWriter] = {}
        self.health: dict[str, WriterHealth] = {}

    def writer_failed(self, name: str, writer: Any, what: str, exc: BaseException, args: tuple, size: int) -> bool:
        """Record a failed call. True: the writer is kept and retried later; False: stop it for good."""
        health = self.health.setdefault(name, WriterHealth())
        if not isinstance(exc, OSError):
            health.stopped = describe(exc)
            return False
        failing = FailingWriter(name, writer, health, exc)
        failing.add(what, args, size)
        self.failing[name] = failing
        self._note(warn_failing(name, exc))
        self.record()
        return True

    def file_lost(self, name: str, exc: OSError) -> None:
        """Count a file the Logger writes itself (a PNG in ``visualizations/``) that could not be written."""
        health = self.health.setdefault(name, WriterHealth())
        if not health.errors:
            _log.warning("cannot write a %s file (%s); it is skipped, training goes on.", name, describe(exc))
        health.errors += 1
        health.lost += 1
        health.last_error = describe(exc)
        self.record()

    def queue(self, what: str, args: tuple, size: int = 0) -> None:
        """Keep this call for every failing writer."""
        for failing in self.failing.values():
            failing.add(what, args, size)

    def retry(self) -> list[tuple[str, BaseException]]:
        """Retry every failing writer; returns the ones that broke while recovering (to stop for good)."""
        broken: list[tuple[str, BaseException]] = []
        changed = False
        for name, failing in list(self.failing.items()):
            try:
                ok = failing.retry()
            except Exception as exc:  # noqa: BLE001 - a bug in the writer's recovery: stop it
                del self.failing[name]
                failing.give_up()
                failing.health.stopped = describe(exc)
                broken.append((name, exc))
                changed = True
                continue
            if ok:
                del self.failing[name]
                self._note(warn_recovered(failing))
                changed = True
        if changed:
            self.record()
        return broken

    def finish(self) -> set[str]:
        """One last retry; what still cannot be written is lost. Returns the writers closed here."""
        if self.failing:
            self.retry()
        closed = set(self.failing)
        for failing in self.failing.values():
            failing.give_up()
            try:
                failing.writer.close()
            except Exception:  # noqa: BLE001 - it is failing already
                pass
        self.failing.clear()
        return closed

    def report(self) -> None:
        """Warn with the end-of-run summary and store the health in ``run.json`` (only when something failed)."""
        line = summary(self.all_health())
        if line is None:
            return
        _log.warning("%s", line)
        self._note(line)
        self.record()

    def all_health(self) -> dict[str, WriterHealth]:
        text = getattr(self._logger._text, "health", None)
        return {**self.health, **({"log.txt": text} if text is not None else {})}

    def to_json(self) -> dict[str, Any]:
        health = self.all_health()
        return {
            "status": status(health, self.failing),
            "writers": {name: h.to_json() for name, h in health.items()},
            "updated": _now(),
        }

    def record(self) -> None:
        """Store the health in ``run.json`` (rank 0; best effort: the disk may be the problem)."""
        logger = self._logger
        if logger.run is None or not logger.is_main:
            return
        try:
            logger.run.update_record(health=self.to_json())
        except Exception:  # noqa: BLE001 - e.g. the same full disk; the next change tries again
            pass

    def _note(self, message: str) -> None:
        text = self._logger._text
        if text is not None:
            text.write(message, "warning")


def warn_recovered(failing: FailingWriter) -> str:
    delayed = failing.health.delayed - failing.delayed_at_start
    lost = failing.health.lost - failing.lost_at_start
    seconds = time.monotonic() - failing.started
    message = f"{failing.name} writer recovered after {seconds:.0f} s: {delayed} delayed calls written"
    message += f", {lost} lost (beyond the in-memory limit)." if lost else ", nothing lost."
    _log.warning("%s", message)
    return message
