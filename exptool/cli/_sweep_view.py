"""How ``exp sweep`` shows a sweep: a live table on a terminal, plain lines otherwise, results at the end."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from ..sweeps.results import PointState, format_value, sort_points
from ._errors import print_error, silence_stdout
from ._output import STATUS_STYLE, info, progress_cells, style, use_color

ACTIVE = ("running", "queued")


def params_text(point: PointState) -> str:
    return " ".join(f"{k.lstrip('+')}={format_value(v)}" for k, v in point.params.items())


def _elapsed(point: PointState) -> str:
    if point.status in ACTIVE and point.started is not None:
        return f"{time.monotonic() - point.started:.0f}s"
    return "-" if point.duration_s is None else f"{point.duration_s:.1f}s"


def _metric(point: PointState) -> str:
    return "-" if point.metric is None else format_value(point.metric)


def point_row(point: PointState, progress: dict[str, Any] | None = None) -> list[str]:
    """A point's cells: point, params, status, step, [%, steps/s, ETA: with ``progress``,] metric, elapsed."""
    cells = [point.run.name, params_text(point), point.status, "-" if point.step is None else str(point.step)]
    if progress is not None:
        cells += progress_cells(progress)
    return cells + [_metric(point), _elapsed(point)]


def headers(metric: str | None, progress: bool = False) -> list[str]:
    """Column names matching :func:`point_row`."""
    return ["point", "params", "status", "step", *(("%", "steps/s", "ETA") if progress else ()),
            metric or "metric", "elapsed"]


# Which columns give way first when a table is too wide for the terminal (params shrinks instead).
_DROP_ORDER = ("steps/s", "ETA", "elapsed", "%")
_MIN_PARAMS = 12


def _fit(names: list[str], rows: list[list[str]], width: int | None) -> tuple[list[int], int | None]:
    """The columns that fit in ``width`` (dropping the least useful first) and the params column's width."""
    keep = list(range(len(names)))
    if width is None:
        return keep, None
    natural = [max([len(names[i])] + [len(r[i]) for r in rows]) for i in keep]
    params = names.index("params")

    def others() -> int:  # every kept column but params, with two spaces between columns
        return sum(natural[i] for i in keep if i != params) + 2 * (len(keep) - 1)

    for name in _DROP_ORDER:
        if others() + min(natural[params], _MIN_PARAMS) <= width:
            break
        if name in names:
            keep.remove(names.index(name))
    return keep, max(len("params"), min(natural[params], width - others()))


def points_table(points: list[PointState], metric: str | None, room: int,
                 progress: dict[int, dict[str, Any]] | None = None, width: int | None = None) -> Any:
    """The points as a rich table of at most ``room`` lines (active points first when they do not fit).

    ``progress`` (point index -> percent/rate/ETA, as ``exp watch --sweep`` reads them) adds columns.
    With ``width``, the params column is cut (with an ellipsis) and the least useful columns are
    left out so that rows fit; cells are never wrapped.
    """
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    names = headers(metric, progress is not None)
    shown = points
    room = max(2, room)
    if len(shown) > room - 1:  # the active ones first, then the rest in order; a line says how many are left
        shown = sorted(shown, key=lambda p: (p.status not in ACTIVE, p.index))[:room - 2]
    rows = [point_row(p, None if progress is None else progress.get(p.index, {})) for p in shown]
    keep, params_width = _fit(names, rows, width)
    table = Table(box=None, pad_edge=False, header_style="bold", caption_justify="left", caption_style="dim")
    for i in keep:
        table.add_column(names[i], overflow="ellipsis", no_wrap=True,
                         max_width=params_width if names[i] == "params" else None)
    for point, cells in zip(shown, rows, strict=True):
        code = STATUS_STYLE.get(point.status)
        table.add_row(*(Text(cells[i], style=_rich_style(code) if i == 2 and code else "") for i in keep))
    if len(shown) < len(points):
        table.caption = f"... {len(points) - len(shown)} more"
    return table


