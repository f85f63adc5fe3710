"""``exp trash``: what ``exp rm`` moved aside, and ``exp trash empty`` to delete it for good."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ._common import JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json, print_table
from ._runs import YesOpt, ask


@handle_errors
def trash(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(metavar="[list|empty]", help="list (default) or empty.")] = "list",
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the runs in the trash, or empty it.

    \b
    Examples:
      exp trash
      exp trash empty --yes
    """
    from ..runs import lifecycle  # noqa: PLC0415

    ws = workspace(ctx)
    entries = lifecycle.trash_entries(ws)
    if action not in ("list", "empty"):
        raise UsageError(f"Unknown action {action!r}.", hint="Use: exp trash (list), or exp trash empty")
    if action == "empty":
        if entries:
            ask(f"Delete {len(entries)} run{'s' if len(entries) != 1 else ''} in the trash for good?", yes,
                 "empty the trash")
        for entry in entries:
            lifecycle.purge(entry)
        if json_out:
            print_json({"purged": [e.to_dict() for e in entries]})
        else:
            info(f"Deleted {len(entries)} run{'s' if len(entries) != 1 else ''} from the trash for good.")
        return
    if json_out:
        print_json({"workspace": str(ws.root), "trash": [e.to_dict() for e in entries]})
        return
    if not entries:
        info("The trash is empty.")
        return
    rows = [[e.run_id, e.removed.replace("T", " ").split("+")[0], e.id] for e in entries]
    print_table(["run", "removed", "id"], rows)
    info("Restore with: exp restore EXP/RUN (or the id); delete for good with: exp trash empty")
