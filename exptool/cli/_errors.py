"""One place that turns exceptions into a short message and an exit code."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, ExptoolError
from ..runtime import debug_enabled
from ._output import print_error, status_line

F = TypeVar("F", bound=Callable[..., Any])


def silence_stdout(stderr: bool = False) -> None:
    """Point stdout at /dev/null after its reader went away, so Python does not complain at exit.

    ``stderr``: stderr too, for a terminal that went away (an SSH session dropped); the command
    goes on with its work and records, only what it would print is lost.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr) if stderr else (sys.stdout,):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # a stream without a file descriptor (replaced, closed)
            pass
    os.close(devnull)


def handle_errors(func: F) -> F:
    """Wrap a command so exptool errors, interrupts and bugs end with a message and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except ExptoolError as exc:
            if debug_enabled():
                traceback.print_exc()
            print_error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            status_line("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:  # the reader went away (`exp ls | head`): stop quietly
            silence_stdout()
            raise typer.Exit(EXIT_FAILURE) from None
        except OSError as exc:
            if debug_enabled():
                traceback.print_exc()
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            print_error(f"{exc.strerror or exc}{where}.", "Set EXPTOOL_DEBUG=1 for the traceback.")
            raise typer.Exit(EXIT_FAILURE) from None
        except Exception as exc:  # a bug: say so briefly, keep the traceback for --debug
            if debug_enabled():
                traceback.print_exc()
            print_error(
                f"unexpected {exc.__class__.__name__}: {exc}",
                "This is a bug in exptool; set EXPTOOL_DEBUG=1 for the traceback.",
            )
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


def run_app(app: typer.Typer, prog_name: str = "exp") -> None:
    """Run ``app`` as the ``exp`` command and exit; a usage error is one ``error:`` line and a hint.

    Click would print the usage block, a "Try ..." line and ``Error: ...``; exptool's commands answer
    every error in one or two lines, and bad options, values and unknown commands are no exception.
    """
    try:
        code = app(prog_name=prog_name, standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors (bad option value, unknown command...)
        sys.exit(_usage_error(exc, prog_name))
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: typer.TyperException, prog_name: str) -> int:
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message()
    if ctx is not None and message == ctx.get_help():  # `exp` alone: the help is the answer
        print(message, file=sys.stderr)
    else:
        command = getattr(ctx, "command_path", None) or prog_name
        print_error(" ".join(message.split()), f"Run '{command} -h' for help.")
    return int(getattr(exc, "exit_code", 2) or 2)
