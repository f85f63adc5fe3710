"""Checks ``exp train`` makes before it touches a run, and how it words a trainer's failure.

- Files exptool cannot read (checkpoints, the manifest, ``metrics.csv``, ``run.json``) are never
  taken for missing: training stops before deciding between resume and a fresh start, and
  ``--clear`` deletes nothing.
- A trainer file named by a run's ``config.json`` must live inside the workspace: a copied config
  must not run code from elsewhere. From the command line (``--trainer``) any file is allowed.
- A trainer's own exit code (``sys.exit(3)``) is kept, and a very long error message is cut to a
  line (the full text is in ``logs/log.txt``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fs import unreadable_error, unreadable_in
from ._text import clip
from .errors import EXIT_FAILURE, TrainerError

if TYPE_CHECKING:
    from .training.registry import TrainerSpec
    from .workspace import Run

ERROR_LIMIT = 300  # characters of a trainer's error message shown on the console and kept in run.json


def check_outputs_readable(run: Run) -> None:
    """Refuse to go on when part of what the run has on disk cannot be read.

    Raises:
        UnsafePathError: the checkpoints folder, a file in it, ``metrics.csv`` or ``run.json`` is unreadable.
    """
    paths = [run.checkpoints_dir, run.metrics_path, run.record_path, run.config_path]
    found = unreadable_in([p for p in paths if os.path.lexists(p)])
    if found:
        raise unreadable_error(found, "files of run " + repr(run.id), base=run.path)


def trainer_file(spec: TrainerSpec) -> Path | None:
    """The Python file a ``path/to/file.py:function`` target names, resolved as the loader does; None for modules."""
    module_part = spec.target.rpartition(":")[0]
    if not (module_part.endswith(".py") or os.sep in module_part or "/" in module_part):
        return None
    path = Path(module_part).expanduser()
    if not path.is_absolute():
        bases = [Path.cwd()] + ([Path(spec.base_dir)] if spec.base_dir else [])
        path = next((b / path for b in bases if (b / path).is_file()), bases[-1] / path)
    return path


def check_trainer_source(spec: TrainerSpec, workspace_root: str | os.PathLike) -> None:
    """A trainer file taken from a run's ``config.json`` must be inside the workspace (links resolved).

    Raises:
        TrainerError: it is outside (exit 2); the hint says how to run it on purpose.
    """
    if spec.source != "run config":
        return
    path = trainer_file(spec)
    if path is None:
        return
    root = Path(workspace_root).resolve()
    real = path.resolve()
    if real == root or root in real.parents:
        return
    raise TrainerError(
        f"The run's config.json names a trainer file outside the workspace: {real}. "
        "exptool does not run code from outside the workspace because a config says so.",
        hint=f"If you trust it, name it on the command line: exp train --trainer {spec.target}",
    )


def short_error(text: str, limit: int = ERROR_LIMIT) -> str:
    """One line of at most ``limit`` characters; a longer message points at ``logs/log.txt``."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    return clip(line, limit - 30) + " (full text in logs/log.txt)"


def exit_status(exc: SystemExit) -> tuple[int, str | None]:
    """The exit code and error for a trainer that called ``sys.exit(code)``.

    ``sys.exit()`` / ``sys.exit(0)`` is success; ``sys.exit(3)`` keeps 3; ``sys.exit("why")`` is 1 with that message.
    """
    code: Any = exc.code
    if code is None or code == 0 or code is False:
        return 0, None
    if isinstance(code, int) and not isinstance(code, bool):
        code = code & 0xFF or EXIT_FAILURE  # what the shell would see; 256 must not read as success
        return code, f"exited with code {code} (sys.exit)"
    if code is True:
        return EXIT_FAILURE, "exited with code 1 (sys.exit)"
    return EXIT_FAILURE, short_error(str(code))
