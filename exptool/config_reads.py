"""Which config keys a trainer read: a dict that remembers every key looked up in it.

``exp train`` hands the trainer a :class:`TrackedConfig` and, at the end of a completed run, says
which keys were never read, first those set on the command line::

    set on the command line but never read by the trainer: optimizer.lr

That catches ``--set optimizer.lr=3e-4`` on a trainer that reads ``lr``: the override "worked"
and changed nothing.

A key counts as read when it is looked up (``cfg["lr"]``, ``cfg.get("lr")``, ``"lr" in cfg``),
or when its value is handed out by ``items()``/``values()``, a ``**cfg`` unpacking, ``dict(cfg)``
or a copy. Listing the keys alone (``keys()``, ``for k in cfg``) reads nothing. Nested mappings
are tracked too: ``cfg["optimizer"]["lr"]`` reads ``optimizer.lr``. A leaf is anything but a
non-empty mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["TrackedConfig", "unread_keys", "unread_overrides"]

_MISSING = object()


class TrackedConfig(dict):
    """A ``dict`` (``isinstance(cfg, dict)`` holds) that records which keys were read.

    Args:
        data: the config to wrap; nested mappings become tracked too (sharing one record).
    """

    __slots__ = ("_reads", "_prefix")

    def __init__(self, data: Mapping[str, Any] = (), *, _reads: set[str] | None = None, _prefix: str = ""):
        super().__init__()
        self._reads: set[str] = set() if _reads is None else _reads
        self._prefix = _prefix
        for key, value in dict(data).items():
            dict.__setitem__(self, key, self._wrap(key, value))

    def _path(self, key: Any) -> str:
        return f"{self._prefix}{key}"

    def _wrap(self, key: Any, value: Any) -> Any:
        if isinstance(value, Mapping) and not isinstance(value, TrackedConfig):
            return TrackedConfig(value, _reads=self._reads, _prefix=f"{self._path(key)}.")
        return value

    def _mark(self, key: Any) -> None:
        self._reads.add(self._path(key))

    # -- reads ---------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        self._mark(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._mark(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._mark(key)
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[Any]:
        # Overriding __iter__ also sends dict(cfg), {**cfg} and f(**cfg) through keys() and
        # __getitem__ (CPython's fast path copies the storage of a plain dict without lookups).
        return dict.__iter__(self)

    def items(self) -> Any:
        for key in dict.keys(self):
            self._mark(key)
        return dict.items(self)

    def values(self) -> Any:
        for key in dict.keys(self):
            self._mark(key)
        return dict.values(self)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        self._mark(key)
        return dict.pop(self, key) if default is _MISSING else dict.pop(self, key, default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._mark(key)
        if not dict.__contains__(self, key):
            dict.__setitem__(self, key, self._wrap(key, default))
        return dict.__getitem__(self, key)

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.deepcopy and pickle: a plain dict, and everything in it counts as read.
        return (dict, (dict(self.items()),))

    # -- writes keep tracking nested values ----------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, self._wrap(key, value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    # -- exptool's own, untracked view -----------------------------------------------------------
    def plain(self) -> dict[str, Any]:
        """A plain nested ``dict`` copy, without counting anything as read (for saving, logging)."""
        return {k: v.plain() if isinstance(v, TrackedConfig) else v for k, v in dict.items(self)}

    @property
    def read_keys(self) -> set[str]:
        """Dotted keys read so far (shared by the whole tree)."""
        return set(self._reads)


def _leaves(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted leaf key of ``config`` (an empty mapping is a leaf), in config order."""
    items = config.plain().items() if isinstance(config, TrackedConfig) else config.items()
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def unread_keys(config: TrackedConfig, ignore: Iterable[str] = ()) -> list[str]:
    """Dotted leaf keys of ``config`` never read, in config order; keys under ``ignore`` left out.

    ``ignore`` holds top-level names or dotted prefixes (exptool's own sections).
    """
    reads = config.read_keys
    skip = tuple(ignore)
    return [leaf for leaf in _leaves(config) if leaf not in reads and not _under(leaf, skip)]


def unread_overrides(config: TrackedConfig, overrides: Iterable[str], ignore: Iterable[str] = ()) -> list[str]:
    """The keys set by ``overrides`` (``--set``) that the trainer never read, nor anything under them."""
    reads = config.read_keys
    skip = tuple(ignore)
    unread = []
    for text in overrides:
        key = text.lstrip("+").partition("=")[0].strip()
        if not key or key in unread or _under(key, skip):
            continue
        if key not in reads and not any(r.startswith(key + ".") for r in reads):
            unread.append(key)
    return unread
