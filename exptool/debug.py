"""ModelDebugger: look inside a PyTorch model while it runs.

The template's ``InspectorGadgets``, modernised. Choose modules by their qualified name from
``model.named_modules()`` (glob patterns such as ``"encoder.*"`` welcome), then record their outputs,
weights and output gradients, stop in a debugger in the forward or backward pass, find the first
module whose output or gradient holds NaN/Inf, and print or log a statistics table::

    from exptool import ModelDebugger

    with ModelDebugger(model).record_outputs("encoder.*").record_gradients("head") as dbg:
        loss = criterion(model(x), y)
        loss.backward()
    dbg.print_statistics()
    print(dbg.outputs["encoder.fc1"][-1].shape)

    finding = ModelDebugger(model).find_nan(x, loss_fn=lambda out: criterion(out, y))
    print(finding)  # e.g. "NaN in the forward output of 'encoder.fc2' (Linear) ..."

Hooks are removed and every module's ``training`` flag restored when the ``with`` block ends, even
on error. Gradients are caught with hooks on the output tensors (not module backward hooks), so
in-place operations such as ``ReLU(inplace=True)`` keep working.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import UsageError, WorkFailedError
from .runtime import log

__all__ = ["STAT_NAMES", "BreakInfo", "ModelDebugger", "NanFinding", "NonFiniteError", "find_nan"]

STAT_NAMES = ("mean", "std", "min", "max", "absmax", "norm")
ROOT_NAME = "<root>"


def _display(name: str) -> str:
    return name or ROOT_NAME


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
        name = _display(self.module)
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
            text += (f"; the gradient of the output of {_display(self.previous)!r} was still finite, so it arose in "
                     f"the backward of {_display(self.previous)!r} or of the operations between the two")
        return text


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
        head = f"[exptool] {self.phase} breakpoint at {_display(self.name)!r} ({type(self.module).__name__})"
        if self.phase == "forward":
            shapes_in = [list(t.shape) for t in _tensors(self.inputs)]
            shapes_out = [list(t.shape) for t in _tensors(self.output)]
            return f"{head}: input shapes {shapes_in}, output shapes {shapes_out}"
        shape = None if self.grad is None else list(self.grad.shape)
        return f"{head}: grad shape {shape}"


def _interactive_debugger(info: BreakInfo) -> None:
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


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists and dicts, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _float_tensors(obj: Any) -> Iterator[torch.Tensor]:
    return (t for t in _tensors(obj) if t.is_floating_point() or t.is_complex())


def _copy(obj: Any, device: torch.device | None) -> Any:
    """A detached copy of a (nested) output, on ``device`` (or where it was)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device or obj.device, copy=True)
    if isinstance(obj, tuple):
        return tuple(_copy(item, device) for item in obj)
    if isinstance(obj, list):
        return [_copy(item, device) for item in obj]
    if isinstance(obj, dict):
        return {key: _copy(value, device) for key, value in obj.items()}
    return obj


def _nonfinite_kind(tensor: torch.Tensor) -> str | None:
    """``None`` if every value is finite, else ``"NaN"``, ``"Inf"`` or ``"NaN and Inf"``."""
    t = tensor.detach()
    if bool(torch.isfinite(t).all()):
        return None
    has_nan = bool(torch.isnan(t).any())
    has_inf = bool(torch.isinf(t).any())
    return "NaN and Inf" if has_nan and has_inf else ("NaN" if has_nan else "Inf")


def _stats_vector(tensor: torch.Tensor) -> torch.Tensor | None:
    """mean, std, min, max, abs-max and L2 norm as one float tensor, left on the device (no sync)."""
    t = tensor.detach()
    if t.numel() == 0:
        return None
    if t.is_complex():
        t = t.abs()
    t = t.float()
    return torch.stack([t.mean(), t.std(correction=0), t.min(), t.max(), t.abs().max(), t.norm()])


class _Watch:
    """What the debugger does for one module."""

    __slots__ = ("outputs", "weights", "gradients", "stats", "nan", "break_forward", "break_backward", "condition")

    def __init__(self) -> None:
        self.outputs = self.weights = self.gradients = self.stats = self.nan = False
        self.break_forward = self.break_backward = False
        self.condition: Callable[[BreakInfo], bool] | None = None

    @property
    def needs_grad(self) -> bool:
        return self.gradients or self.stats or self.nan or self.break_backward


def _nonfinite_condition(info: BreakInfo) -> bool:
    values = [info.grad] if info.phase == "backward" else list(_float_tensors(info.output))
    return any(v is not None and _nonfinite_kind(v) is not None for v in values)


