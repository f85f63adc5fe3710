"""``exp set``: make an experiment and run current for this workspace."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from .. import state
from ..errors import UsageError
from ..names import validate_name
from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._complete import complete_run, complete_target
from ._errors import handle_errors
from ._output import info, note, print_json


@handle_errors
def set_current(
    ctx: typer.Context,
    target: Annotated[
        Optional[str],
        typer.Argument(help="EXP, or EXP/RUN.", autocompletion=complete_target, show_default=False),
    ] = None,
    run_arg: Annotated[
        Optional[str], typer.Argument(metavar="[RUN]", help="Run name.", autocompletion=complete_run)
    ] = None,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    clear: Annotated[bool, typer.Option("--clear", help="Forget the current experiment and run.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set the current experiment and/or run.

    Stored per workspace; EXP_EXPERIMENT/EXP_RUN in the environment win over it.

    \b
    Examples:
      exp set mnist/baseline      # or: exp set mnist baseline
      exp set -r wide             # another run of the current experiment
      exp set --clear
    """
    ws = workspace(ctx)
    if clear:
        if target or run_arg or experiment or run:
            raise UsageError("--clear takes no names.")
        state.save_state(ws.root, experiment=None, run=None)
        if json_out:
            print_json({"experiment": None, "run": None})
        else:
            info("Cleared the current experiment and run.")
        return
    pos_exp, pos_run = target, run_arg
    if target and "/" in target and run_arg is None:
        pos_exp, _, pos_run = target.partition("/")
    for value, kind in ((pos_exp, "experiment"), (pos_run, "run"), (experiment, "experiment"), (run, "run")):
        if value == "":  # a script's unset variable: refuse it rather than keep the old run current
            validate_name(value, f"{kind} name")
    if pos_exp and experiment and pos_exp != experiment:
        raise UsageError(f"Two different experiments given: {pos_exp!r} and -e {experiment!r}.")
    if pos_run and run and pos_run != run:
        raise UsageError(f"Two different runs given: {pos_run!r} and -r {run!r}.")
    exp_name, run_name = pos_exp or experiment, pos_run or run
    if not exp_name and not run_name:
        raise UsageError("Say what to set: exp set EXP [RUN], or -e EXP / -r RUN.")
    if exp_name:
        exp = ws.experiment(exp_name).require()
    else:
        current = state.resolve_current(ws.root)[0].value
        if not current:
            raise UsageError("No current experiment to set a run in.", hint=f"Use: exp set EXP {run_name}")
        exp = ws.experiment(current).require()
    if run_name:
        run_obj = exp.run(run_name).require()
        entry = state.save_state(ws.root, experiment=exp.name, run=run_obj.name)
    else:
        stored = state.load_state(ws.root)
        keep_run = stored.get("run") if stored.get("experiment") == exp.name else None
        entry = state.save_state(ws.root, experiment=exp.name, run=keep_run)
    if json_out:
        print_json({"experiment": entry.get("experiment"), "run": entry.get("run")})
    else:
        shown = f"{entry['experiment']}/{entry['run']}" if entry.get("run") else f"{entry['experiment']} (no run)"
        info(f"Current: {shown}")
    _warn_env_override()


def _warn_env_override() -> None:
    """Say so (on stderr, so --json stays clean) when the environment hides what was just saved."""
    for names in (state.ENV_EXPERIMENT, state.ENV_RUN):
        for name in names:
            if os.environ.get(name):
                note(f"{name} is set in this shell and takes precedence over the state file.")
                return
