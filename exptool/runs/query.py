"""The one small language of ``--where`` and ``--sort`` (``exp ls``, ``exp compare``, ``exp tb``).

Documented for users in docs/cli.md ("Selecting and sorting runs"). In short::

    where := or ;  or := and ("or" and)* ;  and := unary ("and" unary)* ;
    unary := "not" unary | "(" or ")" | KEY OP VALUE
    OP    := = == != < <= > >= ~ !~          (~ is a glob match: name~w1*)
    KEY   := a field (status, tag, name, ...), a metric (val_acc = its last value; min(loss),
             max(acc), last(acc)), a config key (optimizer.lr; config.lr when a metric has that name too)
    sort  := [-]KEY      (- for descending; runs without a value always come last)

Values are numbers, ``true``/``false``, ``null`` or text (quote text with spaces: ``note="two words"``).
A comparison with a run that lacks the key is false (``!=`` true). ``=`` on a list (the tags, a list
in the config) means "contains". Errors are :class:`QueryError` (exit 2) and name the known keys.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .index import RunRow
from .keys import FIELDS, FUNC_RE, MISSING, Key, Keys, QueryError

__all__ = ["FIELDS", "MISSING", "Key", "Keys", "QueryError", "compile_where", "needs_extrema", "select", "sort_rows"]

_OPS = ("==", "!=", "<=", ">=", "!~", "=", "<", ">", "~")
_BARE = re.compile(r"[^\s()=!<>~\"']+")


# -- values and comparisons ---------------------------------------------------------------------
class Literal:
    """A value written in an expression: its text and what it means (number, bool, None or text)."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, quoted: bool):
        self.text = text
        self.value: Any = text if quoted else _parse_value(text)


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _equal(value: Any, lit: Literal) -> bool:
    if value is MISSING or value is None:
        return lit.value is None
    if isinstance(value, list):
        return any(_equal(v, lit) for v in value)
    target = lit.value
    if type(value) is bool or type(target) is bool:
        return type(value) is bool and value is target
    if _is_number(value) and _is_number(target):
        return value == target
    return str(value) == lit.text


def _order(value: Any, lit: Literal) -> int | None:
    """-1, 0, 1 comparing ``value`` with the literal, or None when they do not compare."""
    if value is MISSING or value is None or isinstance(value, (list, dict)) or type(value) is bool:
        return None
    target = lit.value
    if _is_number(value) and _is_number(target):
        if math.isnan(value):
            return None
        return (value > target) - (value < target)
    if isinstance(value, str) and not _is_number(value):
        return (value > lit.text) - (value < lit.text)
    return None


def _glob(value: Any, lit: Literal) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, list):
        return any(_glob(v, lit) for v in value)
    return fnmatch.fnmatchcase(str(value), lit.text)


def _compare(op: str, get: Callable[[RunRow], Any], lit: Literal) -> Callable[[RunRow], bool]:
    if op in ("=", "=="):
        return lambda row: _equal(get(row), lit)
    if op == "!=":
        return lambda row: not _equal(get(row), lit)
    if op == "~":
        return lambda row: _glob(get(row), lit)
    if op == "!~":
        return lambda row: not _glob(get(row), lit)
    wanted = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (1, 0)}[op]
    return lambda row: _order(get(row), lit) in wanted


