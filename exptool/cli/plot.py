"""``exp plot``: PNG curves of one or several runs' logged metrics."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ..workspace import Run, Workspace
from ._common import ExperimentOpt, JsonOpt, resolve_run, workspace
from ._complete import complete_run, completion_workspace, match_prefix, quiet
from ._errors import handle_errors
from ._output import info, print_json

_MAX_STEM = 120


@quiet
def _complete_metric(ctx: typer.Context, incomplete: str) -> list[str]:
    """Metric names from the header of the chosen (or current) runs' metrics CSV."""
    from ..metrics_file import metric_names  # noqa: PLC0415

    ws = completion_workspace(ctx)
    if ws is None:
        return []
    runs = _resolve_runs(ws, ctx.params.get("experiment"), ctx.params.get("run"))
    names: dict[str, None] = {}
    for run in runs:
        for name in metric_names(run.metrics_path):
            names.setdefault(name, None)
    return match_prefix(list(names), incomplete)


RunsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--run",
        "-r",
        help="Run name, or EXP/RUN; repeat to compare runs on one figure (default: the current run).",
        autocompletion=complete_run,
    ),
]
MetricOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--metric", "-m", help="Metric to plot; repeat for several (default: all).", autocompletion=_complete_metric
    ),
]
SmoothOpt = Annotated[
    float,
    typer.Option(
        "--smooth",
        "-s",
        metavar="K",
        show_default=False,
        help="Smoothing: an integer K >= 2 averages the last K points; 0 < K < 1 is TensorBoard's EMA weight "
        "(e.g. 0.6). Default: none.",
    ),
]
OutOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--out", "-o", help="Write here (.png, .pdf or .svg) instead of the first run's plots/ folder.", dir_okay=False
    ),
]
LogYOpt = Annotated[bool, typer.Option("--log-y", help="Logarithmic y axes.")]


def _resolve_runs(ws: Workspace, experiment: str | None, runs: list[str] | None) -> list[Run]:
    """The runs asked for (``-r NAME`` in the experiment of ``-e``/current, or ``-r EXP/RUN``), deduplicated."""
    if not runs:
        return [resolve_run(ws, experiment, None)]
    resolved: dict[str, Run] = {}
    for name in runs:
        if "/" in name:
            exp_name, run_name = name.split("/", 1)
            run = ws.run(exp_name, run_name)
        else:
            run = resolve_run(ws, experiment, name)
        resolved.setdefault(run.id, run)
    return list(resolved.values())


def _safe(name: str) -> str:
    """A metric or run name as a file-name part (``train/loss`` -> ``train_loss``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "metric"


def default_filename(metrics: list[str] | None, runs: list[Run]) -> str:
    """``loss-acc.png`` (``metrics.png`` for all), plus ``_vs_<other runs>`` when comparing runs."""
    stem = "-".join(_safe(m) for m in dict.fromkeys(metrics)) if metrics else "metrics"
    if len(runs) > 1:
        same_exp = len({r.experiment.name for r in runs}) == 1
        others = [r.name if same_exp else f"{r.experiment.name}.{r.name}" for r in runs[1:]]
        stem += "_vs_" + "-".join(_safe(o) for o in others)
    if len(stem) > _MAX_STEM:
        stem = f"{stem[: _MAX_STEM - 9]}-{hashlib.sha1(stem.encode()).hexdigest()[:8]}"
    return stem + ".png"


def _labels(runs: list[Run]) -> list[str]:
    """Run names when all runs share an experiment, else ``exp/run``."""
    if len({r.experiment.name for r in runs}) == 1:
        return [r.name for r in runs]
    return [r.id for r in runs]


@handle_errors
def plot(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunsOpt = None,
    metric: MetricOpt = None,
    smooth: SmoothOpt = 0.0,
    out: OutOpt = None,
    log_y: LogYOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Plot metric curves into the run's plots/.

    One panel per metric, one line per run (from logs/metrics.csv); prints the PNG's path.

    \b
    Examples:
      exp plot -m loss -m val_acc --smooth 0.6
      exp plot -r base -r wide -m val_loss --out compare.png
    """
    from ..plotting import load_metrics, plot_metrics  # noqa: PLC0415 - matplotlib only when plotting

    if smooth == 1:  # the library reads 1 as "none"; on the command line it is a mistake for 0.9 or 2
        raise UsageError(
            "Invalid smoothing 1: --smooth takes an integer window K >= 2 or a weight 0 < K < 1.",
            hint="Leave --smooth out for raw curves; e.g. --smooth 0.6 (TensorBoard's EMA) or --smooth 10.",
        )
    ws = workspace(ctx)
    runs = [r.require() for r in _resolve_runs(ws, experiment, run)]
    data = load_metrics(dict(zip(_labels(runs), runs, strict=True)), metric)
    metrics = list(dict.fromkeys(m for series in data.values() for m in series))
    path = (out if out is not None else runs[0].plots_dir / default_filename(metric, runs)).expanduser().absolute()
    exps = {r.experiment.name for r in runs}
    title = runs[0].id if len(runs) == 1 else (exps.pop() if len(exps) == 1 else None)
    plot_metrics(data, smooth=smooth, out=path, title=title, log_y=log_y)
    if json_out:
        print_json({"files": [str(path)], "metrics": metrics, "runs": [r.id for r in runs]})
    else:
        info(str(path))
