"""The template's ``InspectorGadgets`` calls on :class:`~exptool.debug.ModelDebugger`.

The template chose layers by handing lists of modules and names::

    dbg = ModelDebugger()                               # InspectorGadgets() took no model either
    dbg.log_outputs([model.enc1, model.head], ["enc1", "head"])
    dbg.log_gradients([model.head], ["head"])
    dbg.set_breakpoint([model.head], ["head"])
    dbg.inspect()
    ...
    dbg.get_output("enc1")                              # results under the names given
    weights, biases = dbg.get_weights("enc1")           # as the template returned them

exptool's own calls (``record_outputs("enc1")``, chosen by qualified name or pattern) are the
documented ones; these keep template code running. Records are capped at ``keep`` per module (10
by default; the template kept every one): the first record dropped for a module chosen this way
says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError

_log = logging.getLogger("exptool")


class TemplateDebuggerMixin:
    """``log_outputs``/``log_weights``/``log_gradients(layers, names)`` and the template's results."""

    _modules: dict[str, Any]
    model: Any
    keep: int | None

    def _template_init(self) -> None:
        self._aliases: dict[str, str] = {}  # the template's name -> exptool's label
        self._template_weights: set[str] = set()
        self._template_labels: set[str] = set()
        self._warned_dropping = False

    def _template_targets(self, layers: Sequence[Any], names: Sequence[Any], what: str) -> list[str]:
        """Qualified module names for the template's parallel ``layers``/``names`` lists."""
        from torch import nn  # noqa: PLC0415

        layers, names = list(layers), list(names)
        if len(layers) != len(names):
            raise UsageError(f"{what}: {len(layers)} layers but {len(names)} names; give one name per layer.")
        by_id = {id(module): name for name, module in self._modules.items()}
        targets = []
        for layer, name in zip(layers, names, strict=True):
            if not isinstance(layer, nn.Module):
                raise UsageError(f"{what}: expected a list of torch.nn.Module layers, got {type(layer).__name__}.")
            qualified = by_id.get(id(layer))
            if qualified is None:
                if self.model is not None:
                    raise UsageError(f"{what}: the layer named {name!r} ({type(layer).__name__}) is not part of "
                                     "this debugger's model.")
                qualified = str(name)  # no model given (the template's way): the layer is known by its name
                self._modules[qualified] = layer
                by_id[id(layer)] = qualified
            label = qualified or "<root>"
            self._aliases[str(name)] = label
            self._template_labels.add(label)
            targets.append(qualified if qualified else "<root>")
        return targets

    @staticmethod
    def _is_template_call(modules: tuple[Any, ...]) -> bool:
        return len(modules) == 2 and all(isinstance(m, (list, tuple)) for m in modules)

    def log_outputs(self, layers: Sequence[Any], names: Sequence[str]) -> Any:
        """The template's ``log_outputs(layers, names)``: :meth:`record_outputs` for these layers."""
        return self.record_outputs(*self._template_targets(layers, names, "log_outputs"))  # type: ignore[attr-defined]

    def log_weights(self, layers: Sequence[Any], names: Sequence[str], log_once: bool = False) -> Any:
        """The template's ``log_weights(layers, names)``: :meth:`record_weights`; ``get_weights(name)``
        then returns ``(weights, biases)`` as the template did. ``log_once`` is accepted and, as in
        the template, changes nothing (use ``inspect_once()``)."""
        targets = self._template_targets(layers, names, "log_weights")
        self._template_weights.update(str(n) for n in names)
        return self.record_weights(*targets)  # type: ignore[attr-defined]

    def log_gradients(self, layers: Sequence[Any], names: Sequence[str]) -> Any:
        """The template's ``log_gradients(layers, names)``: :meth:`record_gradients` for these layers."""
        return self.record_gradients(*self._template_targets(layers, names, "log_gradients"))  # type: ignore

    def _label(self, name: str | None) -> str:
        if name is None:
            return "<root>"
        return self._aliases.get(name, name or "<root>")

    def _template_get(self, table: dict[str, Any], name: str | None, weights: bool = False) -> Any:
        if name is None:
            back = {label: alias for alias, label in self._aliases.items()}
            return {back.get(label, label): list(records) for label, records in table.items()}
        records = list(table.get(self._label(name), ()))
        if weights and name in self._template_weights:
            return [r.get("weight") for r in records], [r.get("bias") for r in records]
        return records

    def _dropping(self, label: str) -> None:
        if label in self._template_labels and not self._warned_dropping:
            self._warned_dropping = True
            _log.warning("ModelDebugger keeps the last %s records per module (the template kept all): older "
                         "records of %r are dropped; pass ModelDebugger(model, keep=None) to keep every one.",
                         self.keep, label)
