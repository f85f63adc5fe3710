"""Where this process stands: its rank among torchrun's workers, the debug flag, library warnings.

One place for what several rooms need to know about the process they run in. Warnings go through
``logging.getLogger("exptool")``: a library user can silence or capture them; the ``exp`` command
installs a handler that prints them as ``warning: ...`` lines on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NamedTuple

from .errors import UsageError

DEBUG_ENV = "EXPTOOL_DEBUG"
log = logging.getLogger("exptool")


def _console_configured() -> bool:
    """True when the program's root logger already prints to the terminal (``logging.basicConfig()``)."""
    consoles = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return any(
        isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in consoles
        for h in logging.getLogger().handlers
    )


class FallbackHandler(logging.Handler):
    """Prints ``warning: ...`` on stderr unless the program's own logging already prints to the console.

    Records also propagate as usual (to a log file, a test's capture, ...);
    ``logging.getLogger("exptool").setLevel(logging.ERROR)`` silences exptool's warnings.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if _console_configured():
            return
        try:
            prefix = "error: " if record.levelno >= logging.ERROR else "warning: "
            sys.stderr.write(f"{prefix}{record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a warning must never break training
            self.handleError(record)


if not any(isinstance(h, FallbackHandler) for h in log.handlers):
    log.addHandler(FallbackHandler())


class Ranks(NamedTuple):
    """Global rank, rank on this machine and number of processes (0, 0, 1 outside torchrun)."""

    rank: int
    local_rank: int
    world_size: int


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not an integer.", hint=f"Unset {name} or set it to a number.") from None


def env_ranks() -> Ranks:
    """The ranks torchrun (or SLURM through exptool) put in ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``.

    Raises:
        UsageError: one of them is set but is not an integer.
    """
    return Ranks(_env_int("RANK", 0), _env_int("LOCAL_RANK", 0), _env_int("WORLD_SIZE", 1))


def current_rank() -> int:
    """This process's global rank: torch.distributed when initialised, else ``RANK``, else 0.

    Never imports torch: a process group exists only where something else imported it already.
    """
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except Exception:  # noqa: BLE001 - a half-initialised process group: fall back to the env
        pass
    try:
        return env_ranks().rank
    except UsageError:
        return 0


def debug_enabled() -> bool:
    """True when tracebacks were asked for (``EXPTOOL_DEBUG=1`` or ``exp --debug``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def warn(message: str) -> None:
    """A library warning, through the ``exptool`` logger."""
    log.warning(message)
