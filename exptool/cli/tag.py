"""``exp tag``: labels kept in the run's ``run.json``, shown by ls/show/compare, used by --where tag=..."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ._common import ExperimentOpt, JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import complete_ref, complete_tag_or_run, split_run


@handle_errors
def tag(
    ctx: typer.Context,
    words: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[RUN] [TAG]...", help="Tags to add (first, optionally, the run: RUN or EXP/RUN).",
                       autocompletion=complete_tag_or_run, show_default=False),
    ] = None,
    experiment: ExperimentOpt = None,
    run: Annotated[
        Optional[str], typer.Option("--run", "-r", help="The run (RUN or EXP/RUN); default: the current one.",
                                    autocompletion=complete_ref)
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", "-d", help="Remove these tags instead of adding them.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Tag a run, untag it, or show its tags.

    The first word names the run when more follow and it is one (RUN or EXP/RUN); otherwise the
    tags go to the current run. Use them with --where tag=NAME.

    \b
    Examples:
      exp tag baseline
      exp tag mnist/wide best lr-sweep
      exp tag --remove best -r mnist/wide
    """
    from ..runs.lifecycle import set_tags  # noqa: PLC0415

    ws = workspace(ctx)
    run_obj, tags = split_run(ws, list(words or []), experiment, run)
    if remove and not tags:
        raise UsageError("Say which tags to remove: exp tag --remove TAG...")
    if tags:
        result = set_tags(run_obj, remove=tags) if remove else set_tags(run_obj, add=tags)
    else:
        from ..runs.index import row_for  # noqa: PLC0415

        result = row_for(run_obj.path, parts=("record",)).tags
    if json_out:
        print_json({"experiment": run_obj.experiment.name, "run": run_obj.name, "tags": result})
    else:
        info(f"{run_obj.id}: {' '.join(result) if result else '(no tags)'}")
