"""Where this process stands: its rank among torchrun's workers, the debug flag, library warnings.

One place for what several rooms need to know about the process they run in. Warnings go through
``logging.getLogger("exptool")`` (made on first use, so ``import logging`` stays off the command
line's start-up path): a library user can silence or capture them; they print as ``warning: ...``
lines on stderr unless the program's own logging already prints to the console, and always under
the ``exp`` command.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

from .errors import UsageError

DEBUG_ENV = "EXPTOOL_DEBUG"
LOGGER_NAME = "exptool"
_cli_output = False  # set by the command line: warnings always print, whatever logging a trainer sets up


def __getattr__(name: str) -> Any:
    # `log` is made on first use: `import logging` stays off the command line's start-up path.
    if name == "log":
        return get_log()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_log() -> Any:
    """``logging.getLogger("exptool")``, with exptool's stderr handler attached on first use."""
    import logging  # noqa: PLC0415

    log = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_exptool", False) for h in log.handlers):
        log.addHandler(_make_handler(logging))
    if _cli_output:
        log.propagate = False
    return log


def use_cli_output() -> None:
    """The ``exp`` command's choice: library warnings always print as ``warning: ...`` lines on stderr.

    (A library user instead gets them printed only while their own logging does not print to the
    console; records propagate as usual, and ``logging.getLogger("exptool").setLevel(...)`` silences them.)
    """
    global _cli_output
    _cli_output = True
    if "logging" in sys.modules:
        get_log()


def _console_configured(logging: Any) -> bool:
    """True when the program's root logger already prints to the terminal (``logging.basicConfig()``)."""
    consoles = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return any(
        isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in consoles
        for h in logging.getLogger().handlers
    )


def _make_handler(logging: Any) -> Any:
    class StderrHandler(logging.Handler):
        """``warning: ...`` / ``error: ...`` lines on stderr (looked up at each record: tests swap it)."""

        _exptool = True

        def emit(self, record: Any) -> None:
            if not _cli_output and _console_configured(logging):
                return
            try:
                prefix = "error: " if record.levelno >= logging.ERROR else "warning: "
                sys.stderr.write(f"{prefix}{record.getMessage()}\n")
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - a warning must never break training
                self.handleError(record)

    return StderrHandler(logging.WARNING)


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
    get_log().warning(message)
