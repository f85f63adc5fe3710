"""``exp cancel``: stop a run or a whole sweep, through SLURM or by SIGTERM to the local process."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._complete import _current_experiment, completion_workspace, match_prefix, quiet
from ._errors import handle_errors
from ._output import info, print_json


@quiet
def complete_sweep_or_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """Sweeps, then runs, of the experiment on the line (or the current one); reads folders only."""
    from ..sweeps.record import sweep_names  # noqa: PLC0415

    ws = completion_workspace(ctx)
    name = (ctx.params.get("experiment") or _current_experiment(ws)) if ws else None
    if not name:
        return []
    exp = ws.experiment(name)
    return match_prefix(sweep_names(exp) + exp.run_names(), incomplete)


@handle_errors
def cancel(
    ctx: typer.Context,
    name: Annotated[
        Optional[str],
        typer.Argument(help="A sweep or run of the experiment (default: the current run).",
                       autocompletion=complete_sweep_or_run),
    ] = None,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel a run or sweep, on SLURM or here.

    SLURM jobs through scancel; local runs and sweeps by SIGTERM, so trainers may checkpoint.
    Training them again resumes.

    \b
    Examples:
      exp cancel -e lr grid
      exp cancel -e mnist -r big
    """
    from ..errors import UsageError  # noqa: PLC0415
    from ..state import resolve_experiment, resolve_run  # noqa: PLC0415
    from ..sweeps.cancel import cancel_runs, cancel_sweep  # noqa: PLC0415
    from ..sweeps.record import load_sweep, sweep_names  # noqa: PLC0415

    ws = workspace(ctx)
    target = name
    if target is not None and run is not None:
        raise UsageError("Give a sweep or run name, or -r RUN, not both.")
    if target is None:
        run_obj = resolve_run(ws, experiment, run)
        kind, name = "run", run_obj.name
        results = cancel_runs([run_obj.require()])
    else:
        exp = resolve_experiment(ws, experiment).require()
        if target in sweep_names(exp):
            kind, name = "sweep", target
            results = cancel_sweep(load_sweep(exp, target))
        else:
            run_obj = exp.run(target)
            if not run_obj.exists():
                sweeps = ", ".join(sweep_names(exp)) or "none"
                raise UsageError(f"{target!r} is neither a run nor a sweep of experiment {exp.name!r}.",
                                 hint=f"Sweeps: {sweeps}. Runs: exp ls {exp.name}")
            kind, name = "run", target
            results = cancel_runs([run_obj])
    if json_out:
        print_json({"kind": kind, "name": name, "cancelled": [r.to_dict() for r in results if r.action != "none"],
                    "not_running": [r.target for r in results if r.action == "none"]})
        return
    acted = [r for r in results if r.action != "none"]
    for r in acted:
        how = "cancelled through SLURM" if r.action == "scancel" else "asked to stop (SIGTERM)"
        info(f"{r.target}: {how}, {r.detail}")
    if not acted:
        states = ", ".join(sorted({r.detail for r in results})) or "nothing to cancel"
        info(f"Nothing to cancel: {kind} {name} is not running ({states}).")
