"""The trainer registry: which training functions ``exp train`` can run, and loading one.

A trainer is a function taking one argument, the :class:`~exptool.training.context.RunContext`. It is
registered in one of three ways:

- an entry point in the group ``exptool.trainers`` of an installed package;
- a table in the workspace: ``[trainers]`` in ``exptool.toml`` or ``[tool.exptool.trainers]`` in the
  workspace's ``pyproject.toml`` (values ``"module:function"`` with the workspace on ``sys.path``, or
  ``"path/to/file.py:function"`` relative to the workspace);
- directly on the command line: ``--trainer module:function`` or ``--trainer path/to/file.py:function``.

Listing and completing names reads package metadata and TOML only: no user module and no torch
is imported until :func:`load_trainer`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TrainerError

ENTRY_POINT_GROUP = "exptool.trainers"
BUILTIN_DISTRIBUTION = "exptool"
WORKSPACE_MARKER = "exptool.toml"


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer's name, its target (``module:function`` or ``file.py:function``) and where it came from.

    Attributes:
        name: the name used with ``--trainer`` (the target itself for direct targets).
        target: ``module:function`` or ``path/to/file.py:function``.
        source: ``built-in``, ``entry point (DIST)``, ``exptool.toml``, ``pyproject.toml``,
            ``--trainer`` or ``run config``.
        base_dir: folder a relative file target is resolved against (the workspace), if any.
    """

    name: str
    target: str
    source: str
    base_dir: str | None = None

    @property
    def builtin(self) -> bool:
        """True for the trainers that ship with exptool (the ``demo``)."""
        return self.source == "built-in"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and ``run.json``."""
        data = asdict(self)
        data.pop("base_dir")
        return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib  # noqa: PLC0415 - Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # noqa: PLC0415
        except ModuleNotFoundError:
            raise TrainerError(f"Cannot read {path}: Python 3.10 needs the 'tomli' package.") from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}.") from None


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _entry_point_trainers() -> list[TrainerSpec]:
    from importlib.metadata import entry_points  # noqa: PLC0415

    specs = []
    seen = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add(ep.name)
        dist = getattr(ep.dist, "name", None) if ep.dist is not None else None
        source = "built-in" if dist == BUILTIN_DISTRIBUTION else f"entry point ({dist or 'unknown package'})"
        specs.append(TrainerSpec(ep.name, ep.value, source))
    return specs


def _workspace_trainers(workspace_root: str | os.PathLike) -> list[TrainerSpec]:
    root = Path(workspace_root)
    specs = []
    tables = (
        (WORKSPACE_MARKER, ("trainers",)),
        ("pyproject.toml", ("tool", "exptool", "trainers")),
    )
    for filename, keys in tables:
        path = root / filename
        if not path.is_file():
            continue
        for name, target in _table(_read_toml(path), *keys).items():
            if not isinstance(target, str) or ":" not in target:
                raise ConfigError(
                    f"{path}: trainer {name!r} must be a string \"module:function\" or \"path/file.py:function\".",
                )
            specs.append(TrainerSpec(str(name), target, filename, str(root)))
    return specs


def registered_trainers(workspace_root: str | os.PathLike | None = None) -> dict[str, TrainerSpec]:
    """All registered trainers by name, without importing them.

    A name defined in the workspace overrides an installed entry point of the same name; within the
    workspace, ``exptool.toml`` wins over ``pyproject.toml``.
    """
    found: dict[str, TrainerSpec] = {}
    for spec in _entry_point_trainers():
        found[spec.name] = spec
    if workspace_root is not None:
        for spec in reversed(_workspace_trainers(workspace_root)):
            found[spec.name] = spec
    return found


def is_direct_target(text: str) -> bool:
    """True when ``text`` is ``module:function`` or ``file.py:function`` rather than a registered name."""
    return ":" in text


def choose_trainer(
    registered: Mapping[str, TrainerSpec],
    requested: str | None = None,
    config_trainer: str | None = None,
    base_dir: str | os.PathLike | None = None,
) -> TrainerSpec:
    """Pick the trainer to run: ``--trainer`` > the run config's ``trainer`` key > the only one registered.

    "The only one" ignores the built-in ``demo`` when the user registered trainers of their own,
    so a project with one trainer just works; with none of their own, the demo is the only one.

    Raises:
        TrainerError: the name is unknown, or several are registered and none was chosen.
    """
    for value, source in ((requested, "--trainer"), (config_trainer, "run config")):
        if not value:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"The run config's 'trainer' must be a string, not {type(value).__name__}.")
        if value in registered:
            return registered[value]
        if is_direct_target(value):
            spec = TrainerSpec(value, value, source, str(base_dir) if base_dir is not None else None)
            if base_dir is not None:
                from .._run_checks import check_trainer_source  # noqa: PLC0415

                check_trainer_source(spec, base_dir)  # a copied config must not run code from elsewhere
            return spec
        raise TrainerError(
            f"Unknown trainer {value!r} (from {source}).",
            hint=f"Registered: {_names(registered)}. Or give module:function or path/to/file.py:function.",
        )
    own = [s for s in registered.values() if not s.builtin]
    candidates = own or list(registered.values())
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise TrainerError(
            "No trainer is registered.",
            hint="Pass --trainer module:function, or add one to [trainers] in exptool.toml.",
        )
    raise TrainerError(
        f"Several trainers are registered ({_names(registered)}); choose one.",
        hint="Pass --trainer NAME, or set \"trainer\": NAME in the run's config.json.",
    )


def _names(registered: Mapping[str, TrainerSpec]) -> str:
    return ", ".join(sorted(registered)) or "none"


def load_trainer(spec: TrainerSpec, workspace_root: str | os.PathLike | None = None) -> Callable[[Any], Any]:
    """Import the trainer's function. The workspace folder is put on ``sys.path`` first.

    Raises:
        TrainerError: the module, file or function cannot be found, or importing it raised.
    """
    module_part, sep, func_name = spec.target.rpartition(":")
    if not sep or not module_part or not func_name:
        raise TrainerError(f"Bad trainer target {spec.target!r}: expected module:function or file.py:function.")
    if workspace_root is not None and str(workspace_root) not in sys.path:
        sys.path.insert(0, str(workspace_root))
    if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
        module = _load_file(spec, module_part)
    else:
        module = _import_module(spec, module_part)
    func: Any = module
    for attr in func_name.split("."):
        func = getattr(func, attr, None)
        if func is None:
            raise TrainerError(f"Trainer {spec.name!r}: {module_part} has no attribute {func_name!r}.")
    if not callable(func):
        raise TrainerError(f"Trainer {spec.name!r}: {spec.target} is not callable.")
    return func


def _import_module(spec: TrainerSpec, name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise TrainerError(
                f"Trainer {spec.name!r}: no module named {exc.name!r}.",
                hint="Is the package installed, or the module inside the workspace folder?",
            ) from None
        raise _import_failed(spec, exc) from exc
    except Exception as exc:
        raise _import_failed(spec, exc) from exc


def _load_file(spec: TrainerSpec, file_part: str) -> Any:
    import importlib.util  # noqa: PLC0415

    path = Path(file_part).expanduser()
    if not path.is_absolute():
        bases = [Path.cwd()] + ([Path(spec.base_dir)] if spec.base_dir else [])
        path = next((b / path for b in bases if (b / path).is_file()), bases[-1] / path)
    if not path.is_file():
        raise TrainerError(f"Trainer {spec.name!r}: file {path} not found.")
    path = path.resolve()
    mod_name = f"_exptool_trainer_{path.stem}"
    if mod_name in sys.modules and getattr(sys.modules[mod_name], "__file__", None) == str(path):
        return sys.modules[mod_name]
    # The file's own folder goes on sys.path so it can import its neighbours, as `python file.py` would.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise TrainerError(f"Trainer {spec.name!r}: cannot load {path} as Python.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise _import_failed(spec, exc) from exc
    return module


def _import_failed(spec: TrainerSpec, exc: BaseException) -> TrainerError:
    return TrainerError(
        f"Trainer {spec.name!r}: importing {spec.target} failed: {exc.__class__.__name__}: {exc}",
        hint="Set EXPTOOL_DEBUG=1 for the traceback.",
    )
