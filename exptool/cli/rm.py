"""``exp rm``: move runs to the trash inside the workspace (``exp restore`` undoes it), or delete them."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import ExperimentOpt, JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import YesOpt, ask, complete_ref


@handle_errors
def rm(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Runs to remove (RUN or EXP/RUN).",
                                             autocompletion=complete_ref)],
    experiment: ExperimentOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Delete for good instead of moving to the trash.")] = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Move runs to the trash, or delete them for good.

    The trash is experiments/.trash; exp restore puts a run back, exp trash empty deletes it. A run
    being trained is refused. Asks on a terminal; needs --yes off one.

    \b
    Examples:
      exp rm wide
      exp rm mnist/a mnist/b --yes
      exp rm old-run --purge
    """
    from ..locking import is_locked  # noqa: PLC0415
    from ..runs import lifecycle  # noqa: PLC0415
    from ..runs.refs import parse_ref  # noqa: PLC0415

    ws = workspace(ctx)
    runs = list({r.id: r for r in (parse_ref(ws, ref, experiment).require() for ref in refs)}.values())
    busy = [r.id for r in runs if is_locked(r.path)]
    if busy:
        from ..errors import RunLockedError  # noqa: PLC0415

        raise RunLockedError(
            f"Not removed: {', '.join(busy)} {'is' if len(busy) == 1 else 'are'} being trained.",
            hint="Wait for it to finish, or stop it first.",
        )
    names = ", ".join(r.id for r in runs)
    if purge:
        ask(f"Delete {names} for good (checkpoints, logs, everything)?", yes, "delete runs")
    else:
        ask(f"Move {names} to the trash?", yes, "remove runs")
    done = []
    for run in runs:
        current = lifecycle.was_current(ws, run)
        if purge:
            lifecycle.remove_for_good(run)
            done.append({"experiment": run.experiment.name, "run": run.name, "trash_id": None, "path": None,
                         "was_current": current})
        else:
            entry = lifecycle.remove(run)
            done.append({"experiment": run.experiment.name, "run": run.name, "trash_id": entry.id,
                         "path": str(entry.path), "was_current": current})
    if json_out:
        print_json({"removed": done, "purged": purge})
        return
    for item in done:
        run_id = f"{item['experiment']}/{item['run']}"
        if purge:
            info(f"Deleted {run_id} for good.")
        else:
            info(f"Moved {run_id} to the trash: {item['path']}")
        if item["was_current"]:
            info(f"It was the current run; no run is current in {item['experiment']} now.")
    if not purge:
        again = " ".join(f"{d['experiment']}/{d['run']}" for d in done)
        info(f"Undo with: exp restore {again}")
