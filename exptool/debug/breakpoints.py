"""Breakpoints: what a stop in a module's forward or backward hands over, and the default debugger."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..runtime import log
from ._tensors import display_name, float_tensors, nonfinite_kind, tensors


@dataclass
class BreakInfo:
    """What a breakpoint stopped on, handed to the debugger function.

    Attributes:
        name: qualified module name (``"<root>"`` for the model itself).
        module: the module.
        phase: ``"forward"`` or ``"backward"``.
        inputs: forward only: the positional inputs of the module.
        output: forward only: the module's output.
        grad: backward only: the gradient with respect to the module's output.
    """

    name: str
    module: nn.Module
    phase: str
    inputs: tuple[Any, ...] | None = None
    output: Any = None
    grad: torch.Tensor | None = None

    def describe(self) -> str:
        """One line for the terminal: module, phase and shapes."""
        head = f"[exptool] {self.phase} breakpoint at {display_name(self.name)!r} ({type(self.module).__name__})"
        if self.phase == "forward":
            shapes_in = [list(t.shape) for t in tensors(self.inputs)]
            shapes_out = [list(t.shape) for t in tensors(self.output)]
            return f"{head}: input shapes {shapes_in}, output shapes {shapes_out}"
        shape = None if self.grad is None else list(self.grad.shape)
        return f"{head}: grad shape {shape}"



def interactive_debugger(info: BreakInfo) -> None:
    """Stop in ipdb if installed, else pdb, in the hook's frame (``info`` is a local there)."""
    if os.environ.get("PYTHONBREAKPOINT") == "0":  # the standard way to switch breakpoints off
        return
    log.warning("%s", info.describe())
    frame = sys._getframe(1)
    if importlib.util.find_spec("ipdb") is not None:
        import ipdb  # noqa: PLC0415 - optional, only when a breakpoint is hit

        ipdb.set_trace(frame)
    else:
        import pdb  # noqa: PLC0415

        pdb.Pdb().set_trace(frame)


def nonfinite_condition(info: BreakInfo) -> bool:
    """The ``when=\"nonfinite\"`` condition: the output or gradient at the breakpoint holds NaN/Inf."""
    values = [info.grad] if info.phase == "backward" else list(float_tensors(info.output))
    return any(v is not None and nonfinite_kind(v) is not None for v in values)
