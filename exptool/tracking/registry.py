"""Writer registry: name -> factory. Built-in writers are imported only when first used."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

WriterFactory = Callable[..., Any]

_FACTORIES: dict[str, WriterFactory | str] = {
    "csv": "exptool.tracking.writers.csv_writer:CsvWriter",
    "tensorboard": "exptool.tracking.writers.tensorboard_writer:TensorBoardWriter",
    "wandb": "exptool.tracking.writers.wandb_writer:WandbWriter",
}
_ALIASES = {"tb": "tensorboard", "w&b": "wandb"}


def register_writer(name: str, factory: WriterFactory | None = None) -> Any:
    """Make a writer available as ``logger.initialize(name)`` (and ``tracking.writers`` in configs).

    ``factory`` is called as ``factory(run=run, resume_step=resume_step, **options)`` and returns a
    :class:`exptool.tracking.Writer`; a Writer subclass with that constructor works as is. Usable as
    a decorator: ``@register_writer("mine")`` above the class.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"Invalid writer name {name!r}.")
    if factory is None:

        def decorator(obj: WriterFactory) -> WriterFactory:
            _FACTORIES[name.lower()] = obj
            return obj

        return decorator
    _FACTORIES[name.lower()] = factory
    return factory


def writer_names() -> list[str]:
    """Names of the registered writers, sorted."""
    return sorted(_FACTORIES)


def get_factory(name: str) -> WriterFactory:
    """The factory registered under ``name`` (case-insensitive; ``tb`` means tensorboard).

    Raises:
        UsageError: no writer has that name.
    """
    key = name.lower() if isinstance(name, str) else name
    key = _ALIASES.get(key, key)
    factory = _FACTORIES.get(key)
    if factory is None:
        raise UsageError(f"Unknown writer {name!r}.", hint=f"Known writers: {', '.join(writer_names())}.")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _FACTORIES[key] = factory
    return factory


def canonical_name(name: str) -> str:
    """Registry key for ``name`` (lower case, aliases resolved)."""
    key = name.lower()
    return _ALIASES.get(key, key)
