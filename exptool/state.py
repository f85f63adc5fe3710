"""The current experiment and run, per workspace.

Precedence: flag > environment (``EXP_EXPERIMENT``/``EXP_RUN``, or the template's
``CURRENT_EXP``/``CURRENT_RUN``) > the state file. The state file lives in platformdirs' user state
folder (``EXPTOOL_STATE_DIR`` overrides it) and maps each workspace's absolute path to its current
experiment and run. Writes hold a lock and replace the file atomically, so concurrent ``exp set``
calls never corrupt it or drop another workspace's entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ._atomic import atomic_write_json
from .errors import InvalidNameError, NoCurrentRunError

if TYPE_CHECKING:
    from .workspace import Experiment, Run, Workspace

ENV_EXPERIMENT = ("EXP_EXPERIMENT", "CURRENT_EXP")
ENV_RUN = ("EXP_RUN", "CURRENT_RUN")
STATE_FILE = "state.json"


def state_dir() -> Path:
    """Folder of the state file."""
    override = os.environ.get("EXPTOOL_STATE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform.startswith("linux"):
        # platformdirs' answer on Linux, computed here: importing it costs milliseconds on every command.
        xdg = os.environ.get("XDG_STATE_HOME", "")
        return Path(xdg if os.path.isabs(xdg) else os.path.expanduser("~/.local/state")) / "exptool"
    import platformdirs  # noqa: PLC0415

    return Path(platformdirs.user_state_dir("exptool", appauthor=False))


def state_path() -> Path:
    return state_dir() / STATE_FILE


class Resolved(NamedTuple):
    """A value and where it came from: "flag", "environment (NAME)", "state file" or None."""

    value: str | None
    source: str | None


def _warn(message: str) -> None:
    from .runtime import warn  # noqa: PLC0415

    warn(message)


def _read_all(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        _warn(f"the state folder {path.parent} is not a folder (check EXPTOOL_STATE_DIR); no current run is known.")
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        _warn(f"ignoring unreadable state file {path} ({exc.__class__.__name__}); it will be rewritten.")
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("workspaces", {}), dict):
        _warn(f"ignoring malformed state file {path}; it will be rewritten.")
        return {}
    return data


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    from ._fs import open_nofollow  # noqa: PLC0415

    _make_state_dir(path.parent)
    lock_path = path.with_name(path.name + ".lock")
    fd = open_nofollow(lock_path, os.O_RDWR | os.O_CREAT, 0o644)  # a link in its place is refused
    try:
        try:
            import fcntl  # noqa: PLC0415
        except ImportError:  # Windows: os.replace is still atomic; concurrent writers may race.
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _make_state_dir(folder: Path) -> None:
    """Create the state folder; one that is a file (or under one) is a usage error naming the setting."""
    from .errors import UsageError  # noqa: PLC0415

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        source = "EXPTOOL_STATE_DIR" if os.environ.get("EXPTOOL_STATE_DIR") else "the state folder"
        raise UsageError(
            f"The state folder {folder} ({source}) exists but is not a folder.",
            hint="Point EXPTOOL_STATE_DIR at a folder (or unset it), or move that file away.",
        ) from None


def _key(workspace_root: str | os.PathLike) -> str:
    return str(Path(workspace_root).absolute())


def load_state(workspace_root: str | os.PathLike) -> dict[str, str]:
    """The state file's entry for this workspace: {"experiment": ..., "run": ...} (keys optional)."""
    entry = _read_all(state_path()).get("workspaces", {}).get(_key(workspace_root), {})
    if not isinstance(entry, dict):
        return {}
    return {k: v for k, v in entry.items() if k in ("experiment", "run") and isinstance(v, str)}


def save_state(workspace_root: str | os.PathLike, **fields: str | None) -> dict[str, str]:
    """Update this workspace's entry (``None`` removes a key) and return it."""
    path = state_path()
    with _locked(path):
        data = _read_all(path)
        workspaces = data.setdefault("workspaces", {})
        entry = dict(workspaces.get(_key(workspace_root)) or {})
        for key, value in fields.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
        workspaces[_key(workspace_root)] = entry
        data["version"] = 1
        atomic_write_json(path, data)
    return entry


