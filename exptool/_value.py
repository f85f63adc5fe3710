"""A small immutable value-object base, cheaper to import than a frozen dataclass."""

from __future__ import annotations


class _Value:
    """An immutable value object: equality, hash and repr from the fields named in ``_FIELDS``.

    A hand-written stand-in for ``@dataclass(frozen=True)``, whose generated methods cost several
    milliseconds at import; this module is on every ``exp`` command's start-up path. Slots beyond
    ``_FIELDS`` hold derived values (paths) computed once, which keeps ``exp ls`` fast over many runs.
    """

    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()

    def __init__(self, *values: object) -> None:
        for name, value in zip(self._FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, *self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{self.__class__.__name__}({inner})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self.__class__.__name__} is immutable")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (self.__class__, self._fields())
