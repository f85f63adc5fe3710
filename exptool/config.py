"""Configs: load and save YAML (safe loader) and JSON, dotted overrides, merging."""

from __future__ import annotations

import copy
import json
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text
from .errors import ConfigError, NotFoundError, UsageError

YAML_SUFFIXES = (".yaml", ".yml")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Load a YAML or JSON config file (YAML with the safe loader).

    A bare name that is not a file here (``load_config("default")``, the template's call) is
    looked up in the workspace's ``config/`` and ``configurations/`` folders.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: the file cannot be parsed; the message names the file and line.
    """
    path = Path(path)
    if not path.suffix and len(path.parts) == 1 and not path.exists():
        path = _named_config(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"Config file {path} not found.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config {path} is a folder, not a file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            key = _key_on_line(text, exc.lineno - 1)
            near = f" (key {key!r})" if key else ""
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ConfigError(f"{path}, {where}: invalid JSON: {exc.msg}{near}.") from None
    else:
        import yaml  # noqa: PLC0415

        try:
            data = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}{where}: invalid YAML: {problem}{_yaml_context(exc, text)}.") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping (key: value) at the top level.")
    return data


def _named_config(name: str) -> Path:
    from .errors import NotAWorkspaceError  # noqa: PLC0415
    from .workspace import Workspace  # noqa: PLC0415

    try:
        workspace = Workspace.find()
    except NotAWorkspaceError:
        raise NotFoundError(
            f"Config {name!r} not found: no such file here, and not inside a workspace to look it up in.",
            hint="Give a path to a YAML/JSON file, or run this inside a workspace (exp init).",
        ) from None
    return workspace.resolve_config(name)


_UNIQUE_KEY_LOADER: Any = None


def _unique_key_loader() -> Any:
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the last).

    ``<<`` merge keys still work: a key given explicitly next to a merge overrides the merged one.
    """
    global _UNIQUE_KEY_LOADER
    if _UNIQUE_KEY_LOADER is None:
        import yaml  # noqa: PLC0415

        class UniqueKeyLoader(yaml.SafeLoader):
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[tuple[str, str]] = set()
                for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark,
                            f"found duplicate key {key_node.value!r}", key_node.start_mark)
                    seen.add(key)
                return super().construct_mapping(node, deep)

        _UNIQUE_KEY_LOADER = UniqueKeyLoader
    return _UNIQUE_KEY_LOADER


def _yaml_context(exc: Any, text: str) -> str:
    """Where a YAML error really started (an unclosed bracket is reported lines later) and its key."""
    mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    parts = []
    if context_mark is not None and mark is not None and context_mark.line != mark.line:
        parts.append(f"{getattr(exc, 'context', None) or 'started'} at line {context_mark.line + 1}")
    start = context_mark if context_mark is not None else mark
    key = _key_on_line(text, start.line) if start is not None else None
    if key:
        parts.append(f"key {key!r}")
    return f" ({', '.join(parts)})" if parts else ""


def _key_on_line(text: str, index: int) -> str | None:
    """The mapping key written on line ``index`` (0-based) of a YAML or JSON text, if any."""
    lines = text.splitlines()
    if not 0 <= index < len(lines):
        return None
    found = re.match(r"\s*(?:-\s+)?[\"']?([^\s#:'\"{\[][^:#'\"]*?)[\"']?\s*:(?:\s|$)", lines[index])
    return found.group(1) if found else None


def save_config(config: Mapping[str, Any], path: str | os.PathLike, run: str | None = None) -> Path:
    """Save ``config`` atomically as JSON or YAML, chosen by the file suffix.

    NumPy and 0-d torch scalars become plain numbers, paths become strings, tuples and sets lists.
    ``save_config(config, exp, run)`` (the template's call) writes that run's ``config.json``.

    Raises:
        ConfigError: a value has no YAML/JSON form (the message names its key); nothing is written.
    """
    if run is not None:
        from .config_compat import resolve_run  # noqa: PLC0415

        path = resolve_run(os.fspath(path), run).require().config_path
    path = Path(path)
    plain = _plain(config, "", path)
    if path.suffix.lower() in YAML_SUFFIXES:
        import yaml  # noqa: PLC0415

        text = yaml.safe_dump(plain, sort_keys=False)
    else:
        text = json.dumps(plain, indent=2) + "\n"
    atomic_write_text(path, text)
    return path


