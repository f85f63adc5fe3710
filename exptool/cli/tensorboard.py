"""``exp tensorboard``: TensorBoard over the workspace's runs, each named ``exp/run``."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Annotated, Optional

import typer

from ._common import ExperimentOpt, JsonOpt, resolve_run, workspace
from ._complete import complete_run
from ._errors import handle_errors
from ._output import info, print_json

RunsOpt = Annotated[
    Optional[list[str]],
    typer.Option("--run", "-r", help="Only this run (NAME in the experiment, or EXP/RUN); repeat for several.",
                 autocompletion=complete_run),
]


@handle_errors
def tensorboard(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunsOpt = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the TensorBoard command instead of running it.")
    ] = False,
    extra: Annotated[
        Optional[list[str]], typer.Argument(help="Arguments for tensorboard itself, after --.", metavar="[-- ARGS]")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Open TensorBoard with runs named exp/run.

    Shows every run of the workspace (or of -e EXP, or the -r runs). TensorBoard itself names a
    run by its folder (demo/w100/logs, or "." for a run's own logs/); this points it at a view in
    which each run's logs/ appears as EXP/RUN. Runs made later appear when it is started again.

    \b
    Examples:
      exp tensorboard
      exp tensorboard -e mnist -- --port 6007
      exp tensorboard -r mnist/base -r mnist/wide --print
    """
    from ..tensorboard_view import build_view  # noqa: PLC0415

    ws = workspace(ctx)
    if run:
        chosen = {}
        for name in run:
            if "/" in name:
                exp_name, run_name = name.split("/", 1)
                target = ws.run(exp_name, run_name)
            else:
                target = resolve_run(ws, experiment, name)
            chosen.setdefault(target.id, target.require())
        runs = list(chosen.values())
    elif experiment:
        runs = ws.experiment(experiment).require().runs()
    else:
        runs = [r for exp in ws.experiments() for r in exp.runs()]
    view = build_view(ws, runs)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(view), *(extra or [])]
    shown = shlex.join(["tensorboard", *command[3:]])
    if json_out:
        print_json({"view": str(view), "runs": sorted(r.id for r in runs if r.logs_dir.is_dir()), "command": shown})
        return
    if print_only:
        info(shown)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # TensorBoard takes over this process: Ctrl-C stops it as usual