def _from_env(names: tuple[str, ...]) -> Resolved:
    for name in names:
        value = os.environ.get(name)
        if value:
            return Resolved(value, f"environment ({name})")
    return Resolved(None, None)


def resolve_current(
    workspace_root: str | os.PathLike, experiment: str | None = None, run: str | None = None
) -> tuple[Resolved, Resolved]:
    """Current experiment and run with their sources (flag > environment > state file).

    A run from the state file only counts when the experiment also came from there, or equals the
    stored one: switching experiment by flag must not silently pick another experiment's run.
    """
    stored: dict[str, str] | None = None

    def from_state(key: str) -> Resolved:
        nonlocal stored
        if stored is None:
            stored = load_state(workspace_root)
        value = stored.get(key) or None
        return Resolved(value, "state file" if value else None)

    # An explicit but empty flag stays a (bad) flag value, so it is rejected rather than ignored.
    exp = Resolved(experiment, "flag") if experiment is not None else _from_env(ENV_EXPERIMENT)
    if exp.value is None:
        exp = from_state("experiment")
    if run is not None:
        return exp, Resolved(run, "flag")
    env_run = _from_env(ENV_RUN)
    if env_run.value is not None:
        return exp, env_run
    stored_run = from_state("run")
    if stored_run.value and exp.value != (stored or {}).get("experiment"):
        return exp, Resolved(None, None)
    return exp, stored_run


def check_names(experiment: Resolved, run: Resolved | None = None) -> None:
    """Validate resolved names; a bad one from the environment or state file says where it came from."""
    from .names import validate_name  # noqa: PLC0415

    for resolved, kind in ((experiment, "experiment name"), (run, "run name")):
        if resolved is None or resolved.value is None:
            continue
        try:
            validate_name(resolved.value, kind)
        except InvalidNameError as exc:
            if resolved.source and resolved.source != "flag":
                exc.hint = f"It comes from the {resolved.source}: fix or unset it, or pass a valid name as a flag."
            raise


def resolve_experiment(ws: Workspace, experiment: str | None = None) -> Experiment:
    """The experiment from the argument, environment or state file; validated, not required to exist.

    Raises:
        InvalidNameError: the name is not a single safe path component (the hint says where it came from).
        NoCurrentRunError: none was given and none is current.
    """
    exp, _ = resolve_current(ws.root, experiment, None)
    check_names(exp)
    if exp.value is None:
        raise NoCurrentRunError(
            "No experiment given and none is current.", hint="Pass -e NAME, or make one current with: exp set NAME"
        )
    return ws.experiment(exp.value)


def resolve_run(ws: Workspace, experiment: str | None = None, run: str | None = None) -> Run:
    """The run from the arguments, environment or state file; validated, not required to exist.

    The one resolver behind the CLI, ``Logger``, the template's config and checkpoint helpers.

    Raises:
        InvalidNameError: a name is not a single safe path component (the hint says where it came from).
        NoCurrentRunError: a name is missing and none is current.
    """
    exp, rn = resolve_current(ws.root, experiment, run)
    check_names(exp, rn)
    if exp.value is None:
        raise NoCurrentRunError(
            "No experiment given and none is current.", hint="Pass -e EXP -r RUN, or run: exp set EXP RUN"
        )
    if rn.value is None:
        raise NoCurrentRunError(
            f"No run given and none is current for experiment {exp.value!r}.",
            hint=f"Pass -r RUN, or run: exp set {exp.value} RUN",
        )
    return ws.run(exp.value, rn.value)


def find_run(experiment: str | None = None, run: str | None = None, root: str | os.PathLike | None = None) -> Run:
    """:func:`resolve_run` in the workspace found from ``root`` (or ``EXPTOOL_ROOT``, or the cwd upwards).

    Raises:
        NotAWorkspaceError: not inside a workspace.
        InvalidNameError, NoCurrentRunError: as :func:`resolve_run`.
    """
    from .workspace import Workspace  # noqa: PLC0415

    return resolve_run(Workspace.find(root=root), experiment, run)
