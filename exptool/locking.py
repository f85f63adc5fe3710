"""A per-run lock so two ``exp train`` never write the same run at once.

It is an ``flock`` on ``<run>/.lock``: the kernel drops it when the holder dies, so a lock left by a
killed process is recovered without any clean-up. The file holds the holder's pid and host for messages.
It is opened without following links: a ``.lock`` that is a symbolic link is refused, never truncated.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ._fs import UnsafePathError, open_nofollow
from .errors import RunLockedError

LOCK_NAME = ".lock"
# How long acquire() retries before it reports the run as busy: far longer than a probe holds the lock.
PROBE_WAIT_S = 0.3


class RunLock:
    """Exclusive lock on a run folder. Use as a context manager or call acquire()/release()."""

    def __init__(self, run_path: str | os.PathLike):
        self.path = Path(run_path) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` naming the holder.

        Args:
            wait: seconds to keep trying while another process holds it (a cluster job whose
                submitter is still recording its job id).
        """
        import fcntl  # noqa: PLC0415 - POSIX only; imported here so Windows can still import exptool

        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_flock(fd, fcntl, max(wait, PROBE_WAIT_S)):
            os.close(fd)
            holder = read_holder(self.path.parent)
            who = f" by pid {holder.get('pid')} on {holder.get('host')}" if holder else ""
            raise RunLockedError(
                f"Run at {self.path.parent} is already being trained{who}.",
                hint="Wait for it to finish, or stop that process first.",
            ) from None
        import socket  # noqa: PLC0415 - only a trainer takes the lock; keep `exp ls` start-up lean

        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (safe to call twice)."""
        if self._fd is None:
            return
        import fcntl  # noqa: PLC0415

        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_flock(fd: int, fcntl: Any, wait: float = PROBE_WAIT_S) -> bool:
    """Take the exclusive lock, retrying briefly: ``is_locked`` (``exp ls``) holds it for an instant to probe."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01 if wait <= PROBE_WAIT_S else 0.2)


def read_holder(run_path: str | os.PathLike) -> dict:
    """The pid/host written by the current holder ({} if none or unreadable)."""
    try:
        fd = open_nofollow(Path(run_path) / LOCK_NAME, os.O_RDONLY)
    except (OSError, UnsafePathError):
        return {}
    try:
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read(4096) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_locked(run_path: str | os.PathLike) -> bool:
    """True if some live process holds the run's lock."""
    path = Path(run_path) / LOCK_NAME
    if not path.exists():
        return False
    try:
        import fcntl  # noqa: PLC0415
    except ImportError:
        return False
    try:
        fd = open_nofollow(path, os.O_RDONLY)  # flock needs no write access: readers of a shared run can probe
    except (OSError, UnsafePathError):  # (a link is no lock exptool took; `exp train` refuses it)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: two probes never mistake each other for a trainer
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


RECORD_LOCK_NAME = ".record.lock"


class RecordLock:
    """A short exclusive lock around a read-modify-write of the run's ``run.json``.

    Separate from the training lock: ``exp tag`` and ``exp note`` must work while a run trains, and
    two of them at once (or one and the trainer recording its status) must not lose each other's
    change. It waits (a record update takes milliseconds); without ``fcntl`` it does nothing.
    """

    def __init__(self, run_path: str | os.PathLike):
        self.path = Path(run_path) / RECORD_LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RecordLock:
        try:
            import fcntl  # noqa: PLC0415
        except ImportError:  # Windows: os.replace is still atomic; concurrent writers may race
            return self
        self._fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # a link there is refused
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            import fcntl  # noqa: PLC0415

            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
