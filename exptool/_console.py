"""The rich console that library reports (timings, model statistics) print to."""

from __future__ import annotations

from typing import Any


def report_console(console: Any = None, min_width: int = 120) -> Any:
    """``console``, or a new one on stdout that is at least ``min_width`` wide off a terminal.

    In a log file rich would squeeze a table into 80 columns; a report keeps its rows whole.
    """
    if console is not None:
        return console
    from rich.console import Console  # noqa: PLC0415 - rich only when a report is printed

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, min_width)
    return console
