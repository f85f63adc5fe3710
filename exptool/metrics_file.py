"""The run's ``logs/metrics.csv``: a wide CSV with one row per logged step.

Format (what every writer and reader in exptool agrees on)::

    step,wall_time,<metric 1>,<metric 2>,...
    0,1732530000.123,0.91,
    1,1732530000.456,0.85,0.40

``step`` is an integer, ``wall_time`` seconds since the epoch, metric columns are in the order
they first appeared; an empty cell means "not logged at this step".
"""

from __future__ import annotations

import csv
import io
import os

STEP_COLUMN = "step"
TIME_COLUMN = "wall_time"
RESERVED_COLUMNS = (STEP_COLUMN, TIME_COLUMN)
_TAIL_BYTES = 64 * 1024


def _to_float(text: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _to_step(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def read_metrics(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """All metrics of a metrics CSV as ``{name: [(step, value), ...]}`` (missing cells skipped).

    Safe on a file that is still being written or was cut by a crash: a last line without its
    newline is ignored (exptool's writer ends every row with one), and so are NUL bytes and rows
    that do not parse. A byte-order mark (a file saved again by Excel) is skipped.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    text = data.decode("utf-8-sig", errors="replace").replace("\x00", "")
    lines = text.splitlines()
    if lines and not text.endswith(("\n", "\r")):
        lines.pop()
    series: dict[str, list[tuple[int, float]]] = {}
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        return series
    names = header[2:] if header[:2] == list(RESERVED_COLUMNS) else header[1:]
    offset = len(header) - len(names)
    for name in names:
        series.setdefault(name, [])
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            continue
        if not row or len(row) > len(header):
            continue
        step = _to_step(row[0])
        if step is None:
            continue
        for i, name in enumerate(names):
            j = i + offset
            if j < len(row):
                value = _to_float(row[j])
                if value is not None:
                    series[name].append((step, value))
    return series


def read_header(path: str | os.PathLike) -> list[str]:
    """Column names of a metrics CSV ([] when missing or empty)."""
    try:  # a stray non-UTF-8 byte (an edit in another program) must not hide the columns
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            return next(csv.reader(fh), [])
    except (OSError, csv.Error):
        return []


def last_row(path: str | os.PathLike) -> tuple[int | None, dict[str, float]]:
    """Step and non-empty metric values of the last complete row, reading only the file's ends.

    Returns (None, {}) when the file is missing, empty or unreadable.
    """
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
            size = fh.seek(0, os.SEEK_END)
            start = max(len(first), size - _TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
    except OSError:
        return None, {}
    try:
        header = next(csv.reader(io.StringIO(first.decode("utf-8-sig", errors="replace"))), [])
        lines = tail.decode("utf-8", errors="replace").splitlines()
    except (UnicodeDecodeError, csv.Error):
        return None, {}
    if not header:
        return None, {}
    # The last line may be cut short by a crash mid-write; walk back to a complete row.
    for line in reversed(lines if tail.endswith(b"\n") else lines[:-1]):
        if not line.strip():
            continue
        try:
            row = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration):
            continue
        if len(row) > len(header):
            continue
        step = _to_step(row[0])
        if step is None:
            continue
        values = {}
        for name, cell in zip(header, row, strict=False):
            if name in RESERVED_COLUMNS:
                continue
            value = _to_float(cell)
            if value is not None:
                values[name] = value
        return step, values
    return None, {}


def metric_names(path: str | os.PathLike) -> list[str]:
    """Metric columns of a metrics CSV, in order of first appearance."""
    return [c for c in read_header(path) if c not in RESERVED_COLUMNS]
