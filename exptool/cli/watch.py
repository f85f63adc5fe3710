"""``exp watch``: a live terminal view of a run, drawn from its files only."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .. import state
from ..errors import EXIT_INTERRUPTED, UsageError
from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._complete import complete_sweep, complete_target
from ._errors import handle_errors
from ._output import note, print_json, status_line

if TYPE_CHECKING:
    from ..workspace import Run

REFRESH_S = 1.0
_BLOCKS = "▁▂▃▄▅▆▇█"
_STATUS_COLOUR = {"completed": "green", "running": "cyan", "failed": "red", "interrupted": "yellow",
                  "stale": "yellow", "created": "dim"}


def sparkline(values: list[Any], width: int) -> str:
    """Block characters for the last ``width`` finite values (flat when they are all equal)."""
    finite = [v for v in values[-width:] if v is not None]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    return "".join(
        " " if v is None else _BLOCKS[0 if span == 0 else min(7, int((v - lo) / span * 7.999))]
        for v in values[-width:]
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _system_text(system: dict[str, float]) -> str:
    parts = []
    if "cpu_percent" in system:
        parts.append(f"cpu {system['cpu_percent']:.0f}%")
    if "ram_used_gib" in system:
        share = f" ({system['ram_percent']:.0f}%)" if "ram_percent" in system else ""
        parts.append(f"ram {system['ram_used_gib']:.1f} GiB{share}")
    if "proc_rss_gib" in system:
        parts.append(f"process {system['proc_rss_gib']:.2f} GiB")
    gpus = sorted({name.split("/", 1)[0] for name in system if name.startswith("gpu") and "/" in name})
    for gpu in gpus:
        get = {k.split("/", 1)[1]: v for k, v in system.items() if k.startswith(gpu + "/")}
        text = gpu
        if "util_percent" in get:
            text += f" {get['util_percent']:.0f}%"
        if "mem_used_gib" in get and "mem_total_gib" in get:
            text += f" {get['mem_used_gib']:.1f}/{get['mem_total_gib']:.0f} GiB"
        if "power_w" in get:
            text += f" {get['power_w']:.0f} W"
        if "temp_c" in get:
            text += f" {get['temp_c']:.0f}°C"
        parts.append(text)
    return "   ".join(parts)


def render(snap: dict[str, Any], width: int, height: int) -> Any:
    """The frame for one snapshot, sized to ``width`` x ``height`` cells."""
    from rich.console import Group  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from ..progress_file import format_duration  # noqa: PLC0415

    status = snap["status"]
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"{snap['experiment']}/{snap['run']}", style="bold")
    head.append("  ")
    head.append(status + (" (on " + str(snap["host"]) + ")" if snap.get("remote") else ""),
                style=_STATUS_COLOUR.get(status, ""))
    if snap["exit_code"] is not None:
        head.append(f"  exit {snap['exit_code']}")
    if snap["step"] is not None:
        total = f"/{snap['total']:g}" if snap["total"] else ""
        percent = f" ({snap['percent']:.0f}%)" if snap["percent"] is not None else ""
        head.append(f"   step {snap['step']:g}{total}{percent}")
    if snap["rate"]:
        head.append(f"   {snap['rate']:.3g} steps/s")
    if snap["eta_s"] is not None:
        head.append(f"   ETA {format_duration(snap['eta_s'])}")
    if snap["elapsed_s"] is not None:
        head.append(f"   elapsed {format_duration(snap['elapsed_s'])}")
    parts: list[Any] = [head]
    used = 1
    if snap["percent"] is not None:
        cells = max(10, width - 1)
        done = int(round(cells * min(100.0, snap["percent"]) / 100.0))
        bar = Text("━" * done, style=_STATUS_COLOUR.get(status, ""))
        bar.append("━" * (cells - done), style="grey23")
        parts.append(bar)
        used += 1
    if snap["error"] and status != "running":
        parts.append(Text(f"error: {snap['error']}", style="red", no_wrap=True, overflow="ellipsis"))
        used += 1
    if snap["system"]:
        parts.append(Text("system  " + _system_text(snap["system"]), no_wrap=True, overflow="ellipsis"))
        used += 1
    log_lines = snap["log_tail"]
    room = max(0, height - used - 2)  # the table's header and a blank line
    metric_rows = min(len(snap["metrics"]), max(0, room - min(len(log_lines), 3) - 1 if log_lines else room))
    if metric_rows:
        table = Table(box=None, pad_edge=False, show_edge=False, expand=False, header_style="bold")
        table.add_column("metric", no_wrap=True, overflow="ellipsis", max_width=max(8, width // 3))
        table.add_column("last", no_wrap=True, justify="right")
        spark_width = max(0, min(40, width - width // 3 - 16))
        table.add_column("recent", no_wrap=True, overflow="crop", max_width=spark_width)
        for name in list(snap["metrics"])[:metric_rows]:
            table.add_row(name, _fmt(snap["metrics"][name]), sparkline(snap["history"].get(name, []), spark_width))
        parts.append(table)
        used += metric_rows + 1
    free = max(0, height - used - 1)
    if log_lines and free:
        parts.append(Text(""))
        for line in log_lines[-free:]:
            parts.append(Text(line, style="dim", no_wrap=True, overflow="ellipsis"))
    return Group(*parts)


def _target_run(ctx: typer.Context, target: str | None, experiment: str | None, run: str | None) -> Run:
    ws = workspace(ctx)
    if target:
        if "/" in target:
            exp_name, _, run_name = target.partition("/")
        else:
            exp_name, run_name = experiment, target
        if run and run != run_name:
            raise UsageError(f"Two different runs given: {target!r} and -r {run!r}.")
        experiment, run = exp_name or experiment, run_name
    return state.resolve_run(ws, experiment, run).require()


@handle_errors
def watch(
    ctx: typer.Context,
    target: Annotated[
        Optional[str],
        typer.Argument(metavar="[RUN]", help="RUN or EXP/RUN (default: the current run).",
                       autocompletion=complete_target, show_default=False),
    ] = None,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    sweep: Annotated[
        Optional[str],
        typer.Option("--sweep", metavar="NAME", help="Watch the sweep NAME of the experiment instead of a run.",
                     autocompletion=complete_sweep, show_default=False),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    log_lines: Annotated[int, typer.Option("--log-lines", min=0, help="Lines of logs/log.txt to show.")] = 10,
    json_out: JsonOpt = False,
) -> None:
    """Watch a run or a sweep live, until it ends.

    Status, step, rate, ETA, metrics, system metrics and the log's tail; with --sweep, the
    sweep's state and one row per point. Reads files only, so it works on a run or sweep started
    in another shell, on another node or under SLURM. Exits when the run or sweep ends, with its
    code (0 completed, 1 failed, 130 interrupted); Ctrl-C stops watching and leaves it alone.

    \b
    Examples:
      exp watch
      exp watch demo/first --once
      exp watch --json
      exp watch --sweep lr -e demo
    """
    if sweep is not None:
        if target or run:
            raise UsageError("Watch a run or a sweep, not both.", hint="Drop RUN/-r, or drop --sweep.")
        _watch_sweep(ctx, sweep, experiment, once, json_out)
        return
    from ..run_snapshot import snapshot  # noqa: PLC0415

    run_obj = _target_run(ctx, target, experiment, run)
    if json_out:
        print_json(snapshot(run_obj, log_lines))
        return
    from rich.console import Console  # noqa: PLC0415

    console = Console(highlight=False)
    if once:
        snap = snapshot(run_obj, log_lines)
        console.print(render(snap, console.width, max(console.height, 12) if console.is_terminal else 200))
        return
    code, snap = _live(console, lambda: snapshot(run_obj, log_lines), render, lambda snap: snap["exit_code"], "run",
                       tall=200)
    if snap is not None and snap["status"] == "stale":
        note(f"{run_obj.id} stopped without recording how it ended (killed?).")
    raise typer.Exit(code)


def _watch_sweep(ctx: typer.Context, name: str, experiment: str | None, once: bool, json_out: bool) -> None:
    from ..state import resolve_experiment  # noqa: PLC0415
    from ..sweeps.snapshot import SweepWatcher  # noqa: PLC0415
    from ._watch_sweep import render_sweep  # noqa: PLC0415

    watcher = SweepWatcher(resolve_experiment(workspace(ctx), experiment), name)
    if json_out:
        print_json(watcher.take().to_dict())
        return
    from rich.console import Console  # noqa: PLC0415

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=1000)  # a log or a pipe: nothing to fit, params in full
    if once:
        frame = render_sweep(watcher.take(), console.width, max(console.height, 12) if console.is_terminal else 10000)
        console.print(frame)
        return
    code, snap = _live(console, watcher.take, render_sweep, lambda snap: snap.exit_code, "sweep", tall=10000)
    if snap is not None and snap.state == "stale":
        note(f"sweep {snap.record.experiment.name}/{name} stopped without recording how it ended (killed?).")
    raise typer.Exit(code)


def _live(console: Any, take: Callable[[], Any], draw: Callable[[Any, int, int], Any],
          exit_code: Callable[[Any], int | None], what: str, tall: int) -> tuple[int, Any]:
    """Redraw about once a second until ``exit_code(snapshot)`` is known; that code and the last snapshot.

    Off a terminal it only waits and prints the last frame (``tall`` lines at most). Ctrl-C: 130, None.
    """
    from rich.live import Live  # noqa: PLC0415

    snap = take()
    try:
        if not console.is_terminal:  # nothing to redraw: wait for the end, print its frame
            while exit_code(snap) is None:
                time.sleep(REFRESH_S)
                snap = take()
            console.print(draw(snap, console.width, tall))
            return int(exit_code(snap)), snap
        with Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop") as live:
            while True:
                live.update(draw(snap, console.width, console.height), refresh=True)
                if exit_code(snap) is not None:
                    break
                time.sleep(REFRESH_S)
                snap = take()
    except KeyboardInterrupt:
        status_line(f"stopped watching; the {what} goes on.")
        return EXIT_INTERRUPTED, None
    return int(exit_code(snap)), snap


