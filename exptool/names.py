"""Validation of experiment and run names: one safe path component each."""

from __future__ import annotations

import re

from .errors import InvalidNameError

MAX_NAME_LENGTH = 100
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


def validate_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is a valid experiment/run name, else raise :class:`InvalidNameError`.

    Valid names are made of letters, digits, ``.``, ``_`` and ``-``, are not ``.`` or ``..``,
    do not start with ``-`` and have at most 100 characters.
    """
    shown = repr(name) if name else "an empty name"
    rule = "use letters, digits, '.', '_' and '-' only"
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"Invalid {kind}: {shown}.", hint=f"Give a non-empty {kind}; {rule}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"Invalid {kind}: longer than {MAX_NAME_LENGTH} characters.")
    if name in (".", ".."):
        raise InvalidNameError(f"Invalid {kind}: {shown} is not allowed.", hint=f"{rule[0].upper()}{rule[1:]}.")
    if name.startswith("-"):
        raise InvalidNameError(f"Invalid {kind}: {shown} starts with '-'.", hint=f"{rule[0].upper()}{rule[1:]}.")
    if not _NAME_RE.fullmatch(name):
        if "/" in name or "\\" in name:
            problem = "must be a single folder name"
        else:
            bad = next(c for c in name if not _NAME_RE.fullmatch(c))
            problem = f"contains {bad!r}"
        raise InvalidNameError(f"Invalid {kind}: {shown} {problem}.", hint=f"{rule[0].upper()}{rule[1:]}.")
    return name


def is_valid_name(name: str) -> bool:
    """True if :func:`validate_name` would accept ``name``."""
    try:
        validate_name(name)
    except InvalidNameError:
        return False
    return True
