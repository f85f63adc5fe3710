"""``exp tb``: a real TensorBoard on chosen runs, each shown as exp/run (the template's ``tboard``)."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from typing import Annotated, Optional

import typer

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED
from ._common import JsonOpt, workspace
from ._complete import complete_target
from ._errors import handle_errors
from ._output import info, print_error, print_json
from ._runs import WhereOpt, many_objects


@handle_errors
@many_objects
def tb(
    ctx: typer.Context,
    targets: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[EXP | EXP/RUN]...", help="What to show (default: the current experiment).",
                       autocompletion=complete_target, show_default=False),
    ] = None,
    where: WhereOpt = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default: the first free one from 6006).")] = None,
    host: Annotated[
        Optional[str], typer.Option("--host", help="Address to listen on (default: localhost; 0.0.0.0 for all).")
    ] = None,
    print_only: Annotated[bool, typer.Option("--print", help="Print the TensorBoard command instead of running it.")]
    = False,
    json_out: JsonOpt = False,
) -> None:
    """Start TensorBoard on chosen runs; Ctrl-C stops it.

    Experiments or EXP/RUN runs (default: the current experiment), filtered with --where; each run
    is named exp/run. Prints the URL; --print prints the command instead.

    \b
    Examples:
      exp tb
      exp tb mnist cifar/base --port 6007
      exp tb mnist --where 'status=completed and val_acc>0.9'
    """
    from ..runs import tensorboard  # noqa: PLC0415
    from ..runs.index import load_rows  # noqa: PLC0415
    from ..runs.query import needs_extrema, select  # noqa: PLC0415
    from ..runs.refs import current_experiment  # noqa: PLC0415

    ws = workspace(ctx)
    experiments, pairs = [], []
    for target in targets or [current_experiment(ws)]:
        if "/" in target:
            run = ws.run(*target.split("/", 1)).require()
            pairs.append((run.experiment.name, run.name))
        else:
            experiments.append(ws.experiment(target).require().name)
    parts = ("record", "config", "metrics") + (("extrema",) if needs_extrema(where or ()) else ())
    rows = (load_rows(ws, experiments, parts=parts) if experiments else []) + (
        load_rows(ws, runs=pairs, parts=parts) if pairs else [])
    rows = select(list({r.id: r for r in rows}.values()), where or ())
    runs = [ws.run(r.experiment, r.name) for r in rows]
    runs = [r for r in runs if r.logs_dir.is_dir()]
    logdir = tensorboard.links_folder(ws, runs)
    chosen_port = port if port is not None else tensorboard.free_port(host or "localhost")
    argv = tensorboard.command(logdir, chosen_port, host)
    address = tensorboard.url(host, chosen_port)
    if json_out:
        print_json({"command": argv, "url": address, "logdir": str(logdir), "runs": [r.id for r in runs]})
    elif print_only:
        print(shlex.join(argv))
    if print_only:
        return
    if not json_out:
        info(f"TensorBoard on {len(runs)} run{'s' if len(runs) != 1 else ''} at {address}  (Ctrl-C stops it)")
    sys.stdout.flush()
    log_path = logdir.with_name(logdir.name + ".log")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    # SIGTERM stops TensorBoard too (by default it would end `exp tb` alone and leave the server running).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not json_out:
            info("TensorBoard stopped.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        lines = [ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        sys.stderr.write("".join(f"  {ln}\n" for ln in lines[-5:]))
        print_error(f"TensorBoard exited with status {code}.", f"Its output is in {log_path} (last lines above).")
        raise typer.Exit(EXIT_FAILURE)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
