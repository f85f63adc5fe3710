"""A trainer's progress: a bar on a terminal, periodic plain lines elsewhere, and ``progress.json``.

:meth:`exptool.RunContext.progress` builds a :class:`Progress`; so can a script. On rank 0 with
a terminal on stdout it draws a rich bar (count, rate, ETA and any values passed as fields); off a
terminal (a log file, CI, SLURM) it prints one plain line every ``every`` seconds and one at the
end; other ranks show nothing. Where a run folder is given, the count, total and rate are also
recorded in ``<run>/progress.json`` (:mod:`exptool.progress_file`), replaced atomically at most
once a second, which is what ``exp show`` and ``exp watch`` read.

Per step the training thread pays a clock read and a comparison; the bar is refreshed at most ten
times a second and the file written at most once a second.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_json
from ..progress_file import FILE_NAME, format_duration
from ..runtime import warn

_DRAW_EVERY_S = 0.1
_RECORD_EVERY_S = 1.0
_RATE_WINDOW_S = 10.0


def on_terminal() -> bool:
    """True when stdout is a terminal that can draw a bar (not ``TERM=dumb``)."""
    try:
        return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def _fields_text(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, float):
            parts.append(f"{name} {value:.4g}")
        elif value is not None:
            parts.append(f"{name} {value}")
    return "  ".join(parts)


class Progress:
    """Count steps (or items) of a loop and show how far it is.

    Args:
        iterable: items to count as they are taken (``for batch in Progress(loader)``).
        total: how many there will be (default: ``len(iterable)`` plus ``start``, if it has one).
        start: the count already done (a resumed run's step).
        description: text before the bar and at the start of each plain line.
        unit: what is counted, for the rate ("step" gives "steps/s").
        run_path: a run folder; its ``progress.json`` is kept up to date (None: no file).
        show: draw anything at all (False on ranks other than 0).
        every: seconds between plain lines off a terminal (0: only the final line).
        bar: force the rich bar (True) or plain lines (False); default: the bar on a terminal.

    Example::

        with ctx.progress(total=steps) as bar:          # start = ctx.start_step
            for step in range(ctx.start_step + 1, steps + 1):
                ...
                bar.update(step, loss=loss.item())
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        total: int | float | None = None,
        *,
        start: int = 0,
        description: str = "training",
        unit: str = "step",
        run_path: str | os.PathLike | None = None,
        show: bool = True,
        every: float = 30.0,
        bar: bool | None = None,
    ):
        if isinstance(iterable, (int, float)) and not isinstance(iterable, bool) and total is None:
            iterable, total = None, iterable  # progress(1000): a total, not an iterable
        if total is None and iterable is not None:
            try:
                total = start + len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self._iterable = iterable
        self.total = total
        self.step = start
        self.description = description
        self.unit = unit
        self.fields: dict[str, Any] = {}
        self._path = Path(run_path) / FILE_NAME if run_path is not None else None
        self._every = float(every)
        self._started = time.time()
        self._started_mono = now = time.monotonic()
        self._window: deque[tuple[float, float]] = deque([(now, start)])
        self._rate: float | None = None
        self._next_draw = now + _DRAW_EVERY_S
        self._next_record = now + _RECORD_EVERY_S
        self._next_line = now + self._every if self._every > 0 else float("inf")
        self._closed = False
        self._rich: Any = None
        self._task: Any = None
        self._show = show
        if show and (on_terminal() if bar is None else bar):
            self._start_bar()
        self._record(finished=False)

    # -- the public surface ------------------------------------------------------------------
    @property
    def rate(self) -> float | None:
        """Steps (items) per second over the last few seconds; None until measured."""
        return self._rate

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise TypeError("this Progress counts by update(); give it an iterable to loop over it")
        try:
            for item in self._iterable:
                yield item
                self.update()
        finally:
            self.close()

    def update(self, step: int | float | None = None, *, advance: int | float = 1, description: str | None = None,
               **fields: Any) -> None:
        """Set the count to ``step`` (or add ``advance``), and show ``fields`` like ``loss=0.3`` beside it."""
        self.step = step if step is not None else self.step + advance
        if fields:
            self.fields.update(fields)
        if description is not None:
            self.description = description
        now = time.monotonic()
        if now >= self._next_draw:
            self._tick(now)

    def advance(self, n: int | float = 1, **fields: Any) -> None:
        """Add ``n`` to the count (``update(advance=n, ...)``)."""
        self.update(advance=n, **fields)

    def print(self, *objects: Any) -> None:
        """Print a line above the bar (plain ``print`` off a terminal); nothing where nothing is shown."""
        if not self._show:
            return
        if self._rich is not None:
            self._rich.console.print(*objects)
        else:
            print(*objects, flush=True)

    def close(self) -> None:
        """Draw the final state, record it as finished and stop the bar. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        self._measure(now, force=True)
        if self._rich is not None:
            self._draw()
            self._rich.stop()
        elif self._show:
            print(self.line(final=True), flush=True)
        self._record(finished=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def line(self, final: bool = False) -> str:
        """The plain progress line, e.g. ``training: 120/1000 steps (12%), 41.7 steps/s, ETA 0:21``."""
        count = f"{self.step:g}/{self.total:g}" if self.total else f"{self.step:g}"
        text = f"{self.description}: {count} {self.unit}s"
        if self.total:
            text += f" ({100.0 * min(self.step, self.total) / self.total:.0f}%)"
        if final:
            text += f" in {format_duration(time.monotonic() - self._started_mono)}"
        if self._rate:
            text += f", {self._rate:.3g} {self.unit}s/s"
            if self.total and not final:
                text += f", ETA {format_duration(max(0.0, self.total - self.step) / self._rate)}"
        extra = _fields_text(self.fields)
        return f"{text}, {extra}" if extra else text

    # -- internals ---------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        self._next_draw = now + _DRAW_EVERY_S
        self._measure(now)
        if self._rich is not None:
            self._draw()
        if now >= self._next_record:
            self._next_record = now + _RECORD_EVERY_S
            self._record(finished=False)
        if self._rich is None and now >= self._next_line:
            self._next_line = now + self._every
            if self._show:
                print(self.line(), flush=True)

    def _measure(self, now: float, force: bool = False) -> None:
        window = self._window
        if force or now - window[-1][0] >= _RECORD_EVERY_S * 0.5:
            window.append((now, self.step))
        while len(window) > 2 and now - window[0][0] > _RATE_WINDOW_S:
            window.popleft()
        t0, s0 = window[0]
        if now - t0 >= 0.2 or (force and now > t0):  # the final count of a short run still gets its rate
            self._rate = max(0.0, (self.step - s0) / (now - t0))

    def _record(self, finished: bool) -> None:
        if self._path is None:
            return
        record = {
            "step": self.step,
            "total": self.total,
            "rate": None if self._rate is None else round(self._rate, 4),
            "updated": round(time.time(), 3),
            "started": round(self._started, 3),
            "description": self.description,
            "unit": self.unit,
            "finished": finished,
        }
        try:
            # No fsync: a stale count after a power cut is harmless, and this runs on the training thread.
            atomic_write_json(self._path, record, fsync=False)
        except OSError as exc:
            warn(f"progress: cannot write {self._path} ({exc}); it is not updated any more.")
            self._path = None

    def _start_bar(self) -> None:
        from rich.console import Console  # noqa: PLC0415 - only where a bar is drawn
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress  # noqa: PLC0415

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        columns += [MofNCompleteColumn(), TaskProgressColumn()] if self.total else [TextColumn("{task.completed:g}")]
        columns += [
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn() if self.total else TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"),
        ]
        # auto_refresh off: the bar is redrawn from update(), on the training thread, at most 10 times a second.
        self._rich = RichProgress(*columns, console=Console(highlight=False), auto_refresh=False, transient=False)
        self._task = self._rich.add_task(self.description, total=self.total, completed=self.step, rate="", extra="")
        self._rich.start()

    def _draw(self) -> None:
        rate = f"{self._rate:.3g} {self.unit}s/s" if self._rate else ""
        self._rich.update(self._task, completed=self.step, description=self.description, rate=rate,
                          extra=_fields_text(self.fields))
        self._rich.refresh()
