"""The statistics table: per-module summaries of outputs and gradients, printed with rich or logged."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ._tensors import display_name

STAT_NAMES = ("mean", "std", "min", "max", "absmax", "norm")

Stats = Mapping[tuple[str, str], tuple[torch.Tensor, tuple[int, ...]]]
"""``{(module name, "output" | "grad"): (stats_vector, shape)}``, as the debugger's hooks fill it."""


def stats_vector(tensor: torch.Tensor) -> torch.Tensor | None:
    """mean, std, min, max, abs-max and L2 norm as one float tensor, left on the device (no sync)."""
    t = tensor.detach()
    if t.numel() == 0:
        return None
    if t.is_complex():
        t = t.abs()
    t = t.float()
    return torch.stack([t.mean(), t.std(correction=0), t.min(), t.max(), t.abs().max(), t.norm()])


def statistics_rows(order: Iterable[str], stats: Stats) -> list[dict[str, Any]]:
    """One dict per module and kind, modules in ``order`` first (see ``ModelDebugger.statistics``)."""
    order = list(order)
    rows = []
    for name in dict.fromkeys(order + [n for n, _ in stats if n not in order]):
        for kind in ("output", "grad"):
            entry = stats.get((name, kind))
            if entry is None:
                continue
            vector, shape = entry
            rows.append({"module": display_name(name), "kind": kind, "shape": list(shape),
                         **dict(zip(STAT_NAMES, vector.tolist(), strict=True))})
    return rows


def print_statistics(rows: list[dict[str, Any]], console: Any = None) -> None:
    """Print statistics rows as a rich table (a new console on stdout by default); non-finite in red."""
    from rich.table import Table  # noqa: PLC0415 - rich only when a report is printed

    from .._console import report_console  # noqa: PLC0415

    console = report_console(console, 160)
    if not rows:
        console.print("no statistics recorded: watch some modules and run the model first")
        return
    table = Table(title="Model statistics", title_justify="left")
    table.add_column("module", no_wrap=True)
    table.add_column("kind")
    table.add_column("shape")
    for stat in STAT_NAMES:
        table.add_column(stat, justify="right")
    for row in rows:
        cells = [f"{row[s]:.4g}" if math.isfinite(row[s]) else f"[red]{row[s]}[/red]" for s in STAT_NAMES]
        table.add_row(row["module"], row["kind"], "x".join(map(str, row["shape"])), *cells)
    console.print(table)


def statistics_metrics(rows: list[dict[str, Any]], prefix: str = "debug/") -> dict[str, float]:
    """Statistics rows as flat metrics ``<prefix><module>/<kind>_<stat>``."""
    return {f"{prefix}{row['module']}/{row['kind']}_{stat}": row[stat] for row in rows for stat in STAT_NAMES}
