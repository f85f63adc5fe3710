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

One job a module: ``debugger`` (ModelDebugger: choosing modules, hooks, records), ``nan`` (where a
NaN/Inf first appeared, :func:`find_nan`), ``selection`` (which modules a name or pattern picks),
``breakpoints`` (BreakInfo, the default debugger), ``statistics`` (the statistics table) and
``_tensors`` (helpers for nested tensors).
"""

from .breakpoints import BreakInfo
from .debugger import ModelDebugger
from .nan import NanFinding, NonFiniteError, find_nan
from .statistics import STAT_NAMES

__all__ = ["STAT_NAMES", "BreakInfo", "ModelDebugger", "NanFinding", "NonFiniteError", "find_nan"]
