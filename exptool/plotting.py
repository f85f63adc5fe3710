"""Curves of logged metrics across runs (matplotlib's Agg backend). Image grids live in :mod:`exptool.images`.

numpy and matplotlib are imported inside the functions that need them, so importing this
module stays cheap. Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas, never
with ``pyplot``: no global figure registry, no display needed, nothing to close.

Smoothing (:func:`smooth_curve`), by the value of ``k``:

* ``k`` an integer >= 2: trailing moving average over the last ``k`` points (fewer at the start):
  point ``i`` becomes the mean of ``values[max(0, i - k + 1) : i + 1]``. It never uses later points.
* ``0 < k < 1``: TensorBoard's smoothing, an exponential moving average with weight ``k`` (0.6 is
  TensorBoard's default), debiased so the start is not pulled towards zero:
  ``ema_i = k * ema_{i-1} + (1 - k) * x_i`` and ``s_i = ema_i / (1 - k ** (i + 1))``.
* ``k`` 0 or 1: no smoothing.

Both work on point indices, not step distances, and keep NaN or infinite values where they are
while leaving them out of the averages.
"""

from __future__ import annotations

import csv
import io
import math
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ._atomic import atomic_write_bytes
from .errors import NotFoundError, UsageError
from .metrics_file import read_metrics

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from matplotlib.figure import Figure

    from .workspace import Run

Series = list[tuple[int, float]]
"""One metric's points, ``[(step, value), ...]``, as :func:`exptool.metrics_file.read_metrics` gives them."""

MetricsSource = Union["Run", str, os.PathLike, Mapping[str, Sequence[tuple[int, float]]]]
"""A run, a run folder or metrics CSV path, or already-read metrics ``{name: [(step, value), ...]}``."""

FIGURE_FORMATS = ("png", "pdf", "svg")
PANEL_SIZE = (5.0, 3.5)  # inches per subplot; at the default 100 dpi a subplot is 500 x 350 pixels
_LINE_STYLES = ("-", "--", ":", "-.")


# --------------------------------------------------------------------------------------- smoothing


