"""``exp clear-logs``: empty a run's logs/ folder, keeping checkpoints."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .._fs import clear_folders, folder_entries
from ..errors import RunLockedError, UsageError
from ..locking import RunLock, is_locked
from ._common import ExperimentOpt, JsonOpt, RunOpt, resolve_run, workspace
from ._errors import handle_errors
from ._output import confirm, info, print_json, status_line


@handle_errors
def clear_logs(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Empty a run's logs/, keep its checkpoints.

    Deletes TensorBoard, CSV and text logs (and offline W&B runs, named first if never
    uploaded). Asks on a terminal; needs --yes off one.

    \b
    Examples:
      exp clear-logs
      exp clear-logs -e mnist -r baseline --yes
    """
    from ..deletion import plan  # noqa: PLC0415

    ws = workspace(ctx)
    run_obj = resolve_run(ws, experiment, run).require()
    logs = run_obj.logs_dir
    if is_locked(run_obj.path):  # say so before asking
        raise _busy(run_obj.id)
    entries = folder_entries(logs)  # refuses a linked logs/ or anything unreadable, before asking
    deletion = plan(entries)
    if entries and not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"Refusing to delete {deletion.describe(str(logs))} without confirmation.",
                hint="Pass --yes to confirm when there is no terminal.",
            )
        status_line(f"In {logs}: {deletion.detail()}.")
        if not confirm(f"Delete {len(entries)} entries in {logs}?"):
            info("Nothing deleted.")
            raise typer.Exit(1)
    try:
        lock = RunLock(run_obj.path).acquire()  # so no `exp train` starts writing while we delete
    except RunLockedError:
        raise _busy(run_obj.id) from None
    try:
        entries = clear_folders([logs])
        (run_obj.path / "summary.json").unlink(missing_ok=True)  # it summarised the logs just deleted
    finally:
        lock.release()
    if json_out:
        print_json({"experiment": run_obj.experiment.name, "run": run_obj.name, "deleted": [e.name for e in entries]})
    else:
        info(f"Cleared {len(entries)} entr{'ies' if len(entries) != 1 else 'y'} from {logs} ({deletion.detail()}).")


def _busy(run_id: str) -> UsageError:
    return UsageError(f"Run {run_id} is training right now; its logs are in use.")
