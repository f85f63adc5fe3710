"""``exp tb``: a real TensorBoard on chosen runs, each shown as exp/run (the template's ``tboard``).

``exp tensorboard`` (cli/tensorboard.py) is its older name, with that command's defaults kept.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from typing import Annotated, Optional

import typer

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, UsageError
from ._common import ExperimentOpt, JsonOpt, workspace
from ._complete import complete_target
from ._errors import handle_errors
from ._output import info, print_error, print_json
from ._runs import WhereOpt, complete_ref, many_objects


@handle_errors
@many_objects
def tb(
    ctx: typer.Context,
    targets: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[EXP | EXP/RUN]... [-- TENSORBOARD ARGS]", show_default=False,
                       help="What to show (default: the current experiment); after --, TensorBoard's own options.",
                       autocompletion=complete_target),
    ] = None,
    experiment: ExperimentOpt = None,
    runs: Annotated[
        Optional[list[str]],
        typer.Option("--run", "-r", help="A run (RUN in -e's experiment or the current one, or EXP/RUN); repeat.",
                     autocompletion=complete_ref),
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="Every run of every experiment.")] = False,
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

    Experiments or EXP/RUN runs (default: the current experiment; -e EXP, -r RUN, --all), filtered
    with --where; each run is named exp/run. Prints the URL; --print prints the command instead.
    Options after -- go to TensorBoard itself.

    \b
    Examples:
      exp tb
      exp tb mnist cifar/base --port 6007
      exp tb mnist --where 'status=completed and val_acc>0.9'
      exp tb --all -- --samples_per_plugin images=100
    """
    from ..runs import tensorboard  # noqa: PLC0415

    # Run names never begin with "-" and click refuses unknown options before "--", so the first
    # word that begins with "-" is the first one that came after "--": TensorBoard's.
    words = targets or []
    cut = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    names = words[:cut]
    port, host, extra = _own_options(words[cut:], port, host)
    legacy = ctx.info_name == "tensorboard"  # the old name keeps its defaults (cli/tensorboard.py)
    if legacy and not (names or runs or experiment):
        all_runs = True  # exp tensorboard showed every run
    ws = workspace(ctx)
    chosen, key = tensorboard.choose_runs(ws, names, runs or (), experiment, all_runs, where or ())
    logdir = tensorboard.links_folder(ws, chosen, key)
    if legacy and json_out:  # exp tensorboard --json described the view and started nothing
        line = ["tensorboard", "--logdir", str(logdir), *_given(port, host), *extra]
        print_json({"view": str(logdir), "runs": sorted(r.id for r in chosen), "command": shlex.join(line)})
        return
    chosen_port = port if port is not None else tensorboard.free_port(host or "localhost")
    argv = tensorboard.command(logdir, chosen_port, host, extra)
    address = tensorboard.url(host, chosen_port)
    if json_out:
        print_json({"command": argv, "url": address, "logdir": str(logdir), "runs": [r.id for r in chosen]})
    elif print_only:
        print(shlex.join(argv))
    if print_only:
        return
    if not json_out:
        info(f"TensorBoard on {len(chosen)} run{'s' if len(chosen) != 1 else ''} at {address}  (Ctrl-C stops it)")
    _serve(argv, logdir.with_name(logdir.name + ".log"), quiet=json_out)


def _own_options(args: list[str], port: int | None, host: str | None) -> tuple[int | None, str | None, list[str]]:
    """``--port``/``--host`` among TensorBoard's options become exp tb's (the URL it prints must be right).

    Raises:
        UsageError: one given twice over, a port that is not a number, or ``--logdir`` (exp tb's to choose).
    """
    rest: list[str] = []
    words = iter(args)
    for word in words:
        name, eq, value = word.partition("=")
        if name in ("--logdir", "--logdir_spec"):
            raise UsageError(f"{name} is exp tb's to choose (a view of the chosen runs).",
                             hint="Name experiments or runs instead: exp tb EXP EXP/RUN")
        if name not in ("--port", "--host"):
            rest.append(word)
            continue
        value = value if eq else next(words, "")
        if not value:
            raise UsageError(f"{name} after -- needs a value.")
        if name == "--port":
            try:
                number = int(value)
            except ValueError:
                raise UsageError(f"--port needs a number, not {value!r}.") from None
            if port is not None and port != number:
                raise UsageError(f"Two ports: --port {port} and --port {number} after --.", hint="Give one.")
            port = number
        else:
            if host is not None and host != value:
                raise UsageError(f"Two addresses: --host {host} and --host {value} after --.", hint="Give one.")
            host = value
    return port, host, rest


def _given(port: int | None, host: str | None) -> list[str]:
    return (["--port", str(port)] if port is not None else []) + (["--host", host] if host else [])


def _serve(argv: list[str], log_path, quiet: bool) -> None:
    """Run TensorBoard (output into ``log_path``) until it exits or Ctrl-C / SIGTERM stop both."""
    sys.stdout.flush()
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
        if not quiet:
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