class LineView:
    """One line per start and end (what a log file or CI shows); failures at once, on stderr."""

    def __init__(self, metric: str | None, out: Any = None):
        self.metric = metric
        self.out = out or sys.stdout

    def __enter__(self) -> LineView:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def say(self, text: str) -> None:
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except OSError:
            silence_stdout(stderr=True)

    def event(self, kind: str, point: PointState) -> None:
        try:
            self._event(kind, point)
        except OSError:
            silence_stdout(stderr=True)

    def _event(self, kind: str, point: PointState) -> None:
        name = point.run.id
        if kind == "start":
            how = f" ({point.note})" if point.note else ""
            self.say(f"{point.status:<11} {name}  {params_text(point)}{how}")
        elif kind == "skip":
            self.say(f"{'skipped':<11} {name}  {point.status}: {point.note or ''}".rstrip())
        elif kind == "end":
            if point.status == "failed":
                self.out.flush()
                print_error(f"{name} failed: {point.error}", f"Its log: {point.run.logs_dir}")
                return
            metric = f"  {self.metric}={_metric(point)}" if self.metric else ""
            took = f" in {point.duration_s:.1f} s" if point.duration_s is not None else ""
            self.say(f"{point.status:<11} {name}{took}{metric}")


class LiveView(LineView):
    """A table redrawn in place (rich), with failures printed above it as they happen."""

    def __init__(self, metric: str | None, points: list[PointState]):
        super().__init__(metric)
        self.points = points
        self._live: Any = None

    def __enter__(self) -> LiveView:
        from rich.live import Live  # noqa: PLC0415

        # Redrawn from the sweep's own loop (every tick), never from a thread of rich's: a write
        # that fails because the terminal is gone then fails where it can be caught.
        self._live = Live(self._render(), auto_refresh=False, transient=True, redirect_stderr=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            try:
                self._live.update(self._render(), refresh=True)
                self._live.__exit__(*exc)
            except OSError:
                silence_stdout(stderr=True)
            self._live = None

    def _render(self) -> Any:
        size = shutil.get_terminal_size((100, 30))
        return points_table(self.points, self.metric, max(5, size.lines - 6) + 1, width=size.columns)

    def _event(self, kind: str, point: PointState) -> None:
        if self._live is None:
            return
        if kind == "end" and point.status == "failed":
            self._live.console.print(f"[red]error:[/] {point.run.id} failed: {point.error}", markup=True,
                                     highlight=False)
        self._live.update(self._render(), refresh=True)


def _rich_style(code: str) -> str:
    names = {"32": "green", "36": "cyan", "31": "red", "33": "yellow", "2": "dim", "34": "blue", "35": "magenta"}
    return names.get(code, "default")


def make_view(metric: str | None, points: list[PointState], json_out: bool) -> LineView:
    """A live table on a terminal (not with --json), plain lines otherwise (stderr with --json)."""
    if not json_out and sys.stdout.isatty() and use_color():
        return LiveView(metric, points)
    return LineView(metric, sys.stderr if json_out else sys.stdout)


def print_results(points: list[PointState], metric: str | None, mode: str) -> None:
    """The results as ``exp compare`` prints them: one row per started point, best first by the metric."""
    from ..runs.compare import compare  # noqa: PLC0415
    from ..runs.index import load_rows, refine_live  # noqa: PLC0415
    from .compare import print_comparison  # noqa: PLC0415

    started = [p for p in sort_points(points, metric, mode) if p.run.exists()]
    if started:
        ws = started[0].run.workspace
        rows = load_rows(ws, runs=[(p.run.experiment.name, p.run.name) for p in started],
                         parts=("record", "config", "metrics"))
        refine_live(rows)
        print_comparison(compare(rows))
    if len(started) < len(points):
        info(f"({len(points) - len(started)} point(s) not started yet)")


def summary_line(points: list[PointState]) -> str:
    counts: dict[str, int] = {}
    for point in points:
        counts[point.status] = counts.get(point.status, 0) + 1
    order = ("completed", "failed", "interrupted", "running", "queued", "busy", "pending")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return ", ".join(style(p, STATUS_STYLE.get(p.split(" ", 1)[1], "0")) for p in parts) or "no points"
