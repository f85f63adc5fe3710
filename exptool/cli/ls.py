"""``exp ls``: experiments, or the runs of one (--where/--sort), with status, tags, step and last metrics."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .. import state
from ._common import JsonOpt, workspace
from ._complete import complete_experiment
from ._errors import handle_errors
from ._output import format_metrics, info, print_json, print_table, progress_cells
from ._runs import SortOpt, WhereOpt, many_objects, print_rows


@handle_errors
@many_objects
def ls(
    ctx: typer.Context,
    experiment: Annotated[
        Optional[str],
        typer.Argument(help="List the runs of this experiment.", autocompletion=complete_experiment),
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="List the runs of every experiment.")] = False,
    where: WhereOpt = None,
    sort: SortOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List experiments, or the runs of one.

    For runs: created, status, tags, last step and last metrics, filtered and sorted with --where
    and --sort (cut to the terminal's width; --json
    has all of them).

    \b
    Examples:
      exp ls
      exp ls mnist
      exp ls mnist --where 'val_acc>0.9' --sort -val_acc
      exp ls --all --json
    """
    ws = workspace(ctx)
    # Mark what `exp show` would call current (flag-less: environment, then state file).
    exp_now, run_now = state.resolve_current(ws.root)
    if experiment is None and not all_runs and not where and not sort:
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
    from ..runs.index import load_rows, refine_live  # noqa: PLC0415
    from ..runs.query import needs_extrema, select  # noqa: PLC0415

    if experiment is not None:
        ws.experiment(experiment).require()
    parts = ("record", "metrics") + (("config",) if where or sort else ())
    if needs_extrema(where or (), sort or ()):
        parts += ("extrema",)
    found = load_rows(ws, [experiment] if experiment is not None else None, parts=parts)
    refine_live(found)  # before --where
    chosen = select(found, where or (), sort or ())
    if json_out:
        payload: dict[str, Any] = {"workspace": str(ws.root), "runs": [_as_json(r) for r in chosen]}
        if experiment:
            payload["experiment"] = experiment
        print_json(payload)
        return
    if not chosen:
        if found:
            info("No runs match.")
            return
        where_text = f"experiment {experiment!r}" if experiment else "this workspace"
        info(f"No runs in {where_text} yet. Create one with: exp init-run -e {experiment or 'EXP'} -r RUN")
        return
    cur = (exp_now.value, run_now.value)
    names = [("* " if (r.experiment, r.name) == cur else "  ") + (r.name if experiment else r.id) for r in chosen]
    headers = ["  run", "created", "status", "step", "last metrics"]
    columns: list[list[Any]] = [
        names,
        [(r.record.get("created") or "-").replace("T", " ").split("+")[0] for r in chosen],
        [r.status for r in chosen],
        [r.last_step for r in chosen],
        [format_metrics(r.last_metrics()) for r in chosen],
    ]
    if any(r.progress for r in chosen):
        headers[4:4] = ["done", "steps/s", "eta"]
        columns[4:4] = [list(cells) for cells in zip(*(progress_cells(r.progress or {}) for r in chosen), strict=True)]
    if any(r.tags for r in chosen):
        headers.insert(3, "tags")
        columns.insert(3, [r.tags for r in chosen])
    print_rows(headers, columns, "table", styled={2})


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "experiment": row.experiment,
        "name": row.name,
        "path": row.path,
        "created": row.record.get("created"),
        "status": row.status,
        "last_step": row.last_step,
        "last_metrics": row.last_metrics(),
        "tags": row.tags,
        "progress": row.progress,
    }
