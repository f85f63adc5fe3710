"""Launchers: where a prepared run executes. Built-ins load lazily; others come from entry points.

A third-party package adds one in its ``pyproject.toml``::

    [project.entry-points."exptool.launchers"]
    mycluster = "mypkg.launch:MyClusterLauncher"    # a subclass of exptool.training.Launcher

and ``exp train --launcher mycluster`` (and sweeps) can use it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ...errors import UsageError
from .base import Job, Launcher, Outcome

ENTRY_POINT_GROUP = "exptool.launchers"

_BUILTIN = {
    "inprocess": "exptool.training.launchers.inprocess:InProcessLauncher",
    "torchrun": "exptool.training.launchers.torchrun:TorchrunLauncher",
    "pool": "exptool.training.launchers.pool:PoolLauncher",
    "slurm": "exptool.training.launchers.slurm:SlurmLauncher",
}

__all__ = ["ENTRY_POINT_GROUP", "Job", "Launcher", "Outcome", "default_launcher", "get_launcher", "launcher_names"]


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # noqa: PLC0415

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def launcher_names() -> list[str]:
    """Names usable with ``--launcher``: the built-ins and every installed entry point (nothing imported)."""
    return sorted(set(_BUILTIN) | set(_entry_points()))


def get_launcher(name: str, **options: Any) -> Launcher:
    """A new launcher by name, built with ``options``.

    Raises:
        UsageError: no launcher has that name, or its entry point does not load a Launcher.
    """
    target = _BUILTIN.get(name)
    if target is not None:
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        ep = _entry_points().get(name)
        if ep is None:
            raise UsageError(f"Unknown launcher {name!r}.", hint=f"Known launchers: {', '.join(launcher_names())}.")
        try:
            cls = ep.load()
        except Exception as exc:
            raise UsageError(f"Launcher {name!r} ({ep.value}) failed to load: {exc.__class__.__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Launcher)):
        raise UsageError(f"Launcher {name!r} is not a subclass of exptool.training.Launcher.")
    return cls(**options)


def default_launcher(dist: Any = None) -> Launcher:
    """In this process for one process; torchrun when ``dist`` (:class:`DistOptions`) asks for several."""
    if dist is not None and dist.world_size > 1:
        from .torchrun import TorchrunLauncher  # noqa: PLC0415

        return TorchrunLauncher(dist)
    from .inprocess import InProcessLauncher  # noqa: PLC0415

    return InProcessLauncher()
