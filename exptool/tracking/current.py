"""The current logger: the template's global ``LOGGER``, as :func:`get_logger` / :func:`set_logger`."""

from __future__ import annotations

from typing import Any

_current: Any = None
_null: Any = None


def get_logger() -> Any:
    """The current logger (the template's ``LOGGER``): the last one created or set.

    Without one, a placeholder whose calls do nothing is returned, so library code may log
    unconditionally.
    """
    global _null
    if _current is not None:
        return _current
    if _null is None:
        from .logger import Logger  # noqa: PLC0415

        _null = Logger._placeholder()
    return _null


def set_logger(logger: Any) -> None:
    """Make ``logger`` the one :func:`get_logger` returns (None clears it)."""
    global _current
    _current = logger


def forget(logger: Any) -> None:
    """A finished logger stops being the current one."""
    global _current
    if _current is logger:
        _current = None
