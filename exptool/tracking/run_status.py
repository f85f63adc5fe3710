"""The run record of a run written only through a :class:`~exptool.tracking.Logger` (no ``exp train``).

A template-style script (``Logger("mnist", "baseline")`` and a loop) is a run like any other: the
Logger creates the run when it does not exist, takes its lock, marks it ``running`` with the same
provenance ``exp train`` records, saves the config given to ``log_config`` as ``config.json``, and
at the end marks it ``completed``, ``failed`` or ``interrupted``. ``exp ls`` then shows it as it
shows a trained run.

Inside ``exp train`` the launcher owns the record and the lock (it sets :data:`TRAINING_ENV` to
the run folder), so loggers there leave both alone; so does a Logger whose run another process
holds.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

TRAINING_ENV = "EXPTOOL_TRAINING_RUN"  # set by `exp train` to the folder of the run it owns


def owned_by_exp_train(run: Any) -> bool:
    """True when ``exp train`` (this process or a parent) is training ``run``."""
    owner = os.environ.get(TRAINING_ENV)
    return bool(owner) and os.path.realpath(owner) == os.path.realpath(run.path)


class RunStatus:
    """Holds the lock of a Logger-only run and keeps its ``run.json`` status true."""

    def __init__(self, run: Any, lock: Any):
        self.run = run
        self._lock = lock
        self._started = time.time()
        self.ended: str | None = None

    @classmethod
    def claim(cls, run: Any) -> RunStatus | None:
        """Take the run (lock + ``running``) or return None when someone else owns it."""
        from ..errors import RunLockedError  # noqa: PLC0415
        from ..locking import RunLock  # noqa: PLC0415
        from ..workspace import now_iso  # noqa: PLC0415

        if owned_by_exp_train(run):
            return None
        try:
            lock = RunLock(run.path).acquire()
        except (RunLockedError, OSError):
            return None  # another process trains or logs this run: it owns the record
        from .. import provenance  # noqa: PLC0415

        previous = run.read_record()
        run.update_record(
            status="running", started=now_iso(), ended=None, exit_code=None, error=None, duration_s=None,
            attempts=int(previous.get("attempts", 0) or 0) + 1, trainer=None, written_by="Logger",
            **provenance.collect(run.workspace.root, run.path),
        )
        return cls(run, lock)

    def record_config(self, config: Mapping[str, Any]) -> None:
        """Save ``config`` as the run's ``config.json`` (values without a JSON form become text)."""
        import json  # noqa: PLC0415

        from ..config import save_config  # noqa: PLC0415

        plain = json.loads(json.dumps(dict(config), default=str))
        save_config(plain, self.run.config_path)

    def end(self, status: str, error: str | None = None) -> None:
        """Record how the run ended and let go of its lock (only the first call counts)."""
        if self.ended is not None:
            return
        from ..workspace import now_iso  # noqa: PLC0415

        self.ended = status
        try:
            self.run.update_record(
                status=status, ended=now_iso(), error=error,
                exit_code={"completed": 0, "interrupted": 130}.get(status, 1),
                duration_s=round(time.time() - self._started, 3),
            )
        finally:
            self._lock.release()


def status_at_exit(reason: str | None, exc: BaseException | None = None) -> tuple[str, str | None]:
    """(status, error) for a logger finishing for ``reason`` while ``exc`` (if any) propagates."""
    if exc is None and reason == "interpreter exit":
        exc = getattr(sys, "last_value", None)  # set when an uncaught exception ended the script
    if reason in ("SIGTERM", "SIGHUP") or isinstance(exc, KeyboardInterrupt):
        return "interrupted", f"stopped by {reason}" if reason in ("SIGTERM", "SIGHUP") else "interrupted"
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return "completed", None
    if exc is not None:
        return "failed", f"{exc.__class__.__name__}: {exc}".strip().rstrip(":")
    return "completed", None
