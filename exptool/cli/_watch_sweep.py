"""``exp watch --sweep NAME``'s frame: the sweep's state and counts above one row per point."""

from __future__ import annotations

from typing import Any

from ..sweeps.results import format_value
from ..sweeps.snapshot import SweepSnapshot
from ._sweep_view import points_table

_STATE_COLOUR = {"completed": "green", "running": "cyan", "failed": "red", "interrupted": "yellow",
                 "stale": "yellow", "submitted": "blue"}
_COUNT_ORDER = ("completed", "failed", "interrupted", "stale", "unknown", "running", "queued", "pending")


def counts_text(counts: dict[str, int]) -> str:
    """``3 completed, 1 failed, 2 running`` (statuses with no point left out)."""
    order = [s for s in _COUNT_ORDER if counts.get(s)] + [s for s in counts if s not in _COUNT_ORDER and counts[s]]
    return ", ".join(f"{counts[s]} {s}" for s in order) or "no points yet"


def render_sweep(snap: SweepSnapshot, width: int, height: int) -> Any:
    """The frame for one sweep snapshot, sized to ``width`` x ``height`` cells."""
    from rich.console import Group  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    record, spec = snap.record, snap.record.spec
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"sweep {record.experiment.name}/{record.name}", style="bold")
    head.append("  ")
    state = snap.state + (f" (on {record.data.get('host')})" if snap.remote else "")
    head.append(state, style=_STATE_COLOUR.get(snap.state, ""))
    if snap.state == "submitted" and snap.active:
        head.append(" (jobs on SLURM)")
    if snap.exit_code is not None:
        head.append(f"  exit {snap.exit_code}")
    head.append(f"   {spec.method}, {spec.size} points")
    if spec.metric:
        head.append(f", {spec.metric} ({spec.mode})")
    line = Text(no_wrap=True, overflow="ellipsis")
    counts = snap.counts()
    missing = max(0, spec.size - len(snap.points))  # tpe: trials not asked for yet
    line.append(counts_text({**counts, "pending": counts.get("pending", 0) + missing}))
    best = snap.best()
    if best:
        params = " ".join(f"{k}={format_value(v)}" for k, v in best["params"].items())
        line.append(f"   best {best['run']} {best['metric']}={format_value(best['value'])}"
                    + (f" ({params})" if params else ""))
    parts: list[Any] = [head, line]
    if snap.state == "stale":
        parts.append(Text("its process ended without recording how the sweep ended (killed?)", style="yellow",
                          no_wrap=True, overflow="ellipsis"))
    room = height - len(parts) - 1  # the table's lines: the lines above and the cursor's line taken out
    parts.append(points_table(snap.points, spec.metric, room, snap.progress, width=width))
    return Group(*parts)
