"""Nested wall-clock timers with aggregation over repeated calls.

``Timer`` is the template's profiler, modernised: a context manager and a decorator, switched on and
off globally, nested (a timer opened inside another one is its child), aggregated over repeated
calls (count, total, mean, min, max, share of the parent) and synchronised with CUDA when CUDA is
in use, so that asynchronous kernels are charged to the block that launched them.

Example::

    from exptool import profiler
    from exptool.profiler import Timer

    profiler.enable()
    for batch in loader:
        with Timer("step"):
            with Timer("forward"):
                loss = model(batch)
            with Timer("backward"):
                loss.backward()
    profiler.print_report()
    profiler.log_report(logger, step)

Disabled (the default), a timer costs well under a microsecond per use. Set ``EXPTOOL_PROFILE=1``
in the environment to start enabled.

The template's way, ``Timer.enabled = True``, also makes each outermost timer print its tree of
timings when it ends, as the template's ``Timer`` did (``profiler.enable(echo=True)`` does the
same; ``profiler.enable()`` only gathers figures for ``print_report``).

This module never imports torch: it synchronises CUDA only when torch is already imported and
CUDA is initialised.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "Timer",
    "TimingRow",
    "disable",
    "enable",
    "format_report",
    "is_enabled",
    "log_report",
    "print_report",
    "report",
    "reset",
]

F = TypeVar("F", bound=Callable[..., Any])
_Path = tuple[str, ...]


class _Stack(threading.local):
    def __init__(self) -> None:
        # entries: (timer, path, start_ns, synchronised)
        self.stack: list[tuple[Timer, _Path, int, bool]] = []
        self.done: list[tuple[int, _Path, int]] = []  # (start_ns, path, elapsed_ns) of the block being echoed


class _Switch:
    """The global on/off switch, and whether outermost timers print their timings (the template's habit)."""

    __slots__ = ("enabled", "echo")

    def __init__(self) -> None:
        self.enabled = os.environ.get("EXPTOOL_PROFILE", "").strip().lower() in ("1", "true", "yes", "on")
        self.echo = False


_switch = _Switch()


class _TimerType(type):
    @property
    def enabled(cls) -> bool:
        """The global switch: ``Timer.enabled = True`` (the template's way) also turns printing on."""
        return _switch.enabled

    @enabled.setter
    def enabled(cls, value: bool) -> None:
        _switch.enabled = _switch.echo = bool(value)


@dataclass
class _Stat:
    count: int = 0
    total_ns: int = 0
    min_ns: int = 0
    max_ns: int = 0

    def add(self, ns: int) -> None:
        if self.count == 0 or ns < self.min_ns:
            self.min_ns = ns
        if ns > self.max_ns:
            self.max_ns = ns
        self.count += 1
        self.total_ns += ns


_tls = _Stack()
_lock = threading.Lock()
_stats: dict[_Path, _Stat] = {}


def _cuda_in_use() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_available() and torch.cuda.is_initialized())
    except Exception:  # a broken or partial torch install must not break timing
        return False


def _synchronize() -> None:
    sys.modules["torch"].cuda.synchronize()


class Timer(metaclass=_TimerType):
    """A named, nestable timer: use it as a context manager or as a decorator.

    Timers do nothing until profiling is switched on (``exptool.profiler.enable()``,
    ``Timer.enabled = True`` or ``EXPTOOL_PROFILE=1``). A timer opened while another one is open
    in the same thread is recorded as its child. The same instance may be reused, nested and
    shared between threads.

    Args:
        name: label in the report; defaults to the decorated function's qualified name.
        cuda_sync: synchronise CUDA on entry and exit. ``None`` (default) does so when torch is
            imported and CUDA is initialised; ``False`` never does.

    Attributes:
        enabled: the global switch (class attribute), shared by every timer.
        duration: seconds of this instance's most recent completed use, or ``None``.
    """

    duration: float | None = None

    def __init__(self, name: str | None = None, *, cuda_sync: bool | None = None):
        self.name = name
        self.cuda_sync = cuda_sync

    def __repr__(self) -> str:
        return f"Timer({self.name!r})"

    def __enter__(self) -> Timer:
        if not Timer.enabled:
            return self
        stack = _tls.stack
        sync = _cuda_in_use() if self.cuda_sync is None else (self.cuda_sync and _cuda_in_use())
        if sync:
            _synchronize()
        parent = stack[-1][1] if stack else ()
        stack.append((self, (*parent, self.name or "<unnamed>"), time.perf_counter_ns(), sync))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not Timer.enabled and not _tls.stack:
            return None
        stack = _tls.stack
        # Profiling may have been switched on or off inside the block: only close what we opened.
        if not stack or stack[-1][0] is not self:
            return None
        _, path, start, sync = stack.pop()
        if sync:
            _synchronize()
        elapsed = time.perf_counter_ns() - start
        self.duration = elapsed / 1e9
        with _lock:
            stat = _stats.get(path)
            if stat is None:
                stat = _stats[path] = _Stat()
            stat.add(elapsed)
        if _switch.echo:
            _tls.done.append((start, path, elapsed))
            if not stack:
                _print_block()
        return None

    def __call__(self, func: F) -> F:
        """Time every call of ``func`` (use the timer as a decorator)."""
        timer = self if self.name is not None else Timer(func.__qualname__, cuda_sync=self.cuda_sync)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not Timer.enabled:
                return func(*args, **kwargs)
            with timer:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _print_block() -> None:
    """Print the timings of the outermost block that just ended, as a tree (the template's output)."""
    done = sorted(_tls.done)
    _tls.done = []
    lines = ["Timings:"]
    for _, path, elapsed in done:
        indent = 2 * (len(path) - 1)
        lines.append(f"{' ' * indent}{path[-1]:<{max(1, 30 - indent)}}{elapsed / 1e9:8.3f}s")
    print("\n".join(lines), flush=True)