def _check_smoothing(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 0:
        problem = ""
    elif k > 1 and k != int(k):
        problem = ": a window must be a whole number of points"
    else:
        return float(k)
    raise UsageError(
        f"Invalid smoothing {k!r}{problem}.",
        hint="Use an integer window K >= 2 (moving average) or a weight in (0, 1) (TensorBoard's EMA).",
    )


def smooth_curve(values: Iterable[float], k: float = 0) -> np.ndarray:
    """Smooth a curve, keeping its length (see the module docstring for the exact formulas).

    Args:
        values: the curve's values, in order.
        k: an integer window >= 2 for a trailing moving average, a weight in (0, 1) for TensorBoard's
            debiased exponential moving average, or 0 / 1 for none.

    Returns:
        A float64 numpy array as long as ``values``. NaN and infinite inputs stay in place and are
        left out of the averages.

    Raises:
        UsageError: ``k`` is negative, not finite, or a fractional window above 1.
    """
    import numpy as np  # noqa: PLC0415

    k = _check_smoothing(k)
    x = np.array(list(values) if not hasattr(values, "__len__") else values, dtype=np.float64).ravel()
    if k in (0.0, 1.0) or x.size == 0:
        return x.copy()
    finite = np.isfinite(x)
    out = x.copy()
    if k > 1:
        window = int(k)
        sums = np.concatenate(([0.0], np.cumsum(np.where(finite, x, 0.0))))
        counts = np.concatenate(([0], np.cumsum(finite)))
        idx = np.arange(x.size)
        start = np.maximum(idx - window + 1, 0)
        n = counts[idx + 1] - counts[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (sums[idx + 1] - sums[start]) / n
        out[finite] = means[finite]
        return out
    ema, decay, smoothed = 0.0, 1.0, []
    for value in x[finite].tolist():  # plain floats: a Python loop over numpy scalars is 5x slower
        ema = k * ema + (1.0 - k) * value
        decay *= k
        smoothed.append(ema / (1.0 - decay))
    out[finite] = smoothed
    return out


# ------------------------------------------------------------------------------------ reading data


def _is_series_mapping(obj: Mapping) -> bool:
    """True for ``{metric: [(step, value), ...]}``, False for ``{label: source}``."""
    return all(isinstance(v, Sequence) and not isinstance(v, (str, bytes)) for v in obj.values())


def _csv_of(path: Path) -> Path:
    """The metrics CSV for a run folder, a logs folder or a CSV file."""
    if path.is_dir():
        for candidate in (path / "logs" / "metrics.csv", path / "metrics.csv"):
            if candidate.exists():
                return candidate
        return path / "logs" / "metrics.csv"
    return path


def _label_of(source: Any) -> str:
    from .workspace import Run  # noqa: PLC0415

    if isinstance(source, Run):
        return source.id
    if isinstance(source, (str, os.PathLike)):
        csv_path = _csv_of(Path(source).expanduser().absolute())
        if csv_path.name == "metrics.csv" and csv_path.parent.name == "logs":
            run_dir = csv_path.parent.parent
            return f"{run_dir.parent.name}/{run_dir.name}"
        return csv_path.stem
    return "run"


def _labelled(runs: Any) -> dict[str, Any]:
    """``{label: source}`` from one source, a sequence of sources or a mapping of labels to sources."""
    from .workspace import Run  # noqa: PLC0415

    if isinstance(runs, Mapping):
        if _is_series_mapping(runs):
            return {"run": runs}
        return {str(label): source for label, source in runs.items()}
    if isinstance(runs, (Run, str, os.PathLike)):
        runs = [runs]
    out: dict[str, Any] = {}
    for source in runs:
        label = base = _label_of(source)
        n = 2
        while label in out:
            label, n = f"{base} ({n})", n + 1
        out[label] = source
    if not out:
        raise UsageError("No runs to plot.")
    return out


def _clean(points: Iterable[Sequence[float]], typed: bool = False) -> Series:
    """Points sorted by step; for a step logged twice (a resumed run) the later value wins.

    ``typed``: the points are already ``(int, float)`` tuples (as read_metrics gives them).
    """
    points = list(points)
    steps = [p[0] for p in points]
    if all(map(operator.lt, steps, steps[1:])):  # the usual case, much faster than the dict
        return points if typed else [(int(step), float(value)) for step, value in points]
    return sorted({int(step): float(value) for step, value in points}.items())  # later duplicates win


def _read_source(label: str, source: Any) -> dict[str, Series]:
    from .workspace import Run  # noqa: PLC0415

    if isinstance(source, Mapping):
        return {str(name): _clean(points) for name, points in source.items()}
    if isinstance(source, Run):
        source.require()
        path = source.metrics_path
    elif isinstance(source, (str, os.PathLike)):
        given = Path(source).expanduser()
        if not given.exists():
            raise NotFoundError(f"{given} does not exist.", hint="Give a run folder or a metrics CSV file.")
        path = _csv_of(given)
    else:
        raise TypeError(f"cannot plot metrics from a {type(source).__name__}")
    hint = "Log metrics with exptool's Logger (its CSV writer fills logs/metrics.csv) and try again."
    what = f"Run {source.id}" if isinstance(source, Run) else label
    if not path.is_file():
        raise NotFoundError(f"{what} has no metrics yet ({path} does not exist).", hint=hint)
    try:
        series = read_metrics(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"Cannot read {path}: {exc}.") from None
    cleaned = {name: _clean(points, typed=True) for name, points in series.items()}
    if not any(cleaned.values()):
        raise NotFoundError(f"{what} has no metrics yet ({path} holds no values).", hint=hint)
    return cleaned


def _union(names: Iterable[Iterable[str]]) -> list[str]:
    """The names of all groups, each once, in order of first appearance."""
    return list(dict.fromkeys(name for group in names for name in group))


def load_metrics(
    runs: MetricsSource | Sequence[MetricsSource] | Mapping[str, MetricsSource],
    metrics: str | Sequence[str] | None = None,
) -> dict[str, dict[str, Series]]:
    """Read and check the metrics of one or several runs, ready for :func:`plot_metrics`.

    Args:
        runs: a run (``exptool.Run``), a run folder or metrics CSV path, already-read metrics
            ``{name: [(step, value), ...]}``, a sequence of those, or ``{label: source}``.
        metrics: metric name(s) to keep (default: every metric that has values).

    Returns:
        ``{label: {metric: [(step, value), ...]}}`` with each series sorted by step (for a step logged
        twice, the later value wins), only the metrics asked for, and labels ``exp/run`` by default.

    Raises:
        NotFoundError: a run or file does not exist, or a run has no metric values yet.
        UsageError: a metric no run has (the message lists the known ones), or a run without any of
            the metrics asked for.
    """
    data = {label: _read_source(label, source) for label, source in _labelled(runs).items()}
    known = _union(data.values())
    with_values = _union([n for n, pts in series.items() if pts] for series in data.values())
    if metrics is None:
        wanted = with_values
    else:
        wanted = _union([[metrics] if isinstance(metrics, str) else metrics])
        for name in wanted:
            if name not in known:
                import difflib  # noqa: PLC0415

                close = difflib.get_close_matches(name, known, n=1)
                guess = f"Did you mean {close[0]!r}? " if close else ""
                raise UsageError(f"Unknown metric {name!r}.", hint=f"{guess}Known metrics: {', '.join(known)}.")
            if name not in with_values:
                raise UsageError(
                    f"Metric {name!r} has no values yet.", hint=f"Metrics with values: {', '.join(with_values)}."
                )
    if not wanted:
        raise UsageError("No metrics to plot.")
    selected = {label: {m: series[m] for m in wanted if series.get(m)} for label, series in data.items()}
    for label, series in selected.items():
        if not series and len(selected) > 1:
            has = ", ".join(n for n, pts in data[label].items() if pts)
            raise UsageError(
                f"{label} has none of the metrics asked for ({', '.join(wanted)}).", hint=f"It has: {has}."
            )
    return selected


# ---------------------------------------------------------------------------------------- figures


def _figure_format(out: Path) -> str:
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise UsageError(
            f"Cannot save a plot as {out.name!r}: unknown file type.",
            hint=f"End the file name with one of: {', '.join('.' + f for f in FIGURE_FORMATS)}.",
        )
    return fmt


def save_figure(fig: Figure, out: str | os.PathLike, dpi: float | None = None) -> Path:
    """Save a figure atomically (PNG, PDF or SVG by the file's suffix), creating missing folders.

    Returns:
        The absolute path written.
    """
    path = Path(out).expanduser().absolute()
    fmt = _figure_format(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi or fig.dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _decimate(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~4 points per bucket (first, min, max, last) for long curves: the drawn line is the same
    at one bucket per pixel column, and drawing 1M points becomes drawing a few thousand.

    Non-finite points are all kept, so NaN gaps stay gaps.
    """
    import numpy as np  # noqa: PLC0415

    n = len(y)
    if n <= 4 * buckets:
        return x, y
    size = math.ceil(n / buckets)
    rows = math.ceil(n / size)
    finite = np.isfinite(y)
    padded = np.full(rows * size, np.nan)
    padded[:n] = np.where(finite, y, np.nan)
    grid = padded.reshape(rows, size)
    starts = np.arange(rows) * size
    lowest = np.argmin(np.where(np.isnan(grid), np.inf, grid), axis=1)
    highest = np.argmax(np.where(np.isnan(grid), -np.inf, grid), axis=1)
    ends = np.minimum(starts + size, n) - 1
    keep = np.unique(np.concatenate((starts, starts + lowest, starts + highest, ends, np.flatnonzero(~finite))))
    keep = keep[keep < n]
    return x[keep], y[keep]


def plot_metrics(
    runs: MetricsSource | Sequence[MetricsSource] | Mapping[str, MetricsSource],
    metrics: str | Sequence[str] | None = None,
    smooth: float = 0,
    out: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    log_y: bool = False,
    dpi: float = 100,
    panel_size: tuple[float, float] = PANEL_SIZE,
) -> Figure:
    """Plot metric curves of one or several runs: one subplot per metric, one line per run.

    Subplots are laid out in 1, 2 or 3 columns (1 metric, 2-4 metrics, more); the image is
    ``columns * panel_size[0] * dpi`` by ``rows * panel_size[1] * dpi`` pixels (500 x 350 for one
    metric by default). With smoothing, the raw curve is drawn faintly behind the smoothed one.

    Args:
        runs: what :func:`load_metrics` accepts (runs, paths, read metrics, or ``{label: source}``).
        metrics: metric name(s) to plot (default: all that have values).
        smooth: see :func:`smooth_curve` (0: none; an integer >= 2: moving average; (0, 1): EMA).
        out: save the figure there (``.png``, ``.pdf`` or ``.svg``), atomically, creating folders.
        title: figure title (default: the run's label when there is one run).
        log_y: logarithmic y axes.
        dpi: pixels per inch of the figure.
        panel_size: width and height of one subplot, in inches.

    Returns:
        The matplotlib ``Figure`` (Agg canvas, not registered with pyplot).

    Raises:
        NotFoundError, UsageError: as :func:`load_metrics`; UsageError for a bad ``smooth`` or file type.
    """
    smooth = _check_smoothing(smooth)
    if out is not None:
        _figure_format(Path(out))
    data = load_metrics(runs, metrics)
    names = _union(series.keys() for series in data.values())

    import numpy as np  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    ncols = 1 if len(names) == 1 else 2 if len(names) <= 4 else 3
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(ncols * panel_size[0], nrows * panel_size[1]), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    smoothing = smooth not in (0.0, 1.0)
    buckets = max(1, int(panel_size[0] * dpi))  # one per pixel column of a subplot
    for ax, name in zip(axes, names, strict=False):
        for i, (label, series) in enumerate(data.items()):
            points = series.get(name)
            if not points:
                continue
            steps = np.array([p[0] for p in points], dtype=np.float64)
            values = np.array([p[1] for p in points], dtype=np.float64)
            style = {"color": f"C{i % 10}", "linestyle": _LINE_STYLES[(i // 10) % len(_LINE_STYLES)]}
            marker = "o" if len(points) == 1 else None
            if smoothing:
                ax.plot(*_decimate(steps, values, buckets), alpha=0.25, linewidth=1, marker=marker, **style)
                smoothed = smooth_curve(values, smooth)
                ax.plot(*_decimate(steps, smoothed, buckets), label=label, linewidth=1.5, **style)
            else:
                ax.plot(*_decimate(steps, values, buckets), label=label, linewidth=1.5, marker=marker, **style)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if log_y:
            ax.set_yscale("log")
        if len(data) > 1:
            ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    if title is None and len(data) == 1:
        title = next(iter(data))
    if title:
        fig.suptitle(title)
    if out is not None:
        save_figure(fig, out)
    return fig
