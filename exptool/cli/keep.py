"""``exp keep``: write .gitkeep into empty folders so git keeps the layout (the template's keep_exp.sh)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ._common import JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json

KEEP_SKIP = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", "wandb"}


@handle_errors
def keep(
    ctx: typer.Context,
    path: Annotated[Optional[Path], typer.Argument(help="Folder to walk (default: the workspace).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Put .gitkeep in every empty folder.

    So git keeps the layout, like the template's keep_exp.sh. Hidden folders, .git, virtual
    environments and wandb/ are skipped.

    \b
    Examples:
      exp keep && git add experiments
    """
    if path is None:
        path = workspace(ctx).root
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder.")
    written = []
    for dirpath, dirnames, filenames in os.walk(path):
        empty = not dirnames and not filenames
        dirnames[:] = [d for d in dirnames if d not in KEEP_SKIP and not d.startswith(".")]
        if empty:
            target = Path(dirpath) / ".gitkeep"
            target.touch()
            written.append(target)
    if json_out:
        print_json({"root": str(path.absolute()), "written": [str(p) for p in written], "count": len(written)})
    else:
        info(f"Wrote .gitkeep into {len(written)} empty folder{'s' if len(written) != 1 else ''} under {path}.")