def enable(echo: bool = False) -> None:
    """Switch every timer on; with ``echo``, each outermost timer prints its timings when it ends."""
    _switch.enabled = True
    _switch.echo = echo


def disable() -> None:
    """Switch every timer off (figures gathered so far are kept)."""
    _switch.enabled = _switch.echo = False


def is_enabled() -> bool:
    """Whether timers are currently recording."""
    return Timer.enabled


def reset() -> None:
    """Forget every figure gathered so far (open timers in this thread are dropped too)."""
    with _lock:
        _stats.clear()
    _tls.stack.clear()
    _tls.done.clear()


@dataclass(frozen=True)
class TimingRow:
    """Aggregated figures of one timer, at one place in the nesting.

    Attributes:
        path: names from the outermost timer down to this one.
        count: completed uses.
        total_s, mean_s, min_s, max_s: seconds.
        share: ``total_s`` divided by the parent's total (for top-level timers: by the sum of
            all top-level totals); ``None`` when the parent took no measurable time.
    """

    path: tuple[str, ...]
    count: int
    total_s: float
    mean_s: float
    min_s: float
    max_s: float
    share: float | None

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def key(self) -> str:
        return "/".join(self.path)


def report() -> list[TimingRow]:
    """The figures gathered so far, depth first: each parent before its children, in first-seen order."""
    with _lock:
        snapshot = {path: _Stat(s.count, s.total_ns, s.min_ns, s.max_ns) for path, s in _stats.items()}
    children: dict[_Path, list[_Path]] = {}
    for path in snapshot:  # dicts keep insertion order: first seen first
        children.setdefault(path[:-1], []).append(path)
    top_total = sum(snapshot[p].total_ns for p in children.get((), []))
    rows: list[TimingRow] = []

    def visit(path: _Path) -> None:
        stat = snapshot[path]
        parent_total = snapshot[path[:-1]].total_ns if len(path) > 1 and path[:-1] in snapshot else top_total
        share = stat.total_ns / parent_total if parent_total > 0 else None
        rows.append(TimingRow(path, stat.count, stat.total_ns / 1e9, stat.total_ns / stat.count / 1e9,
                              stat.min_ns / 1e9, stat.max_ns / 1e9, share))
        for child in children.get(path, []):
            visit(child)

    # A child whose parent was never completed (e.g. reset mid-block) is still reported at top level.
    for path in snapshot:
        if len(path) == 1 or path[:-1] not in snapshot:
            visit(path)
    return rows


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _fmt_share(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def format_report(rows: list[TimingRow] | None = None) -> str:
    """The report as plain text (one indented line per timer), e.g. for a log file."""
    rows = report() if rows is None else rows
    if not rows:
        return "no timings recorded"
    width = max(len(r.name) + 2 * r.depth for r in rows)
    lines = [f"{'timer':<{width}}  {'count':>7}  {'total':>11}  {'mean':>11}  {'share':>6}"]
    for r in rows:
        label = "  " * r.depth + r.name
        lines.append(f"{label:<{width}}  {r.count:>7}  {_fmt_seconds(r.total_s):>11}  "
                     f"{_fmt_seconds(r.mean_s):>11}  {_fmt_share(r.share):>6}")
    return "\n".join(lines)


def print_report(console: Any = None, rows: list[TimingRow] | None = None) -> None:
    """Print the figures as a rich table whose first column shows the nesting as a tree.

    Args:
        console: a ``rich.console.Console``; a new one on stdout by default.
        rows: figures to show; ``report()`` by default.
    """
    from rich.table import Table  # noqa: PLC0415 - rich only when a report is printed

    from ._console import report_console  # noqa: PLC0415

    rows = report() if rows is None else rows
    console = report_console(console, 120)
    if not rows:
        console.print("no timings recorded")
        return
    table = Table(title="Timings", title_justify="left")
    table.add_column("timer")
    for column in ("count", "total", "mean", "min", "max", "share"):
        table.add_column(column, justify="right")
    last_child = {r.path[:-1]: r.path for r in rows}  # rows are depth first: the last one seen wins
    for r in rows:
        # draw the tree: a corner for the last sibling, a tee otherwise, bars for open ancestors
        label = r.name
        if r.depth:
            label = ("└─ " if last_child[r.path[:-1]] == r.path else "├─ ") + label
            for level in range(r.depth - 1, 0, -1):
                ancestor = r.path[: level + 1]
                label = ("   " if last_child[ancestor[:-1]] == ancestor else "│  ") + label
        table.add_row(label, str(r.count), _fmt_seconds(r.total_s), _fmt_seconds(r.mean_s),
                      _fmt_seconds(r.min_s), _fmt_seconds(r.max_s), _fmt_share(r.share))
    console.print(table)


def log_report(logger: Any, step: int | None = None, prefix: str = "time/") -> dict[str, float]:
    """Send the figures to a logger: anything with a ``.log(dict, step)`` method (e.g. exptool's Logger).

    Keys are ``<prefix><outer>/<inner>/{count,total_s,mean_ms,share}``.

    Returns:
        The dictionary that was logged.
    """
    metrics: dict[str, float] = {}
    for r in report():
        key = prefix + r.key
        metrics[f"{key}/count"] = float(r.count)
        metrics[f"{key}/total_s"] = r.total_s
        metrics[f"{key}/mean_ms"] = r.mean_s * 1e3
        if r.share is not None:
            metrics[f"{key}/share"] = r.share
    if metrics:
        logger.log(metrics, step)
    return metrics
