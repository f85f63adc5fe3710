"""``exp note``: a line of text kept in the run's ``run.json``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import complete_ref, split_run


@handle_errors
def note(
    ctx: typer.Context,
    words: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[RUN] [TEXT]", help="The note (first, optionally, the run: RUN or EXP/RUN).",
                       autocompletion=complete_ref, show_default=False),
    ] = None,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the run's note.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a note on a run, show it, or remove it.

    \b
    Examples:
      exp note "lr too high after epoch 3"
      exp note mnist/wide "best so far"
      exp note --clear
    """
    from ..runs.lifecycle import set_note  # noqa: PLC0415

    ws = workspace(ctx)
    run_obj, text = split_run(ws, list(words or []), experiment, run)
    if clear and text:
        raise UsageError("--clear takes no text.")
    if clear:
        result = set_note(run_obj, None)
    elif text:
        result = set_note(run_obj, " ".join(text))
    else:
        value = run_obj.read_record().get("note")
        result = value if isinstance(value, str) else None
    if json_out:
        print_json({"experiment": run_obj.experiment.name, "run": run_obj.name, "note": result})
    else:
        info(f"{run_obj.id}: {result}" if result else f"{run_obj.id}: (no note)")
