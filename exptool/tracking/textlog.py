"""The run's human-readable log, ``logs/log.txt``: one timestamped line per message."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

from ..errors import UsageError

LEVELS = ("debug", "info", "warning", "error", "critical")


def check_level(level: str) -> str:
    """Normalise a level name ("warn" is accepted for "warning")."""
    name = str(level).lower()
    name = "warning" if name == "warn" else name
    if name not in LEVELS:
        raise UsageError(f"Unknown log level {level!r}; use one of: {', '.join(LEVELS)}.")
    return name


def format_line(message: str, level: str, when: datetime | None = None) -> str:
    """``2026-11-25T11:49:46.123+00:00 INFO message`` (continuation lines indented)."""
    stamp = (when or datetime.now().astimezone()).isoformat(timespec="milliseconds")
    text = str(message).replace("\r\n", "\n").rstrip("\n").replace("\n", "\n    ")
    return f"{stamp} {level.upper():<8} {text}\n"


class TextLog:
    """Append-only text log; each line is handed to the operating system at once, so a crash loses nothing.

    The file is opened without following a link (a ``log.txt`` link is refused with one warning,
    never written through). A failed write (a full disk) never reaches the caller: the lines wait
    in memory (at most :attr:`MAX_PENDING` bytes; older ones are dropped and counted) and go out
    with the next line that can be written. ``health`` counts what was delayed or lost.
    """

    MAX_PENDING = 4 << 20

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None
        self._pending = bytearray()
        self._pending_lines = 0
        self._refused = False
        self._draining = False  # a signal handler may close the log in the middle of a write
        self._close_after = False
        self.health = None  # a _recovery.WriterHealth once something went wrong
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may finish the logger mid-write

    @property
    def used(self) -> bool:
        """True once a line has been written (or kept to write) by this object."""
        return self._fd is not None or bool(self._pending)

    def write(self, message: str, level: str = "info") -> None:
        """Append a timestamped line; never raises for an I/O error (see the class docstring)."""
        data = format_line(message, level).encode("utf-8", errors="replace")
        with self._lock:
            if self._refused:
                return
            self._pending += data
            self._pending_lines += 1
            self._drain()

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            self._drain_now()
        finally:
            self._draining = False
            if self._close_after:
                self._close_fd()

    def _drain_now(self) -> None:
        from .._fs import UnsafePathError, open_nofollow  # noqa: PLC0415

        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = open_nofollow(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
                if self.health is not None and self.health.failing_since:
                    self._end_partial_line()
            while self._pending:
                done = os.write(self._fd, self._pending)
                del self._pending[:done]
        except UnsafePathError as exc:
            self._refused = True
            self._pending.clear()
            from ..runtime import log  # noqa: PLC0415

            log.warning("%s Not writing %s.", exc.message, self.path.name)
        except OSError as exc:
            self._failed(exc)
        else:
            self._recovered()

    def _end_partial_line(self) -> None:
        """After a failed write, start on a new line if the file ends in the middle of one."""
        try:
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                self._pending[:0] = b"\n"
        except OSError:
            pass

    def _failed(self, exc: OSError) -> None:
        from . import _recovery  # noqa: PLC0415

        first = self.health is None or not self.health.failing_since
        if self.health is None:
            self.health = _recovery.WriterHealth()
        self.health.errors += 1
        self.health.last_error = _recovery.describe(exc)
        if first:
            self.health.outages += 1
            self.health.failing_since = _recovery._now()
            _recovery._log.warning("cannot write %s (%s); keeping its lines in memory and retrying.",
                                   self.path, _recovery.describe(exc))
        self._close_fd()
        if len(self._pending) > self.MAX_PENDING:  # keep the newest lines
            cut = self._pending.find(b"\n", len(self._pending) - self.MAX_PENDING)
            lost = self._pending[: cut + 1].count(b"\n")
            del self._pending[: cut + 1]
            self._pending_lines -= lost
            self.health.lost += lost

    def _recovered(self) -> None:
        written, self._pending_lines = self._pending_lines, 0
        if self.health is None or not self.health.failing_since:
            return
        self.health.failing_since = None
        self.health.delayed += max(0, written - 1)  # the line just logged was not delayed
        from . import _recovery  # noqa: PLC0415

        _recovery._log.warning("%s is writable again; %d delayed lines written.", self.path, max(0, written - 1))

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def close(self) -> None:
        """Write what is still kept (once more) and close; lines that still cannot be written are counted lost."""
        with self._lock:
            if self._draining:  # called by a signal handler in the middle of a write: close after it
                self._close_after = True
                return
            if self._pending and not self._refused:
                self._drain()
            if self._pending and self.health is not None:
                self.health.lost += self._pending.count(b"\n")
                self._pending.clear()
            self._close_fd()
