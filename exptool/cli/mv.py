"""``exp mv``: rename a run or move it to another experiment, in one step."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import ExperimentOpt, JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import complete_ref


@handle_errors
def mv(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SRC", help="RUN or EXP/RUN.", autocompletion=complete_ref)],
    dest: Annotated[str, typer.Argument(metavar="DST", help="NEW (same experiment) or EXP/NEW.")],
    experiment: ExperimentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rename a run, or move it to another experiment.

    One rename, refused while the run is trained; run.json and the current run follow it.

    \b
    Examples:
      exp mv wide wide-v1
      exp mv mnist/wide archive/wide
    """
    from ..runs import lifecycle  # noqa: PLC0415
    from ..runs.refs import parse_ref  # noqa: PLC0415

    ws = workspace(ctx)
    src = parse_ref(ws, source, experiment)
    dst = parse_ref(ws, dest, src.experiment.name)
    current = lifecycle.was_current(ws, src)
    lifecycle.move(src, dst)
    if json_out:
        print_json({"from": src.id, "to": dst.id, "path": str(dst.path), "current": current})
        return
    info(f"Moved {src.id} to {dst.id}: {dst.path}")
    if current:
        info(f"It is still the current run, now as {dst.id}.")