# -- parsing ------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, keys: Keys):
        self.text, self.keys, self.pos = text, keys, 0

    def fail(self, message: str) -> QueryError:
        return QueryError(
            f"Bad expression {self.text!r}: {message} (at character {self.pos + 1}).",
            hint="Write KEY OP VALUE, e.g. val_acc>0.9, optimizer.lr<=1e-3, status=completed, tag=baseline; "
            "combine with and/or/not and parentheses (see docs/cli.md).",
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self, *words: str) -> str | None:
        self.skip()
        for w in words:
            end = self.pos + len(w)
            if self.text[self.pos : end].lower() != w:
                continue
            if w.isalpha() and end < len(self.text) and _BARE.match(self.text[end]):
                continue  # "note=x" is a key, not "not"
            self.pos = end
            return w
        return None

    def parse(self) -> Callable[[RunRow], bool]:
        pred = self.or_()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos:]!r}")
        return pred

    def or_(self) -> Callable[[RunRow], bool]:
        parts = [self.and_()]
        while self.word("or", "||"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_(self) -> Callable[[RunRow], bool]:
        parts = [self.unary()]
        while self.word("and", "&&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def unary(self) -> Callable[[RunRow], bool]:
        self.skip()
        if self.word("not"):
            inner = self.unary()
            return lambda row: not inner(row)
        if self.text.startswith("(", self.pos) and not FUNC_RE.match(self.text, self.pos):
            self.pos += 1
            inner = self.or_()
            self.skip()
            if not self.text.startswith(")", self.pos):
                raise self.fail("a '(' is never closed")
            self.pos += 1
            return inner
        return self.condition()

    def condition(self) -> Callable[[RunRow], bool]:
        self.skip()
        start = self.pos
        func = FUNC_RE.match(self.text, self.pos)
        if func:
            self.pos = func.end()
        elif self.pos < len(self.text) and self.text[self.pos] in "\"'":
            self.quoted()
        else:
            bare = _BARE.match(self.text, self.pos)
            if not bare:
                raise self.fail("expected a key")
            self.pos = bare.end()
        key_text = self.text[start : self.pos]
        if key_text[:1] in "\"'":
            key_text = key_text[1:-1]
        self.skip()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.fail(f"expected an operator (= != < <= > >= ~) after {key_text!r}")
        self.pos += len(op)
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            lit = Literal(self.quoted(), quoted=True)
        else:
            value = re.compile(r"[^\s()]+").match(self.text, self.pos)
            if not value:
                raise self.fail(f"expected a value after {key_text}{op}")
            self.pos = value.end()
            lit = Literal(value.group(0), quoted=False)
        key = self.keys.resolve(key_text, self.text)
        return _compare(op, key.get, lit)

    def quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail("a quote is never closed")
        text = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return text


def needs_extrema(*texts: Iterable[str]) -> bool:
    """True if any expression or column refers to ``min(...)`` or ``max(...)`` (their data loads apart)."""
    pattern = re.compile(r"\b(min|max)\s*\(")
    return any(pattern.search(t) for group in texts for t in group)


def compile_where(expressions: Sequence[str], keys: Keys) -> Callable[[RunRow], bool]:
    """One predicate for all ``--where`` expressions (they must all hold)."""
    preds = [_Parser(text, keys).parse() for text in expressions if text.strip()]
    if not preds:
        return lambda row: True
    if len(preds) == 1:
        return preds[0]
    return lambda row: all(p(row) for p in preds)


def parse_sort(spec: str, keys: Keys) -> tuple[Key, bool]:
    """``[-]KEY`` -> (key, descending)."""
    text = spec.strip()
    descending = text.startswith("-")
    if text[:1] in "+-":
        text = text[1:].strip()
    if not text:
        raise QueryError(f"Bad --sort {spec!r}: give a key, e.g. --sort -val_acc.")
    return keys.resolve(text, f"--sort {spec}"), descending


def _sort_value(value: Any) -> tuple[int, Any]:
    if _is_number(value):
        return (0, value)
    if type(value) is bool:
        return (0, int(value))
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


def sort_rows(rows: list[RunRow], specs: Sequence[str], keys: Keys) -> list[RunRow]:
    """Rows sorted by every ``--sort`` spec (the first is the main order); missing values last."""
    order = [parse_sort(spec, keys) for spec in specs]
    out = list(rows)
    for key, descending in reversed(order):
        present, absent = [], []
        for row in out:
            value = key.get(row)
            if value is MISSING or value is None or (type(value) is float and math.isnan(value)):
                absent.append(row)
            else:
                present.append((_sort_value(value), row))
        present.sort(key=lambda pair: pair[0], reverse=descending)
        out = [row for _, row in present] + absent
    return out


def select(rows: list[RunRow], where: Sequence[str] = (), sort: Sequence[str] = ()) -> list[RunRow]:
    """Rows that match every ``where`` expression, in ``sort`` order (else as given)."""
    if not rows or (not where and not sort):
        return list(rows)
    keys = Keys(rows)
    pred = compile_where(where, keys)
    kept = [row for row in rows if pred(row)]
    return sort_rows(kept, sort, keys) if sort else kept
