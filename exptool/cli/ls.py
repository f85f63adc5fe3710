"""``exp ls``: experiments, or the runs of one, with status, step and last metrics."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .. import state
from ..workspace import Run
from ._common import JsonOpt, workspace
from ._complete import complete_experiment
from ._errors import handle_errors
from ._output import STATUS_STYLE, format_metrics, info, print_json, print_table


def _cluster_statuses(summaries: list[dict[str, Any]]) -> None:
    """``queued``/``running`` of runs on SLURM from SLURM itself (one squeue call; none without such runs)."""
    from ..training.launchers.slurm_state import refine_statuses  # noqa: PLC0415 - stdlib only

    refine_statuses([(s.pop("_run"), s.pop("_record"), s) for s in summaries])


def run_summary(run: Run) -> dict[str, Any]:
    """The facts ``exp ls`` shows for one run (``_run``/``_record`` are dropped before printing)."""
    record = run.read_record()
    step, metrics = run.last_metrics()
    status = run.status(record)
    return {
        "_run": run,
        "_record": record,
        "experiment": run.experiment.name,
        "name": run.name,
        "path": str(run.path),
        "created": record.get("created"),
        "status": status,
        "last_step": step,
        "last_metrics": metrics,
    }


@handle_errors
def ls(
    ctx: typer.Context,
    experiment: Annotated[
        Optional[str],
        typer.Argument(help="List the runs of this experiment.", autocompletion=complete_experiment),
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="List the runs of every experiment.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List experiments, or the runs of one.

    For runs: created, status, last step and last metrics (cut to the terminal's width; --json
    has all of them).

    \b
    Examples:
      exp ls
      exp ls mnist
      exp ls --all --json
    """
    ws = workspace(ctx)
    # Mark what `exp show` would call current (flag-less: environment, then state file).
    exp_now, run_now = state.resolve_current(ws.root)
    if experiment is None and not all_runs:
        exps = []
        for exp in ws.experiments():
            exps.append({"name": exp.name, "path": str(exp.path), "runs": len(exp.run_names())})
        if json_out:
            print_json({"workspace": str(ws.root), "experiments": exps})
            return
        if not exps:
            info("No experiments yet. Create a run with: exp init-run -e EXP -r RUN")
            return
        mark = exp_now.value
        rows = [[("* " if e["name"] == mark else "  ") + e["name"], str(e["runs"])] for e in exps]
        print_table(["  experiment", "runs"], rows)
        return
    exps = [ws.experiment(experiment).require()] if experiment is not None else ws.experiments()
    runs = [run_summary(r) for exp in exps for r in exp.runs()]
    _cluster_statuses(runs)
    if json_out:
        payload: dict[str, Any] = {"workspace": str(ws.root), "runs": runs}
        if experiment:
            payload["experiment"] = experiment
        print_json(payload)
        return
    if not runs:
        where = f"experiment {experiment!r}" if experiment else "this workspace"
        info(f"No runs in {where} yet. Create one with: exp init-run -e {experiment or 'EXP'} -r RUN")
        return
    cur = (exp_now.value, run_now.value)
    rows, styles = [], []
    for r in runs:
        name = r["name"] if experiment else f"{r['experiment']}/{r['name']}"
        marker = "* " if (r["experiment"], r["name"]) == cur else "  "
        rows.append(
            [
                marker + name,
                (r["created"] or "-").replace("T", " ").split("+")[0],
                r["status"],
                "-" if r["last_step"] is None else str(r["last_step"]),
                format_metrics(r["last_metrics"]),
            ]
        )
        styles.append([None, None, STATUS_STYLE.get(r["status"]), None, None])
    print_table(["  run", "created", "status", "step", "last metrics"], rows, styles, flex=4)
