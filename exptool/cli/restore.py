"""``exp restore``: put runs back from the trash."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ._common import JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import complete_trashed


@handle_errors
def restore(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="RUN...", help="EXP/RUN (its newest removal) or a trash id.",
                                             autocompletion=complete_trashed)],
    as_: Annotated[
        Optional[str], typer.Option("--as", help="Restore under this name instead (EXP/RUN or RUN).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Put runs back from the trash.

    \b
    Examples:
      exp restore mnist/wide
      exp restore mnist/wide --as mnist/wide-old
    """
    from ..runs import lifecycle  # noqa: PLC0415
    from ..runs.refs import parse_ref  # noqa: PLC0415

    ws = workspace(ctx)
    if as_ is not None and len(refs) != 1:
        raise UsageError("--as takes one run to restore.")
    done = []
    for ref in refs:
        entry = lifecycle.find_in_trash(ws, ref)
        target = None
        if as_ is not None:
            target = parse_ref(ws, as_, entry.experiment) if "/" in as_ else ws.run(entry.experiment, as_)
        run = lifecycle.restore(entry, target)
        done.append({"experiment": run.experiment.name, "run": run.name, "path": str(run.path), "trash_id": entry.id})
    if json_out:
        print_json({"restored": done})
        return
    for item in done:
        info(f"Restored {item['experiment']}/{item['run']} at {item['path']}")
