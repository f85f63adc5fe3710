"""``exp compare``: one row per run with the config keys that differ and the metrics."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ._common import JsonOpt, workspace
from ._complete import complete_experiment
from ._errors import handle_errors
from ._runs import (
    FormatOpt,
    SortOpt,
    WhereOpt,
    check_format,
    complete_key,
    complete_ref,
    dump_json,
    many_objects,
    print_rows,
)


def select_runs(ws: Any, experiments: list[str], refs: list[str], all_runs: bool, parts: tuple[str, ...]) -> list:
    """Rows of the named experiments and ``-r`` runs (default: the current experiment)."""
    from ..runs.index import PARTS, load_rows  # noqa: PLC0415
    from ..runs.refs import current_experiment, parse_ref  # noqa: PLC0415

    parts = parts or PARTS
    if all_runs:
        experiments = ws.experiment_names()
    elif not experiments and not refs:
        experiments = [current_experiment(ws)]
    for name in experiments:
        ws.experiment(name).require()
    rows = load_rows(ws, experiments, parts=parts) if experiments else []
    if refs:
        seen = {r.id for r in rows}
        runs = [parse_ref(ws, ref).require() for ref in refs]
        pairs = [(r.experiment.name, r.name) for r in runs if r.id not in seen]
        rows += load_rows(ws, runs=pairs, parts=parts)
    return rows


@handle_errors
@many_objects
def compare(
    ctx: typer.Context,
    experiments: Annotated[
        Optional[list[str]],
        typer.Argument(help="Experiments to compare (default: the current one).", autocompletion=complete_experiment),
    ] = None,
    runs: Annotated[
        Optional[list[str]],
        typer.Option("--run", "-r", help="A run (RUN or EXP/RUN) to include; repeat.", autocompletion=complete_ref),
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="Every run of every experiment.")] = False,
    where: WhereOpt = None,
    sort: SortOpt = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="Show at most N runs (after sorting).")] = None,
    columns: Annotated[
        Optional[list[str]],
        typer.Option(
            "--columns", "-c", metavar="KEYS", autocompletion=complete_key,
            help="Columns to show instead of the default, comma-separated: name,status,optimizer.lr,max(val_acc).",
        ),
    ] = None,
    all_params: Annotated[
        bool, typer.Option("--all-params", help="Show every config key, not only those that differ.")
    ] = False,
    fmt: FormatOpt = "table",
    json_out: JsonOpt = False,
) -> None:
    """Compare runs: the config keys that differ, and metrics.

    One row per run: name, status, tags, the config keys whose values differ among the shown runs
    (--all-params: all of them) and every metric's last value; while a run is running, also its
    percent done, rate (steps/s) and eta (seconds left). The table fits the terminal; --format
    csv, markdown or json carry every column uncut.

    \b
    Examples:
      exp compare mnist
      exp compare mnist --where 'val_acc>0.9' --sort -val_acc --limit 10
      exp compare mnist -r cifar/base --columns 'name,optimizer.lr,max(val_acc)'
      exp compare --all --format csv > runs.csv
    """
    from ..runs.compare import compare as build  # noqa: PLC0415
    from ..runs.query import needs_extrema  # noqa: PLC0415
    from ..runs.summary import as_dicts  # noqa: PLC0415

    fmt = check_format(fmt, json_out)
    ws = workspace(ctx)
    parts = ("record", "config", "metrics")
    if fmt == "json" or needs_extrema(where or (), sort or (), columns or ()):
        parts += ("extrema",)
    rows = select_runs(ws, experiments or [], runs or [], all_runs, parts)
    from ..runs.index import refine_live  # noqa: PLC0415

    refine_live(rows)  # before --where
    result = build(rows, where=where or (), sort=sort or (), limit=limit, columns=columns or (),
                   all_params=all_params)
    labels = [k.label for k in result.columns]
    if fmt == "json":
        values = result.value_rows()
        dump_json(
            {
                "workspace": str(ws.root),
                "columns": labels,
                "differing": result.differing,
                "total": result.total,
                "shown": len(result.rows),
                "runs": [
                    {
                        "experiment": r.experiment,
                        "name": r.name,
                        "path": r.path,
                        "status": r.status,
                        "created": r.record.get("created"),
                        "tags": r.tags,
                        "note": r.record.get("note"),
                        "trainer": r.record.get("trainer"),
                        "last_step": r.last_step,
                        "progress": r.progress,
                        "config": r.config,
                        "metrics": as_dicts(r.stats),
                        "values": dict(zip(labels, v, strict=True)),
                        "problems": r.problems,
                    }
                    for r, v in zip(result.rows, values, strict=True)
                ],
            },
            compact=True,
        )
        return
    _warn_problems(result.rows)
    if not result.rows:
        print("No runs match." if rows else "No runs to compare.")
        return
    print_comparison(result, fmt)
    if result.total > len(result.rows):
        typer.echo(f"note: showing {len(result.rows)} of {result.total} runs (--limit).", err=True)


def print_comparison(result: Any, fmt: str = "table") -> None:
    """A comparison's table as ``exp compare`` prints it (also ``exp sweep``'s results)."""
    status_at = {i for i, k in enumerate(result.columns) if k.label == "status"}
    print_rows([k.label for k in result.columns], result.table(), fmt, status_at, priorities=_priorities(result))


def _priorities(result: Any) -> list[float]:
    """What a narrow terminal keeps longest: names and status, then metrics, differing config, tags, the rest."""
    out = []
    for i, key in enumerate(result.columns):
        if key.kind == "field":
            rank = 0 if key.label in ("name", "id", "status") else 1 if key.label in ("percent", "eta") else 3
        elif key.kind == "metric":
            rank = 1
        else:
            rank = 2 if key.label in result.differing or key.label.removeprefix("config.") in result.differing else 4
        out.append(rank * 1000 + i)
    return out


def _warn_problems(rows: list) -> None:
    bad = [r for r in rows if r.problems]
    for r in bad[:5]:
        typer.echo(f"warning: {r.id}: {'; '.join(r.problems)}.", err=True)
    if len(bad) > 5:
        typer.echo(f"warning: {len(bad) - 5} more runs have files that cannot be read.", err=True)
