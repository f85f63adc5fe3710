"""``exp trainers``: list the trainers ``exp train`` can run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._common import JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json, print_table

if TYPE_CHECKING:
    pass


@handle_errors
def trainers(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the trainers exp train can run.

    Name, target and where each is registered; * marks the one exp train picks by default.

    \b
    Examples:
      exp trainers
    """
    from ..errors import NotAWorkspaceError  # noqa: PLC0415
    from ..training.registry import TrainerError, choose_trainer, registered_trainers  # noqa: PLC0415

    try:
        root = workspace(ctx).root
    except NotAWorkspaceError:
        root = None
    found = registered_trainers(root)
    try:
        default = choose_trainer(found).name
    except TrainerError:
        default = None
    items = [{**spec.to_dict(), "default": spec.name == default} for spec in found.values()]
    items.sort(key=lambda item: (item["source"] == "built-in", item["name"]))
    if json_out:
        print_json({"workspace": str(root) if root else None, "trainers": items})
        return
    if not items:
        info("No trainers registered. Add one to [trainers] in exptool.toml, or pass --trainer module:function.")
        return
    rows = [[("* " if i["default"] else "  ") + i["name"], i["target"], i["source"]] for i in items]
    print_table(["  name", "target", "source"], rows)
