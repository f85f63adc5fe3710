"""Finish live loggers at interpreter exit, on SIGTERM and on SIGHUP, then let the previous handler act.

SIGHUP is what a dropped terminal (an SSH session that went away) sends; a logger that keeps its
run's record then marks it ``interrupted``. Under ``nohup`` (SIGHUP ignored) it is left ignored.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from typing import Any

from ..runtime import warn

_live: dict[int, tuple[Any, int]] = {}  # id -> (logger, pid); strong refs keep unfinished loggers flushable
_lock = threading.RLock()  # re-entrant: SIGTERM may arrive while this thread holds it
_installed = False
_previous_sigterm: Any = None
_previous: dict[int, Any] = {}  # signal -> the handler before ours


def track(logger: Any) -> None:
    """Finish ``logger`` at exit or on SIGTERM unless it is finished before."""
    with _lock:
        _live[id(logger)] = (logger, os.getpid())
    _install()


def untrack(logger: Any) -> None:
    with _lock:
        _live.pop(id(logger), None)


def finish_all(reason: str) -> None:
    """Finish every live logger of this process; errors become warnings so each gets its turn.

    Loggers inherited through ``fork`` (DataLoader workers) are left alone: their files and
    threads belong to the parent.
    """
    pid = os.getpid()
    with _lock:
        loggers = [logger for logger, owner in _live.values() if owner == pid]
    for logger in reversed(loggers):
        try:
            logger.finish(reason=reason)
        except Exception as exc:  # noqa: BLE001 - shutting down: report, keep going
            warn(f"could not finish logger: {exc}")


def _at_exit() -> None:
    finish_all("interpreter exit")


def _on_sigterm(signum: int, frame: Any) -> None:
    finish_all(signal.Signals(signum).name)
    previous = _previous.get(signum, _previous_sigterm)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        # Die of the signal as the default handler would, so parents see the usual status.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install() -> None:
    global _installed, _previous_sigterm
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(_at_exit)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still covers us
    try:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        return
    _previous_sigterm = _previous[signal.SIGTERM] = previous
    hup = getattr(signal, "SIGHUP", None)
    if hup is not None and signal.getsignal(hup) not in (signal.SIG_IGN, None):
        _previous[hup] = signal.signal(hup, _on_sigterm)
