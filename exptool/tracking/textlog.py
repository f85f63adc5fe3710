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
    """Append-only text log, flushed after every line so a crash loses nothing written."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = None
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may finish the logger mid-write

    @property
    def used(self) -> bool:
        """True once a line has been written by this object."""
        return self._fh is not None

    def write(self, message: str, level: str = "info") -> None:
        line = format_line(message, level)
        with self._lock:
            fh = self._fh
            if fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fh = self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            try:
                fh.write(line)
                fh.flush()
            except ValueError:  # closed under us by a signal handler, which flushed it already
                pass

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
