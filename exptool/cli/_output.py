"""Everything a command prints: info lines, warnings, JSON, tables, questions, library log records.

Commands print through these helpers only, so colour, ``--json`` hygiene and the ``warning:``
format are decided in one place.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def use_color() -> bool:
    """Colour only on a terminal and only when ``NO_COLOR`` is unset."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def style(text: str, code: str) -> str:
    """Wrap ``text`` in an ANSI style when colour is on (``code`` e.g. "1", "32")."""
    return f"\x1b[{code}m{text}\x1b[0m" if use_color() else text


STATUS_STYLE = {"completed": "32", "running": "36", "failed": "31", "interrupted": "33", "stale": "33", "created": "2",
                "queued": "34", "pending": "2", "busy": "35"}


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def terminal_columns() -> int | None:
    """The terminal's width when stdout is one (``COLUMNS`` wins, as for every tool), else None."""
    if not sys.stdout.isatty():
        return None
    import shutil  # noqa: PLC0415

    return shutil.get_terminal_size().columns


def _ellipsis() -> str:
    try:
        "\u2026".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "\u2026"


def print_table(headers: list[str], rows: list[list[str]], styles: list[list[str | None]] | None = None,
                flex: int | None = None) -> None:
    """Print an aligned plain-text table (fast for thousands of rows; colour only on a terminal).

    On a terminal the ``flex`` column (say, the metrics) gives way so that rows fit its width: its
    cells are cut with an ellipsis, never wrapped; off a terminal every cell is printed whole.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    columns = terminal_columns() if flex is not None else None
    if columns is not None:
        overflow = sum(widths) + 2 * (len(widths) - 1) - (columns - 1)  # the last column stays clear of the edge
        if overflow > 0:
            width = max(len(headers[flex]), 8, widths[flex] - overflow)
            dots = _ellipsis()
            rows = [[(c[: width - len(dots)] + dots) if i == flex and len(c) > width else c for i, c in enumerate(row)]
                    for row in rows]
            widths[flex] = width
    color = use_color()
    out = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    if color:
        out[0] = f"\x1b[1m{out[0]}\x1b[0m"
    for r, row in enumerate(rows):
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=False)):
            padded = cell.ljust(w)
            code = styles[r][i] if (color and styles) else None
            cells.append(f"\x1b[{code}m{padded}\x1b[0m" if code else padded)
        out.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def format_metrics(metrics: dict[str, float], limit: int = 4) -> str:
    """``loss=0.123 acc=0.9`` for the first ``limit`` metrics."""
    items = [f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit]]
    if len(metrics) > limit:
        items.append(f"(+{len(metrics) - limit})")
    return " ".join(items)


def progress_cells(progress: dict[str, Any]) -> list[str]:
    """Percent done, steps/s and ETA as table cells (``-`` where unknown), from ``progress_file.describe``."""
    from ..progress_file import format_duration  # noqa: PLC0415

    percent, rate, eta = progress.get("percent"), progress.get("rate"), progress.get("eta_s")
    return ["-" if percent is None else f"{percent:.0f}%", "-" if rate is None else f"{rate:.3g}",
            "-" if eta is None else format_duration(eta)]


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal (default: no); end of input counts as no.

    The prompt goes to stderr so ``--json`` output stays clean. Ctrl-C raises KeyboardInterrupt,
    which the error handler turns into exit code 130.
    """
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def info(message: str) -> None:
    """A human-facing line on stdout."""
    sys.stdout.write(message + "\n")


def print_error(message: str, hint: str | None = None) -> None:
    """Print ``error: message`` (and an indented hint) to stderr."""
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"  {hint}\n")


def status_line(message: str) -> None:
    """A line about how the command ended, on stderr (stdout may carry --json or be gone)."""
    sys.stderr.write(message + "\n")


def warn(message: str) -> None:
    """A ``warning: ...`` line on stderr."""
    sys.stderr.write(f"warning: {message}\n")


def note(message: str) -> None:
    """A ``note: ...`` line on stderr (not part of the command's output)."""
    sys.stderr.write(f"note: {message}\n")


def install_log_handler() -> None:
    """Library warnings (``logging.getLogger("exptool")``) always print as ``warning: ...`` lines here."""
    from ..runtime import use_cli_output  # noqa: PLC0415

    use_cli_output()
