"""Tables as data, rendered to fit a terminal, or as CSV or Markdown (no third-party imports).

Fitting a width: text cells are cut with an ellipsis (``…``) down to a readable minimum; numbers are
never cut (a number column keeps its full width or is left out). Columns that still do not fit are
dropped from the right, lowest priority first; the first column always stays. The caller says which
columns were dropped, and how to see them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

ELLIPSIS = "…"
GAP = 2
_TEXT_MIN = 10
_FIRST_MIN = 40  # the first column names the run: cut it last


class Column:
    """One column: a header, its cells (already formatted) and whether it holds numbers.

    Args:
        header: the column's title.
        cells: one string per row.
        numeric: numbers are never truncated and are right-aligned.
        styles: optional ANSI style code per cell (used only with colour on).
        priority: columns with a higher number are dropped first when the table is too wide
            (default: their position, so the rightmost goes first).
    """

    __slots__ = ("header", "cells", "numeric", "styles", "width", "priority")

    def __init__(
        self,
        header: str,
        cells: list[str],
        numeric: bool = False,
        styles: list[str | None] | None = None,
        priority: float | None = None,
    ):
        self.header, self.cells, self.numeric, self.styles = header, cells, numeric, styles
        self.priority = priority
        self.width = max([len(header), *map(len, cells)]) if cells else len(header)

    def min_width(self, first: bool = False) -> int:
        """The narrowest this column may get: numbers whole; text cut to about 10 characters (40 for names)."""
        if self.numeric:
            widest = max(map(len, self.cells)) if self.cells else 1
            return max(widest, min(len(self.header), _TEXT_MIN))
        return min(self.width, _FIRST_MIN if first else max(_TEXT_MIN, len(self.header)))


def fit(columns: list[Column], width: int | None) -> tuple[list[Column], list[Column]]:
    """Choose the columns that fit ``width`` and set their widths; returns (kept, dropped)."""
    for col in columns:
        col.width = max([len(col.header), *map(len, col.cells)]) if col.cells else len(col.header)
    if width is None or not columns:
        return columns, []
    kept = list(columns)
    dropped: list[Column] = []

    first = columns[0]

    def least(c: Column) -> int:
        return c.min_width(c is first)

    def total(cols: list[Column], mins: bool) -> int:
        return sum(least(c) if mins else c.width for c in cols) + GAP * (len(cols) - 1)

    order = sorted(range(1, len(kept)), key=lambda i: (kept[i].priority if kept[i].priority is not None else i, i))
    while len(kept) > 1 and total(kept, mins=True) > width:
        victim = columns[order.pop()]  # the least important one left
        kept.remove(victim)
        dropped.append(victim)
    dropped.sort(key=columns.index)
    excess = total(kept, mins=False) - width
    # Take the excess from the widest text columns first, then from long headers over numbers (cut
    # with an ellipsis; the numbers themselves stay whole); never below a column's minimum.
    for pool in ([c for c in kept if not c.numeric], [c for c in kept if c.numeric]):
        while excess > 0:
            widest = max((c for c in pool if c.width > least(c)), key=lambda c: c.width, default=None)
            if widest is None:
                break
            widest.width -= 1
            excess -= 1
    return kept, dropped


def _cut(text: str, width: int, dots: str = ELLIPSIS) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - len(dots))] + dots if width >= len(dots) else text[:width]


def _padded(col: Column, last: bool, color: bool, dots: str) -> list[str]:
    width = col.width
    if col.numeric:
        cells = [c.rjust(width) for c in col.cells]
    else:
        cut = [c if len(c) <= width else _cut(c, width, dots) for c in col.cells]
        cells = cut if last else [c.ljust(width) for c in cut]
    if color and col.styles:
        cells = [f"\x1b[{code}m{c}\x1b[0m" if code else c for c, code in zip(cells, col.styles, strict=True)]
    return cells


def render_text(
    columns: list[Column], width: int | None = None, color: bool = False, dots: str = ELLIPSIS
) -> tuple[str, list[str]]:
    """The table as aligned text fitting ``width``; returns (text, headers of the dropped columns).

    ``dots`` marks a cut cell (``...`` where the output cannot encode ``…``).
    """
    kept, dropped = fit(columns, width)
    if not kept:
        return "", [c.header for c in dropped]

    def title(c: Column) -> str:
        text = _cut(c.header.upper(), c.width, dots)
        return text.rjust(c.width) if c.numeric else text.ljust(c.width)

    head = "  ".join(title(c) for c in kept).rstrip()
    lines = [f"\x1b[1m{head}\x1b[0m" if color else head]
    last = len(kept) - 1
    cols = [_padded(col, i == last, color, dots) for i, col in enumerate(kept)]
    lines.extend(line.rstrip() for line in map("  ".join, zip(*cols, strict=True)))
    return "\n".join(lines) + "\n", [c.header for c in dropped]


def render_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (lists and mappings as JSON, None as an empty cell, floats in full precision)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_plain(v) for v in row])
    return buf.getvalue()


def render_markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A GitHub-flavoured Markdown table of already formatted cells."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(esc(h) for h in headers) + " |"]
    out.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    out.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return "\n".join(out) + "\n"


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return value


def format_value(value: Any) -> str:
    """A value as a table cell: numbers to 6 significant digits, lists joined, None as ``-``."""
    if value is None:
        return "-"
    kind = type(value)
    if kind is float:
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is str:
        return str(value)
    if kind is list and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def format_column(values: Sequence[Any]) -> list[str]:
    """:func:`format_value` of every value (a fast path for columns of floats)."""
    if all(type(v) is float for v in values):
        return [f"{v:.6g}" for v in values]
    return [format_value(v) for v in values]


def is_number(value: Any) -> bool:
    """True for ints and floats (not bools): cells never truncated."""
    return type(value) in (int, float)
