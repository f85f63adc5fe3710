"""The run's ``logs/metrics.csv``: a wide CSV with one row per logged step.

Format (what every writer and reader in exptool agrees on)::

    step,wall_time,<metric 1>,<metric 2>,...
    0,1732530000.123,0.91,
    1,1732530000.456,0.85,0.40

``step`` is an integer, ``wall_time`` seconds since the epoch, metric columns are in the order
they first appeared; an empty cell means "not logged at this step". Only the header holds text
(quoted by the csv module where needed); rows hold numbers only, so a comma in a row always
separates cells, and every row ends with ``\n``. Rows are in the order they were logged, which
for a training run is by step: the helpers below that look at the tail only rely on that.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from typing import BinaryIO

STEP_COLUMN = "step"
TIME_COLUMN = "wall_time"
RESERVED_COLUMNS = (STEP_COLUMN, TIME_COLUMN)
_TAIL_BYTES = 64 * 1024
CHUNK_BYTES = 4 << 20  # what the streaming helpers hold at a time
HEADER_LIMIT = 16 << 20  # a first line longer than this is not a metrics header
_ROW_STEP = re.compile(rb"\n(\d+),")  # a row's step as exptool writes it, after the newline ending the row before


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
    except (ValueError, OverflowError):  # OverflowError: "inf"
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
    series: dict[str, list[tuple[int, float]]] = {}
    reader = csv.reader(complete_lines(data, "utf-8-sig"))
    header = next(reader, None)
    if not header:
        return series
    names = header[first_metric_column(header):]
    for name in names:
        series.setdefault(name, [])
    for name, (steps, values) in zip(names, read_columns(reader, header)[1], strict=True):
        series[name] += zip(steps, values, strict=True)  # a name twice in the header (not exptool's): both
    return series


def first_metric_column(header: list[str]) -> int:
    """Where the metrics begin: after ``step,wall_time`` (exptool's files), else after the first column."""
    return 2 if header[:2] == list(RESERVED_COLUMNS) else 1


def complete_lines(data: bytes, encoding: str = "utf-8") -> list[str]:
    """The complete lines of metrics CSV bytes, NUL bytes dropped.

    A last line without its newline was cut short by a crash (or is still being written): left out.
    """
    text = data.decode(encoding, errors="replace").replace("\x00", "")
    lines = text.splitlines()
    if lines and not text.endswith(("\n", "\r")):
        lines.pop()
    return lines


Columns = list[tuple[list[int], list[float]]]  # per metric column: its steps and its values


def read_columns(reader: Iterator[list[str]], header: list[str]) -> tuple[int | None, Columns]:
    """The rows of ``reader`` (a ``csv.reader`` past ``header``) by metric: ``(last step, columns)``.

    ``columns[i]`` holds the steps and values of the metric ``header[first_metric_column(header) + i]``
    (empty and non-numeric cells left out); the last step is that of the last row that parsed (None
    when none did). Tolerant of a damaged file: rows the csv module rejects, empty rows, rows wider
    than the header and rows whose step is not a number are skipped.
    """
    offset = first_metric_column(header)
    width = len(header)
    columns: Columns = [([], []) for _ in header[offset:]]
    last = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return last, columns
        except csv.Error:
            continue
        if not row or len(row) > width:
            continue
        step = _to_step(row[0])
        if step is None:
            continue
        last = step
        for j in range(offset, len(row)):
            cell = row[j]
            if cell:
                try:
                    value = float(cell)
                except ValueError:
                    continue
                steps, values = columns[j - offset]
                steps.append(step)
                values.append(value)


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



# -- byte-level helpers for the writer: they read the header and the tail, never the whole file ----


def read_header_line(fh: BinaryIO) -> bytes:
    """The first line of the open file ``fh`` with its line ending (b"" for an empty file).

    A first line longer than :data:`HEADER_LIMIT` is returned cut there, without a newline.
    """
    fh.seek(0)
    parts: list[bytes] = []
    size = 0
    while size < HEADER_LIMIT:
        block = fh.read(_TAIL_BYTES)
        if not block:
            break
        cut = block.find(b"\n")
        if cut >= 0:
            parts.append(block[: cut + 1])
            break
        parts.append(block)
        size += len(block)
    return b"".join(parts)


def row_step(line: bytes) -> int | None:
    """The step of one row (its first cell), or None when it does not parse."""
    try:
        return int(float(line.split(b",", 1)[0]))
    except ValueError:
        return None


def end_of_rows_through(fh: BinaryIO, step: int, start: int, end: int) -> int:
    """Byte offset just past the last row at or before ``step``, scanning back from ``end``.

    Rows from that offset to ``end`` (those logged after ``step``) are what a resume drops.
    ``start`` is where the rows begin (after the header) and ``end`` must be a line start (just
    past a newline). A row that does not parse counts as step 0 and is kept, with everything
    before it; a negative ``step`` drops every row. Reads backwards a chunk at a time, so a resume
    close to the end costs one small read whatever the file's length.
    """
    if step < 0:  # -1: a restart from nothing drops every row, parsable or not
        return start
    pos = end  # a line start; every row from here to ``end`` is after ``step``
    size = 4096  # grows to CHUNK_BYTES: a resume near the end reads a few KiB
    while pos > start:
        lo = max(start, pos - size)
        fh.seek(lo)
        data = fh.read(pos - lo)
        skip = 0 if lo == start else data.find(b"\n") + 1  # the first line may begin before ``lo``
        size = min(2 * size, CHUNK_BYTES)
        if skip == len(data) and lo > start:
            size *= 2  # one row longer than the chunk: look further back
            continue
        steps = _ROW_STEP.findall(data, skip - 1) if skip else ()
        if skip and len(steps) == data.count(b"\n", skip) and min(map(int, steps), default=step + 1) > step:
            pos = lo + skip  # every row here is after ``step`` (checked in C, not row by row)
            continue
        hi = len(data)  # data[hi - 1] is the newline ending the line examined next
        while hi > skip:
            begin = data.rfind(b"\n", skip, hi - 1) + 1 or skip
            line = data[begin : hi - 1]
            if line.strip(b"\r"):
                found = row_step(line)
                if found is None or found <= step:
                    return lo + hi
            hi = begin
        pos = lo + skip
    return start


def widened_rows(fh: BinaryIO, start: int, end: int, cells: int, width: int) -> Iterator[bytes | memoryview]:
    """The complete rows between ``start`` and ``end``, in chunks (bytes-like), padded to ``width`` cells.

    Rows are expected to hold ``cells`` cells (the old header's width); those are widened with one
    ``bytes.replace`` per chunk. A chunk holding other rows (shorter ones, CRLF endings, blank
    lines) is done row by row: CRLF becomes LF, blank lines are dropped, short rows are padded.
    A last row without its newline (cut by a crash) is left out. Memory: about two chunks; each
    chunk is valid until the next one is asked for (the read buffer is reused).
    """
    pad = b"," * max(0, width - cells)
    fh.seek(start)
    left = end - start
    carry = b""  # the start of a row that continues in the next chunk
    buffer = bytearray(min(CHUNK_BYTES, left))  # reused: a fresh chunk each time costs page faults
    while left > 0:
        got = fh.readinto(memoryview(buffer)[: min(len(buffer), left)])
        if not got:
            break
        block = buffer if got == len(buffer) else buffer[:got]
        left -= got
        first = block.find(b"\n") + 1  # the end of the row begun in an earlier chunk
        if not first:
            carry += block
            continue
        last = block.rfind(b"\n") + 1
        yield _widen_each(bytes(carry + block[:first]), width)
        carry = bytes(block[last:])
        if last == first:
            continue
        # A blank line fails the comma count below (it has none), a CRLF ending would not.
        clean = block.find(b"\r", first, last) < 0
        if clean and not pad and block.find(b"\n\n", first - 1, last) < 0:
            yield memoryview(block)[first:last]
            continue
        if clean and pad:
            out = block.replace(b"\n", pad + b"\n")
            newlines = (len(out) - len(block)) // len(pad)
            if _count(block, 44, first, last) == (newlines - 1) * (cells - 1):  # 44: ","
                yield memoryview(out)[first + len(pad) : last + newlines * len(pad)]
                continue
            del out
        yield _widen_each(bytes(block[first:last]), width)


def _count(data: bytearray, byte: int, start: int, end: int) -> int:
    """How many times ``byte`` occurs in ``data[start:end]`` (numpy's vectorised loop: 5x ``bytes.count``)."""
    import numpy as np  # noqa: PLC0415 - a rewrite is rare; keep numpy out of cheap imports

    return int(np.count_nonzero(np.frombuffer(data, np.uint8, end - start, start) == byte))


def _widen_each(rows: bytes, width: int) -> bytes:
    """``rows`` (complete lines) one by one: LF endings, no blank lines, each padded to ``width`` cells."""
    return b"".join(line + b"," * max(0, width - line.count(b",") - 1) + b"\n"
                    for line in (raw.rstrip(b"\r") for raw in rows.split(b"\n")[:-1]) if line)
