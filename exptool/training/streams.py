"""Keep training when nobody reads its output any more: a closed pipe or a dropped terminal.

``exp train ... | head -3`` closes stdout after three lines; the trainer's next ``print`` (or
rich, which turns the broken pipe into ``SystemExit``) would end a healthy run as ``failed``. A
dropped SSH session does the same with ``EIO`` on stdout and stderr. While the trainer runs,
:func:`guarded_streams` puts wrappers around ``sys.stdout`` and ``sys.stderr`` that notice the
first failed write, point the file descriptor at ``/dev/null`` (so children sharing it and the
final flush at exit are quiet too) and drop everything after it. The run's files (logs, metrics,
checkpoints) are unaffected.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any

_GONE = (errno.EPIPE, errno.EIO, errno.ENXIO, errno.EBADF)


class _GuardedStream:
    """A text stream that never raises because its reader went away."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.broken = False

    def _lost(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def _call(self, method: str, *args: Any) -> Any:
        if self.broken:
            return None
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            self._lost()
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
            self._lost()
        except ValueError:  # closed under us
            self.broken = True
        return None

    def write(self, text: str) -> int:
        self._call("write", text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._call("flush")

    def isatty(self) -> bool:
        return not self.broken and bool(self._call("isatty"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_streams() -> Iterator[tuple[_GuardedStream, _GuardedStream]]:
    """Wrap ``sys.stdout`` and ``sys.stderr`` for the duration of the block (see the module docstring)."""
    saved = sys.stdout, sys.stderr
    out, err = _GuardedStream(saved[0]), _GuardedStream(saved[1])
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        for stream in (out, err):
            with contextlib.suppress(Exception):
                stream.flush()
        if sys.stdout is out:
            sys.stdout = saved[0]
        if sys.stderr is err:
            sys.stderr = saved[1]