def _plain(obj: Any, key: str, path: Path) -> Any:
    """``obj`` as plain JSON/YAML types; ``key`` is its dotted place in the config, for the error."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, f"{key}.{k}" if key else str(k), path) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        try:
            obj = sorted(obj)
        except TypeError:
            obj = list(obj)
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{key}[{i}]", path) for i, v in enumerate(obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if getattr(obj, "shape", None) == () and callable(getattr(obj, "item", None)):  # numpy.bool_, 0-d tensors
        return _plain(obj.item(), key, path)
    raise ConfigError(
        f"Cannot save config {path}: {key or 'the config'} is a {type(obj).__module__}.{type(obj).__qualname__}, "
        "not a YAML/JSON value.",
        hint="Convert it to a number, string, list or mapping first (e.g. float(x), str(x)).",
    )


def parse_value(text: str) -> Any:
    """Type a command-line value the YAML way: ``3e-4`` -> float, ``true`` -> bool, ``[1,2]`` -> list."""
    import yaml  # noqa: PLC0415

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # YAML 1.1 reads "3e-4" as a string; users mean a number (but a quoted '10' stays a string).
    if isinstance(value, str) and text.strip()[:1] not in ("'", '"'):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def parse_override(text: str) -> tuple[list[str], Any, bool]:
    """Parse ``key.sub=value`` (or ``+key.sub=value`` to add a new key) into (keys, value, add)."""
    keys, value, add, _ = _parse_override(text)
    return keys, value, add


def _parse_override(text: str) -> tuple[list[str], Any, bool, str]:
    """(keys, typed value, add, raw value text) of one override."""
    add = text.startswith("+")
    body = text[1:] if add else text
    key, sep, raw = body.partition("=")
    keys = key.strip().split(".")
    if not sep or not key.strip() or any(not k for k in keys):
        raise ConfigError(f"Bad override {text!r}: expected key=value, e.g. optimizer.lr=3e-4.")
    return keys, parse_value(raw), add, raw


def apply_overrides(
    config: Mapping[str, Any], overrides: Iterable[str], *, allow_new: bool = False
) -> dict[str, Any]:
    """Return a copy of ``config`` with dotted overrides applied.

    Overriding a key that does not exist is an error unless the override starts with ``+``
    (``+model.dropout=0.1``) or ``allow_new`` is set. A value must fit the type of the value it
    replaces (see :func:`fit_override`): ``lr=abc`` over ``lr: 0.01`` is an error, not a poisoned
    config. A quoted value (``name='0042'``, in a shell ``--set "name='0042'"``) is always taken as
    that exact string.

    Raises:
        ConfigError: a malformed override, a missing key, or a value of the wrong type.
    """
    result = copy.deepcopy(dict(config))
    for text in overrides:
        keys, value, add, raw = _parse_override(text)
        node: Any = result
        for depth, key in enumerate(keys[:-1]):
            if key not in node:
                if not (add or allow_new):
                    raise _missing(text, keys[: depth + 1])
                node[key] = {}
            node = node[key]
            if not isinstance(node, dict):
                raise ConfigError(f"Override {text!r}: {'.'.join(keys[: depth + 1])} is not a mapping.")
        if keys[-1] not in node:
            if not (add or allow_new):
                raise _missing(text, keys)
            node[keys[-1]] = value
        else:
            node[keys[-1]] = fit_override(node[keys[-1]], value, raw, text)
    return result


def apply_values(
    config: Mapping[str, Any], values: Mapping[str, Any], *, allow_new: bool = False
) -> dict[str, Any]:
    """:func:`apply_overrides` with values already typed: ``{"optimizer.lr": 3e-4, "+new.key": 1}``.

    The same rules: a missing key needs ``+`` (or ``allow_new``), a value must fit the type of the
    one it replaces (:func:`fit_override`, with the value's text as typed).

    Raises:
        ConfigError: a malformed key, a missing key, or a value of the wrong type.
    """
    result = copy.deepcopy(dict(config))
    for key, value in values.items():
        add = key.startswith("+")
        keys = key[1:].split(".") if add else key.split(".")
        if not all(k.strip() for k in keys):
            raise ConfigError(f"Bad key {key!r}: expected a dotted key like optimizer.lr.")
        raw = value if isinstance(value, str) else json.dumps(value, default=str)
        text = f"{key}={raw}"
        node: Any = result
        for depth, part in enumerate(keys[:-1]):
            if part not in node:
                if not (add or allow_new):
                    raise _missing(text, keys[: depth + 1])
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"Override {text!r}: {'.'.join(keys[: depth + 1])} is not a mapping.")
        if keys[-1] not in node:
            if not (add or allow_new):
                raise _missing(text, keys)
            node[keys[-1]] = copy.deepcopy(value)
        else:
            node[keys[-1]] = fit_override(node[keys[-1]], copy.deepcopy(value), raw, text)
    return result


def _quoted(raw: str) -> bool:
    raw = raw.strip()
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in ("'", '"')


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _fits(old: Any, new: Any, raw: str) -> tuple[bool, Any]:
    """(fits, value to store) for ``new`` replacing ``old``."""
    if isinstance(old, bool):
        return isinstance(new, bool), new
    if isinstance(old, numbers.Integral):  # a number fits: a whole one stays an integer (epochs=3.0 -> 3)
        number = isinstance(new, numbers.Real) and not isinstance(new, bool)
        return number, int(new) if number and float(new).is_integer() else new
    if isinstance(old, numbers.Real):
        number = isinstance(new, numbers.Real) and not isinstance(new, bool)
        return number, float(new) if number else new
    if isinstance(old, str):
        if isinstance(new, str):
            return True, new
        return isinstance(new, (numbers.Real, bool)), raw.strip()  # the text as typed: run=0042 -> "0042"
    if isinstance(old, Mapping):
        return isinstance(new, Mapping), new
    if isinstance(old, (list, tuple)):
        return isinstance(new, (list, tuple)), list(new) if isinstance(new, (list, tuple)) else new
    return True, new


def fit_override(old: Any, new: Any, raw: str, text: str) -> Any:
    """``new`` (parsed from ``raw``) made to fit the type of the ``old`` value it replaces.

    Fits: the same type; any number where a number was (an integer where a float was is stored
    as a float, a whole number where an integer was as an integer); any scalar where a string
    was (the text as typed, so ``run=0042`` stays ``"0042"``); ``null`` anywhere, anything where
    ``null`` was; a quoted value anywhere (the way to force a string). Everything else (a word
    where a number was, a scalar where a mapping or list was, ...) raises :class:`ConfigError`
    naming the key, both types and the way out.
    """
    if old is None or new is None or _quoted(raw):
        return new
    fits, value = _fits(old, new, raw)
    if fits:
        return value
    key = text.lstrip("+").partition("=")[0].strip()
    shown = "" if isinstance(old, (Mapping, list, tuple)) else f" ({json.dumps(old)[:40]})"
    message = f"Override {text!r}: {key} is {_kind(old)}{shown} in the config; {raw.strip()!r} is {_kind(new)}."
    if isinstance(old, Mapping):
        hint = f"Override one of its keys (e.g. {key}.{next(iter(old), 'KEY')}=...)"
    else:
        hint = f"Give {_kind(old)}"
    hint += f", or quote the value to store it as text: --set \"{key}='{raw.strip()}'\""
    raise ConfigError(message, hint=hint)


def _missing(text: str, keys: list[str]) -> ConfigError:
    dotted = ".".join(keys)
    return ConfigError(
        f"Override {text!r}: the config has no key {dotted!r}.",
        hint=f"Check the spelling, or write +{text.lstrip('+')} to add a new key.",
    )


def merge_configs(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge_configs(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def as_config_dict(config: Any) -> dict[str, Any]:
    """A config given as a mapping, a dataclass, an object with ``to_dict()`` or a namespace, as a dict."""
    if isinstance(config, dict) and callable(getattr(config, "plain", None)):  # a TrackedConfig: no reads counted
        return config.plain()
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    import dataclasses  # noqa: PLC0415

    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if hasattr(config, "__dict__"):  # argparse.Namespace and similar
        return dict(vars(config))
    raise UsageError(f"A config must be a mapping, dataclass or namespace, not {type(config).__name__}.")
