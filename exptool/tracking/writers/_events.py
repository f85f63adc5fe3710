"""TensorBoard event files written by hand: TFRecord framing and a fast scalar-event encoder.

A scalar step is encoded without protobuf objects: every tag's ``Summary.Value`` prefix (field
tags, lengths, the tag string) is built once and cached, so a step costs one ``struct.pack`` per
value, a join, and two CRC32C checksums (the C ``crc32c`` package). Rare records (file version,
images, histograms, text) go through TensorBoard's own protobuf classes.
"""

from __future__ import annotations

import math
import os
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

import crc32c

_U64 = struct.Struct("<Q").pack
_U32 = struct.Struct("<I").pack
_F64 = struct.Struct("<d").pack
_F32 = struct.Struct("<f").pack
_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> bytes:
    crc = crc32c.crc32c(data)
    return _U32((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF)


def frame(record: bytes) -> bytes:
    """One TFRecord: length, masked CRC32C of the length, the data, masked CRC32C of the data."""
    header = _U64(len(record))
    return header + _masked_crc(header) + record + _masked_crc(record)


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def scalar_value_prefix(tag: str) -> bytes:
    """Bytes of ``Summary.value`` entry for ``tag`` up to (not including) its 4-byte float."""
    raw = tag.encode("utf-8")
    value = b"\x0a" + varint(len(raw)) + raw + b"\x15"  # Value.tag = 1, Value.simple_value = 2 (fixed32)
    return b"\x0a" + varint(len(value) + 4) + value  # Summary.value = 1


def _to_float32_range(value: float) -> float:
    try:
        _F32(value)
    except OverflowError:
        return math.copysign(math.inf, value)
    return value


class ScalarLayout:
    """Encoder for steps that log the same tags in the same order: one ``struct.pack`` per step."""

    def __init__(self, prefixes: list[bytes]):
        self._struct = struct.Struct("<" + "".join(f"{len(p)}sf" for p in prefixes))
        self._args: list = [None] * (2 * len(prefixes))
        self._args[::2] = prefixes
        self._n = len(prefixes)

    def event(self, step: int, wall_time: float, values: Iterable[float]) -> bytes:
        """A framed ``Event`` holding one ``Summary`` with a scalar per tag of the layout."""
        args = self._args
        args[1::2] = values
        try:
            summary = self._struct.pack(*args)
        except OverflowError:  # beyond float32's range (a diverging loss): inf, as protobuf stores it
            args[1::2] = [_to_float32_range(v) for v in args[1::2]]
            summary = self._struct.pack(*args)
        # Event.wall_time = 1 (double), Event.step = 2 (varint), Event.summary = 5 (message)
        return frame(b"\x09" + _F64(wall_time) + b"\x10" + varint(step) + b"\x2a" + varint(len(summary)) + summary)


def scalar_event(step: int, wall_time: float, prefixes: Iterable[bytes], values: Iterable[float]) -> bytes:
    """A framed ``Event`` holding one ``Summary`` with a scalar per (prefix, value) pair."""
    return ScalarLayout(list(prefixes)).event(step, wall_time, values)


def event_file_name(log_dir: Path) -> Path:
    """A new event file name that sorts after every event file already in ``log_dir``.

    TensorBoard reads a folder's event files in name order, and purging on resume relies on the
    new file being read last, so the timestamp field is bumped past any existing file's.
    """
    import time  # noqa: PLC0415

    stamp = int(time.time())
    for entry in log_dir.glob("events.out.tfevents.*"):
        parts = entry.name.split(".")
        if len(parts) > 3 and parts[3].isdigit():
            stamp = max(stamp, int(parts[3]) + 1)
    host = socket.gethostname().replace("/", "_") or "host"
    return log_dir / f"events.out.tfevents.{stamp:010d}.{host}.{os.getpid()}.exptool"
