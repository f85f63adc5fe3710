"""The NaN finder: where a NaN or Inf first appeared, and a one-call probe that runs the model to find it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import WorkFailedError
from ._tensors import display_name


class NonFiniteError(WorkFailedError):
    """A watched module produced NaN or Inf and the debugger was asked to stop there.

    Attributes:
        finding: the ``NanFinding`` that describes where.
    """

    def __init__(self, finding: NanFinding):
        super().__init__(str(finding), hint="inspect that module's inputs, weights and gradients")
        self.finding = finding


@dataclass(frozen=True)
class NanFinding:
    """Where a NaN or Inf first appeared.

    Attributes:
        module: qualified name of the module (``"<root>"`` for the model itself).
        module_type: its class name.
        phase: ``"forward"`` (its output) or ``"backward"`` (the gradient with respect to its output).
        kind: ``"NaN"``, ``"Inf"`` or ``"NaN and Inf"``.
        forward_pass: how many forward passes of that module the debugger had seen, this one included.
        input_finite: forward only: whether the module's tensor inputs were all finite (``None`` if
            it had no floating-point tensor input). ``False`` means the problem came from upstream.
        previous: backward only: the module whose output gradient was last seen finite just before,
            i.e. the likely origin; ``None`` if the very first gradient was already non-finite.
    """

    module: str
    module_type: str
    phase: str
    kind: str
    forward_pass: int
    input_finite: bool | None = None
    previous: str | None = None

    def __str__(self) -> str:
        name = display_name(self.module)
        if self.phase == "forward":
            text = f"{self.kind} in the forward output of {name!r} ({self.module_type}), pass {self.forward_pass}"
            if self.input_finite is False:
                text += "; its input was already non-finite"
            elif self.input_finite:
                text += "; its inputs were finite, so it arose inside this module"
            return text
        text = f"{self.kind} in the gradient of the output of {name!r} ({self.module_type}) during backward"
        if self.previous is None:
            text += "; it arrived from outside the watched modules (the loss?)"
        else:
            previous = display_name(self.previous)
            text += (f"; the gradient of the output of {previous!r} was still finite, so it arose in "
                     f"the backward of {previous!r} or of the operations between the two")
        return text


def find_nan(model: nn.Module, *args: Any, loss_fn: Callable[[Any], torch.Tensor] | None = None,
             modules: Iterable[str | nn.Module] = ("*",), **kwargs: Any) -> NanFinding | None:
    """Run ``model(*args, **kwargs)`` (and ``loss_fn(output).backward()`` if given) and return the
    first module, in execution order, whose output or output gradient holds NaN/Inf.

    Forward findings come before backward ones. Hooks are removed afterwards, even on error, and
    the parameters' ``.grad`` are put back as they were, so the probe adds no gradient to training
    (in training mode its forward pass still updates BatchNorm running statistics, as any would).
    """
    from .debugger import ModelDebugger  # noqa: PLC0415 - the debugger imports this module

    saved_grads = [(p, p.grad) for p in model.parameters()]
    try:
        with ModelDebugger(model).watch_nan(*modules) as dbg:
            output = model(*args, **kwargs)
            if dbg.nan_finding is None and loss_fn is not None:
                loss = loss_fn(output)
                if loss.requires_grad:
                    for param, _ in saved_grads:
                        param.grad = None
                    loss.backward()
    finally:
        for param, grad in saved_grads:
            param.grad = grad
    return dbg.nan_finding