class ModelDebugger:
    """Record, break on and check the modules of a model while it runs.

    Configure what to watch with the chainable ``record_outputs``, ``record_weights``,
    ``record_gradients``, ``record_statistics``, ``set_breakpoint`` and ``watch_nan``, then run the
    model inside ``with debugger:`` (or between ``inspect()``/``inspect_once()`` and ``stop()``).

    Args:
        model: the model to look into.
        once: do each watched thing only for the first pass, then remove the hooks (the template's
            ``inspect_once``); by default, every pass until the ``with`` block ends.
        keep: how many records (outputs, weights, gradients) to keep per module, oldest dropped
            first; ``None`` keeps all of them (mind the memory).
        storage_device: where recorded tensors are copied to; ``None`` keeps them on their device.
        train: put the model in training (``True``) or evaluation (``False``) mode while active;
            ``None`` leaves it alone. The mode of every module is restored when the debugger stops.
        debugger: called with a ``BreakInfo`` at each breakpoint; by default ipdb if installed,
            else pdb (``PYTHONBREAKPOINT=0`` turns breakpoints off).

    Attributes:
        nan_finding: the first ``NanFinding`` since the last ``clear()``, or ``None``.
    """

    def __init__(self, model: nn.Module, *, once: bool = False, keep: int | None = 10,
                 storage_device: str | torch.device | None = "cpu", train: bool | None = None,
                 debugger: Callable[[BreakInfo], None] | None = None):
        if not isinstance(model, nn.Module):
            raise UsageError(f"ModelDebugger needs a torch.nn.Module, got {type(model).__name__}")
        if keep is not None and keep < 1:
            raise UsageError(f"keep must be at least 1 (or None for all), got {keep}")
        self.model = model
        self.once = once
        self.keep = keep
        self.storage_device = None if storage_device is None else torch.device(storage_device)
        self.train = train
        self.debugger = debugger or _interactive_debugger
        self.nan_finding: NanFinding | None = None
        self._raise_on_nan = False
        self._watches: dict[str, _Watch] = {}
        self._modules = dict(model.named_modules())
        self._handles: dict[str, Any] = {}
        self._saved_modes: list[tuple[nn.Module, bool]] | None = None
        self._session = 0
        self._active = False
        self._outputs: dict[str, deque] = {}
        self._weights: dict[str, deque] = {}
        self._gradients: dict[str, deque] = {}
        self._stats: dict[tuple[str, str], tuple[torch.Tensor, tuple[int, ...]]] = {}
        self._order: dict[str, None] = {}  # modules in the order they first ran
        self._passes: dict[str, int] = {}
        self._last_finite_grad: str | None = None

    # ----------------------------------------------------------------- choosing what to watch
    def _select(self, targets: Iterable[str | nn.Module], what: str) -> list[str]:
        names: list[str] = []
        by_id = {id(module): name for name, module in self._modules.items()}
        for target in targets or ("*",):
            if isinstance(target, nn.Module):
                if id(target) not in by_id:
                    raise UsageError(f"{what}: the {type(target).__name__} given is not part of this model")
                matched = [by_id[id(target)]]
            elif isinstance(target, str):
                if target in self._modules or target == ROOT_NAME:
                    matched = ["" if target == ROOT_NAME else target]
                else:
                    matched = [name for name in self._modules if fnmatch.fnmatchcase(name, target)]
                if not matched:
                    known = ", ".join(repr(n) for n in list(self._modules)[1:9]) or "none"
                    more = ", ..." if len(self._modules) > 9 else ""
                    raise UsageError(f"{what}: no module of the model matches {target!r}",
                                     hint=f"module names come from model.named_modules(): {known}{more}")
            else:
                raise UsageError(f"{what}: expected a module name, pattern or nn.Module, got {target!r}")
            names.extend(n for n in matched if n not in names)
        return names

    def _watch(self, targets: Iterable[str | nn.Module], what: str, **flags: Any) -> ModelDebugger:
        for name in self._select(targets, what):
            watch = self._watches.setdefault(name, _Watch())
            for flag, value in flags.items():
                setattr(watch, flag, value)
        if self._active:
            self._detach()
            self._attach()
        return self

    def record_outputs(self, *modules: str | nn.Module) -> ModelDebugger:
        """Keep a detached copy of each chosen module's output at every forward pass.

        Args:
            *modules: qualified names, glob patterns (``"encoder.*"``) or the modules themselves;
                none means every module. ``"<root>"`` or ``""`` is the model itself.
        """
        return self._watch(modules, "record_outputs", outputs=True)

    def record_weights(self, *modules: str | nn.Module) -> ModelDebugger:
        """Keep a copy of each chosen module's own parameters (``{name: tensor}``) at every forward pass.

        Modules without parameters of their own are skipped when chosen by a pattern.
        """
        names = self._select(modules, "record_weights")
        with_params = [n for n in names if any(True for _ in self._modules[n].parameters(recurse=False))]
        explicit = {m for m in modules if isinstance(m, str) and m in self._modules}
        lacking = [n for n in names if n not in with_params and n in explicit]
        if lacking:
            raise UsageError(f"record_weights: module {lacking[0]!r} has no parameters of its own")
        return self._watch(with_params, "record_weights", weights=True) if with_params else self

    def record_gradients(self, *modules: str | nn.Module) -> ModelDebugger:
        """Keep the gradient with respect to each chosen module's output at every backward pass."""
        return self._watch(modules, "record_gradients", gradients=True)

    def record_statistics(self, *modules: str | nn.Module) -> ModelDebugger:
        """Compute output and gradient statistics of the chosen modules without keeping the tensors.

        Modules whose outputs or gradients are recorded get statistics anyway.
        """
        return self._watch(modules, "record_statistics", stats=True)

    def set_breakpoint(self, *modules: str | nn.Module, forward: bool = True, backward: bool = False,
                       when: Callable[[BreakInfo], bool] | str | None = None) -> ModelDebugger:
        """Stop in the debugger after the chosen modules' forward pass and/or in their backward pass.

        Args:
            *modules: names, patterns or modules, as for ``record_outputs``.
            forward: break after the module's forward (its inputs and output are in ``info``).
            backward: break when the gradient with respect to its output is computed.
            when: break only if this returns true for the ``BreakInfo``; ``"nonfinite"`` breaks only
                on an output or gradient holding NaN/Inf.
        """
        if not (forward or backward):
            raise UsageError("set_breakpoint: choose forward=True and/or backward=True")
        if when == "nonfinite":
            when = _nonfinite_condition
        elif when is not None and not callable(when):
            raise UsageError(f"set_breakpoint: when must be a callable or 'nonfinite', got {when!r}")
        return self._watch(modules, "set_breakpoint", break_forward=forward, break_backward=backward,
                           condition=when)

    def watch_nan(self, *modules: str | nn.Module, raise_error: bool = False) -> ModelDebugger:
        """Check the chosen modules' outputs and output gradients for NaN/Inf (every module by default).

        The first hit, in execution order, is kept in ``nan_finding``. Each check synchronises with
        the device, so expect a slower model while watching.

        Args:
            raise_error: raise ``NonFiniteError`` at the first hit, stopping the pass right there.
        """
        self._raise_on_nan = raise_error
        return self._watch(modules, "watch_nan", nan=True)

    # ----------------------------------------------------------------- starting and stopping
    def inspect(self) -> ModelDebugger:
        """Start watching at every pass until ``stop()``."""
        return self.start(once=False)

    def inspect_once(self) -> ModelDebugger:
        """Start watching for one pass only: each hook fires once, then is removed."""
        return self.start(once=True)

    def start(self, once: bool | None = None) -> ModelDebugger:
        """Attach the hooks (and switch the model's mode if ``train`` was given).

        Args:
            once: override the constructor's ``once`` for this session.
        """
        if self._active:
            self.stop()
        if once is not None:
            self.once = once
        self._saved_modes = [(module, module.training) for module in self.model.modules()]
        self._active = True
        try:
            if self.train is not None:
                self.model.train(self.train)
            self._attach()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove every hook and restore each module's training flag. Safe to call twice."""
        self._active = False
        self._detach()
        if self._saved_modes is not None:
            for module, training in self._saved_modes:
                module.training = training
            self._saved_modes = None

    @property
    def active(self) -> bool:
        """Whether hooks are attached."""
        return self._active

    def __enter__(self) -> ModelDebugger:
        if not self._active:
            self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()

    def _attach(self) -> None:
        self._session += 1
        self._last_finite_grad = None
        for name, watch in self._watches.items():
            label = _display(name)  # results are keyed by label: "<root>" rather than "" for the model
            hook = self._make_forward_hook(label, watch, self._session)
            self._handles[label] = self._modules[name].register_forward_hook(hook)

    def _detach(self) -> None:
        self._session += 1  # gradient hooks still sitting on live tensors become no-ops
        while self._handles:
            self._handles.popitem()[1].remove()

    # ----------------------------------------------------------------- hooks

    def _store(self, table: dict[str, deque], name: str, value: Any) -> None:
        records = table.get(name)
        if records is None:
            records = table[name] = deque(maxlen=self.keep)
        records.append(value)

    def _make_forward_hook(self, name: str, watch: _Watch, session: int) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if session != self._session:
                return
            self._order.setdefault(name, None)
            self._last_finite_grad = None  # a new forward pass: the next backward starts afresh
            self._passes[name] = self._passes.get(name, 0) + 1
            if self.once:  # everything below happens for this call only; gradient hooks fire once too
                handle = self._handles.pop(name, None)
                if handle is not None:
                    handle.remove()
            first = next(_float_tensors(output), None)
            if watch.outputs:
                self._store(self._outputs, name, _copy(output, self.storage_device))
            if watch.weights:
                self._store(self._weights, name, {
                    pname: _copy(p, self.storage_device) for pname, p in module.named_parameters(recurse=False)})
            if (watch.stats or watch.outputs) and first is not None:
                vector = _stats_vector(first)
                if vector is not None:
                    self._stats[(name, "output")] = (vector, tuple(first.shape))
            if watch.nan and self.nan_finding is None:
                self._check_forward(name, module, inputs, output)
            if watch.needs_grad and torch.is_grad_enabled():
                self._attach_grad_hooks(name, module, watch, output, session)
            if watch.break_forward:
                info = BreakInfo(name, module, "forward", inputs=inputs, output=output)
                if watch.condition is None or watch.condition(info):
                    self.debugger(info)

        return hook

    def _attach_grad_hooks(self, name: str, module: nn.Module, watch: _Watch, output: Any, session: int) -> None:
        for index, tensor in enumerate(t for t in _float_tensors(output) if t.requires_grad):
            tensor.register_hook(self._make_grad_hook(name, module, watch, session, primary=index == 0))

    def _make_grad_hook(self, name: str, module: nn.Module, watch: _Watch, session: int,
                        primary: bool) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            if session != self._session:
                return
            if primary and watch.gradients:
                self._store(self._gradients, name, _copy(grad, self.storage_device))
            if primary and (watch.stats or watch.gradients):
                vector = _stats_vector(grad)
                if vector is not None:
                    self._stats[(name, "grad")] = (vector, tuple(grad.shape))
            if watch.nan and self.nan_finding is None:
                kind = _nonfinite_kind(grad)
                if kind is None:
                    self._last_finite_grad = name
                else:
                    self._found(NanFinding(name, type(module).__name__, "backward", kind,
                                           self._passes.get(name, 0), previous=self._last_finite_grad))
            if primary and watch.break_backward:
                info = BreakInfo(name, module, "backward", grad=grad)
                if watch.condition is None or watch.condition(info):
                    self.debugger(info)

        return hook

    def _check_forward(self, name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        for tensor in _float_tensors(output):
            kind = _nonfinite_kind(tensor)
            if kind is not None:
                floats = list(_float_tensors(inputs))
                input_finite = all(_nonfinite_kind(t) is None for t in floats) if floats else None
                self._found(NanFinding(name, type(module).__name__, "forward", kind, self._passes[name],
                                       input_finite=input_finite))
                return

    def _found(self, finding: NanFinding) -> None:
        self.nan_finding = finding
        if self._raise_on_nan:
            raise NonFiniteError(finding)

    # ----------------------------------------------------------------- results
    @property
    def outputs(self) -> dict[str, list[Any]]:
        """Recorded outputs per module name (``"<root>"`` for the model itself), oldest first."""
        return {name: list(records) for name, records in self._outputs.items()}

    @property
    def weights(self) -> dict[str, list[dict[str, torch.Tensor]]]:
        """Recorded parameters per module name (``{parameter name: tensor}`` per pass), oldest first."""
        return {name: list(records) for name, records in self._weights.items()}

    @property
    def gradients(self) -> dict[str, list[torch.Tensor]]:
        """Recorded gradients with respect to each module's output, oldest first."""
        return {name: list(records) for name, records in self._gradients.items()}

    def get_output(self, name: str) -> list[Any]:
        """Recorded outputs of one module (template name)."""
        return list(self._outputs.get(_display(name), ()))

    def get_weights(self, name: str) -> list[dict[str, torch.Tensor]]:
        """Recorded parameters of one module (template name)."""
        return list(self._weights.get(_display(name), ()))

    def get_gradients(self, name: str) -> list[torch.Tensor]:
        """Recorded output gradients of one module (template name)."""
        return list(self._gradients.get(_display(name), ()))

    def clear(self) -> None:
        """Forget every record, statistic and NaN finding (the hooks stay)."""
        for table in (self._outputs, self._weights, self._gradients, self._stats, self._order, self._passes):
            table.clear()
        self.nan_finding = None
        self._last_finite_grad = None

    def statistics(self) -> list[dict[str, Any]]:
        """Statistics of the latest output and output gradient of each watched module.

        Returns:
            One dict per module and kind, in execution order: ``module``, ``kind`` (``"output"`` or
            ``"grad"``), ``shape`` and the floats ``mean``, ``std`` (population), ``min``, ``max``,
            ``absmax``, ``norm``. Only the first floating-point tensor of an output is described.
        """
        rows = []
        names = list(self._order) + [n for n, _ in self._stats if n not in self._order]
        for name in dict.fromkeys(names):
            for kind in ("output", "grad"):
                entry = self._stats.get((name, kind))
                if entry is None:
                    continue
                vector, shape = entry
                values = vector.tolist()
                rows.append({"module": _display(name), "kind": kind, "shape": list(shape),
                             **dict(zip(STAT_NAMES, values, strict=True))})
        return rows

    def print_statistics(self, console: Any = None) -> None:
        """Print ``statistics()`` as a rich table; non-finite values are shown in red.

        Args:
            console: a ``rich.console.Console``; a new one on stdout by default.
        """
        import math  # noqa: PLC0415

        from rich.console import Console  # noqa: PLC0415 - rich only when a report is printed
        from rich.table import Table  # noqa: PLC0415

        if console is None:
            console = Console()
            if not console.is_terminal:  # a log file: don't squeeze the table into 80 columns
                console.width = max(console.width, 160)
        rows = self.statistics()
        if not rows:
            console.print("no statistics recorded: watch some modules and run the model first")
            return
        table = Table(title="Model statistics", title_justify="left")
        table.add_column("module", no_wrap=True)
        table.add_column("kind")
        table.add_column("shape")
        for stat in STAT_NAMES:
            table.add_column(stat, justify="right")
        for row in rows:
            cells = [f"{row[s]:.4g}" if math.isfinite(row[s]) else f"[red]{row[s]}[/red]" for s in STAT_NAMES]
            table.add_row(row["module"], row["kind"], "x".join(map(str, row["shape"])), *cells)
        console.print(table)

    def log_statistics(self, logger: Any, step: int | None = None, prefix: str = "debug/") -> dict[str, float]:
        """Send ``statistics()`` to a logger: anything with a ``.log(dict, step)`` method.

        Keys are ``<prefix><module>/<kind>_<stat>``, e.g. ``debug/encoder.fc1/grad_norm``.

        Returns:
            The dictionary that was logged.
        """
        metrics = {f"{prefix}{row['module']}/{row['kind']}_{stat}": row[stat]
                   for row in self.statistics() for stat in STAT_NAMES}
        if metrics:
            logger.log(metrics, step)
        return metrics

    # ----------------------------------------------------------------- NaN hunting in one call
    def find_nan(self, *args: Any, loss_fn: Callable[[Any], torch.Tensor] | None = None,
                 modules: Iterable[str | nn.Module] = ("*",), **kwargs: Any) -> NanFinding | None:
        """Run one forward pass (and a backward pass if ``loss_fn`` is given) and name the first
        module whose output or output gradient holds NaN/Inf.

        This debugger's own hooks and records are left untouched.

        Args:
            *args, **kwargs: the model's inputs.
            loss_fn: maps the model's output to a scalar loss to back-propagate.
            modules: which modules to check; all of them by default.

        Returns:
            The first ``NanFinding`` in execution order, or ``None`` if everything stayed finite.
        """
        return find_nan(self.model, *args, loss_fn=loss_fn, modules=modules, **kwargs)


def find_nan(model: nn.Module, *args: Any, loss_fn: Callable[[Any], torch.Tensor] | None = None,
             modules: Iterable[str | nn.Module] = ("*",), **kwargs: Any) -> NanFinding | None:
    """Run ``model(*args, **kwargs)`` (and ``loss_fn(output).backward()`` if given) and return the
    first module, in execution order, whose output or output gradient holds NaN/Inf.

    Forward findings come before backward ones. Hooks are removed afterwards, even on error, and
    the parameters' ``.grad`` are put back as they were, so the probe adds no gradient to training
    (in training mode its forward pass still updates BatchNorm running statistics, as any would).
    """
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
