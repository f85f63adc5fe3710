"""ModelDebugger: choose modules, hook them, and keep what the hooks see (records, statistics, NaN)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ._tensors import detached_copy, display_name, float_tensors, nonfinite_kind
from .breakpoints import BreakInfo, interactive_debugger, nonfinite_condition
from .nan import NanFinding, NonFiniteError, find_nan
from .selection import Watch, select_modules
from .statistics import print_statistics, statistics_metrics, statistics_rows, stats_vector
from .template import TemplateDebuggerMixin


class ModelDebugger(TemplateDebuggerMixin):
    """Record, break on and check the modules of a model while it runs.

    Configure what to watch with the chainable ``record_outputs``, ``record_weights``,
    ``record_gradients``, ``record_statistics``, ``set_breakpoint`` and ``watch_nan``, then run the
    model inside ``with debugger:`` (or between ``inspect()``/``inspect_once()`` and ``stop()``).

    The template's list-based calls (``log_outputs([layer], ["name"])``, ``set_breakpoint([layer],
    ["name"])``, results under those names) work too; see :mod:`exptool.debug.template`.

    Args:
        model: the model to look into (optional with the template's list-based calls only).
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

    def __init__(self, model: nn.Module | None = None, *, once: bool = False, keep: int | None = 10,
                 storage_device: str | torch.device | None = "cpu", train: bool | None = None,
                 debugger: Callable[[BreakInfo], None] | None = None):
        self._template_init()
        if model is not None and not isinstance(model, nn.Module):
            raise UsageError(f"ModelDebugger needs a torch.nn.Module, got {type(model).__name__}")
        if keep is not None and keep < 1:
            raise UsageError(f"keep must be at least 1 (or None for all), got {keep}")
        self.model = model
        self.once = once
        self.keep = keep
        self.storage_device = None if storage_device is None else torch.device(storage_device)
        self.train = train
        self.debugger = debugger or interactive_debugger
        self.nan_finding: NanFinding | None = None
        self._raise_on_nan = False
        self._watches: dict[str, Watch] = {}
        self._modules = dict(model.named_modules()) if model is not None else {}
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
    def _watch(self, targets: Iterable[str | nn.Module], what: str, **flags: Any) -> ModelDebugger:
        for name in select_modules(self._modules, targets, what):
            watch = self._watches.setdefault(name, Watch())
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
        names = select_modules(self._modules, modules, "record_weights")
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
        if self._is_template_call(modules):  # the template's set_breakpoint([layer], [name])
            modules = tuple(self._template_targets(modules[0], modules[1], "set_breakpoint"))
        if when == "nonfinite":
            when = nonfinite_condition
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
        roots = [self.model] if self.model is not None else list(self._modules.values())
        self._saved_modes = [(module, module.training) for root in roots for module in root.modules()]
        self._active = True
        try:
            if self.train is not None:
                for root in roots:
                    root.train(self.train)
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
            label = display_name(name)  # results are keyed by label: "<root>" rather than "" for the model
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
        elif len(records) == records.maxlen:
            self._dropping(name)
        records.append(value)

    def _make_forward_hook(self, name: str, watch: Watch, session: int) -> Callable[..., None]:
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
            first = next(float_tensors(output), None)
            if watch.outputs:
                self._store(self._outputs, name, detached_copy(output, self.storage_device))
            if watch.weights:
                params = module.named_parameters(recurse=False)
                self._store(self._weights, name, {pname: detached_copy(p, self.storage_device) for pname, p in params})
            if (watch.stats or watch.outputs) and first is not None:
                vector = stats_vector(first)
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

    def _attach_grad_hooks(self, name: str, module: nn.Module, watch: Watch, output: Any, session: int) -> None:
        for index, tensor in enumerate(t for t in float_tensors(output) if t.requires_grad):
            tensor.register_hook(self._make_grad_hook(name, module, watch, session, primary=index == 0))

    def _make_grad_hook(self, name: str, module: nn.Module, watch: Watch, session: int,
                        primary: bool) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            if session != self._session:
                return
            if primary and watch.gradients:
                self._store(self._gradients, name, detached_copy(grad, self.storage_device))
            if primary and (watch.stats or watch.gradients):
                vector = stats_vector(grad)
                if vector is not None:
                    self._stats[(name, "grad")] = (vector, tuple(grad.shape))
            if watch.nan and self.nan_finding is None:
                kind = nonfinite_kind(grad)
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
        for tensor in float_tensors(output):
            kind = nonfinite_kind(tensor)
            if kind is not None:
                floats = list(float_tensors(inputs))
                input_finite = all(nonfinite_kind(t) is None for t in floats) if floats else None
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

    def get_output(self, name: str | None = None) -> Any:
        """Recorded outputs of one module (the template's name for ``outputs[name]``); all without a name."""
        return self._template_get(self._outputs, name)

    def get_weights(self, name: str | None = None) -> Any:
        """Recorded parameters of one module; ``(weights, biases)`` for layers chosen with ``log_weights``."""
        return self._template_get(self._weights, name, weights=True)

    def get_gradients(self, name: str | None = None) -> Any:
        """Recorded output gradients of one module (template name); all without a name."""
        return self._template_get(self._gradients, name)

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
        return statistics_rows(self._order, self._stats)

    def print_statistics(self, console: Any = None) -> None:
        """Print ``statistics()`` as a rich table; non-finite values are shown in red.

        Args:
            console: a ``rich.console.Console``; a new one on stdout by default.
        """
        print_statistics(self.statistics(), console)

    def log_statistics(self, logger: Any, step: int | None = None, prefix: str = "debug/") -> dict[str, float]:
        """Send ``statistics()`` to a logger: anything with a ``.log(dict, step)`` method.

        Keys are ``<prefix><module>/<kind>_<stat>``, e.g. ``debug/encoder.fc1/grad_norm``.

        Returns:
            The dictionary that was logged.
        """
        metrics = statistics_metrics(self.statistics(), prefix)
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
        if self.model is None:
            raise UsageError("find_nan needs the model: create the debugger as ModelDebugger(model).")
        return find_nan(self.model, *args, loss_fn=loss_fn, modules=modules, **kwargs)

