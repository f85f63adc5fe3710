"""Which modules the debugger watches, and what it does for each."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from torch import nn

from ..errors import UsageError
from ._tensors import ROOT_NAME
from .breakpoints import BreakInfo


class Watch:
    """What the debugger does for one module."""

    __slots__ = ("outputs", "weights", "gradients", "stats", "nan", "break_forward", "break_backward", "condition")

    def __init__(self) -> None:
        self.outputs = self.weights = self.gradients = self.stats = self.nan = False
        self.break_forward = self.break_backward = False
        self.condition: Callable[[BreakInfo], bool] | None = None

    @property
    def needs_grad(self) -> bool:
        return self.gradients or self.stats or self.nan or self.break_backward


def select_modules(modules: dict[str, nn.Module], targets: Iterable[str | nn.Module], what: str) -> list[str]:
    """Qualified names of the modules that ``targets`` (names, glob patterns, modules; none: all) choose.

    Raises:
        UsageError: a target that names no module of the model (the hint lists some), or a bad type.
    """
    names: list[str] = []
    by_id = {id(module): name for name, module in modules.items()}
    for target in targets or ("*",):
        if isinstance(target, nn.Module):
            if id(target) not in by_id:
                raise UsageError(f"{what}: the {type(target).__name__} given is not part of this model")
            matched = [by_id[id(target)]]
        elif isinstance(target, str):
            if target in modules or target == ROOT_NAME:
                matched = ["" if target == ROOT_NAME else target]
            else:
                matched = [name for name in modules if fnmatch.fnmatchcase(name, target)]
            if not matched:
                known = ", ".join(repr(n) for n in list(modules)[1:9]) or "none"
                more = ", ..." if len(modules) > 9 else ""
                raise UsageError(f"{what}: no module of the model matches {target!r}",
                                 hint=f"module names come from model.named_modules(): {known}{more}")
        else:
            raise UsageError(f"{what}: expected a module name, pattern or nn.Module, got {target!r}")
        names.extend(n for n in matched if n not in names)
    return names
