"""ModelDebugger: recording, breakpoints, NaN finding, statistics, and hooks always cleaned up."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from exptool.debug import STAT_NAMES, BreakInfo, ModelDebugger, NonFiniteError, find_nan
from exptool.errors import EXIT_FAILURE, EXIT_USAGE, UsageError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.encoder(x)))


class Sqrt(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> dict:
        y = self.fc(x)
        return {"logits": y, "extra": (y * 2, "not a tensor")}


class Recorder:
    """A stand-in for exptool's Logger: anything with .log(dict, step)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, int | None]] = []

    def log(self, metrics: dict, step: int | None = None) -> None:
        self.calls.append((dict(metrics), step))


def assert_no_hooks(model: nn.Module) -> None:
    for name, module in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert len(getattr(module, attr)) == 0, f"{name or '<root>'} still has {attr}"


@pytest.fixture
def model() -> Net:
    torch.manual_seed(0)
    return Net()


def x(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 4)


def test_records_outputs_by_name_and_glob_as_detached_cpu_copies(model):
    inputs = x()
    with ModelDebugger(model).record_outputs("encoder.*", "head") as dbg:
        out = model(inputs)
    assert set(dbg.outputs) == {"encoder.0", "encoder.1", "encoder.2", "head"}
    first = dbg.get_output("encoder.0")[0]
    expected = model.encoder[0](inputs)
    # ReLU(inplace=True) overwrote the live tensor afterwards; the record kept the values of the pass
    assert torch.allclose(first, expected) and (first < 0).any()
    assert not first.requires_grad and first.device.type == "cpu"
    assert torch.equal(dbg.outputs["head"][-1], out.detach())
    assert_no_hooks(model)


def test_records_weights_as_copies_and_skips_parameterless_modules(model):
    with ModelDebugger(model).record_weights("encoder.*") as dbg:
        model(x())
    assert set(dbg.weights) == {"encoder.0", "encoder.2"}  # the ReLU has no parameters of its own
    record = dbg.get_weights("encoder.0")[0]
    assert set(record) == {"weight", "bias"}
    assert torch.equal(record["weight"], model.encoder[0].weight.detach())
    with torch.no_grad():
        model.encoder[0].weight.add_(1.0)
    assert not torch.equal(record["weight"], model.encoder[0].weight.detach())
    with pytest.raises(UsageError, match="no parameters"):
        ModelDebugger(model).record_weights("encoder.1")


def test_records_gradients_with_respect_to_module_outputs(model):
    with ModelDebugger(model).record_gradients("head", "encoder") as dbg:
        model(x()).sum().backward()
    assert torch.equal(dbg.gradients["head"][0], torch.ones(3, 2))  # d(sum)/d(output) is all ones
    assert dbg.get_gradients("encoder")[0].shape == (3, 8)
    assert dbg.get_gradients("missing") == []
    assert_no_hooks(model)


def test_gradient_matches_autograd(model):
    inputs = x()
    hidden = model.encoder(inputs)
    hidden.retain_grad()
    model.head(torch.tanh(hidden)).sum().backward()
    expected = hidden.grad.clone()
    model.zero_grad()
    with ModelDebugger(model).record_gradients("encoder") as dbg:
        model(inputs).sum().backward()
    assert torch.allclose(dbg.gradients["encoder"][0], expected)


def test_modules_can_be_given_as_objects_and_root(model):
    with ModelDebugger(model).record_outputs(model.head, "<root>") as dbg:
        out = model(x())
    assert set(dbg.outputs) == {"head", "<root>"}
    assert torch.equal(dbg.outputs["<root>"][0], out.detach())
    assert torch.equal(dbg.get_output("")[0], out.detach())


def test_unknown_module_is_a_usage_error_naming_choices(model):
    with pytest.raises(UsageError) as info:
        ModelDebugger(model).record_outputs("encdr.*")
    assert info.value.exit_code == EXIT_USAGE
    assert "encdr.*" in str(info.value) and "encoder" in info.value.hint
    with pytest.raises(UsageError, match="not part of this model"):
        ModelDebugger(model).record_outputs(nn.Linear(2, 2))
    with pytest.raises(UsageError):
        ModelDebugger("not a model")  # type: ignore[arg-type]


def test_continuous_keeps_last_records_and_once_removes_hooks_after_first_pass(model):
    with ModelDebugger(model, keep=2).record_outputs("head").record_gradients("head") as dbg:
        for _ in range(3):
            model(x()).sum().backward()
        assert len(model.head._forward_hooks) == 1
    assert len(dbg.outputs["head"]) == 2 and len(dbg.gradients["head"]) == 2

    with ModelDebugger(model).record_outputs("head").record_gradients("head").inspect_once() as dbg:
        model(x()).sum().backward()
        assert_no_hooks(model)  # gone after the first pass, while still inside the block
        model(x()).sum().backward()
    assert len(dbg.outputs["head"]) == 1 and len(dbg.gradients["head"]) == 1


def test_inspect_and_stop_without_with_block(model):
    dbg = ModelDebugger(model).record_outputs("head")
    dbg.inspect()
    assert dbg.active
    model(x())
    model(x())
    dbg.stop()
    dbg.stop()  # twice is fine
    model(x())
    assert len(dbg.outputs["head"]) == 2 and not dbg.active
    assert_no_hooks(model)


def test_watch_added_while_active_does_not_duplicate_hooks(model):
    with ModelDebugger(model).record_outputs("head") as dbg:
        dbg.record_gradients("head")
        assert len(model.head._forward_hooks) == 1
        model(x()).sum().backward()
    assert len(dbg.outputs["head"]) == 1 and len(dbg.gradients["head"]) == 1
    assert_no_hooks(model)


def test_hooks_removed_and_modes_restored_on_error(model):
    model.train()
    model.encoder[0].eval()  # mixed modes must come back exactly as they were
    with pytest.raises(RuntimeError, match="boom"):
        with ModelDebugger(model, train=False).record_outputs().record_gradients().watch_nan():
            assert not model.training and not model.head.training
            model(x())
            raise RuntimeError("boom")
    assert_no_hooks(model)
    assert model.training and model.head.training and model.encoder.training
    assert not model.encoder[0].training


def test_mode_changed_inside_block_is_restored(model):
    model.train()
    with ModelDebugger(model).record_outputs("head"):
        model.eval()
    assert all(m.training for m in model.modules())


def test_gradient_hooks_are_inert_after_the_block(model):
    with ModelDebugger(model).record_gradients("head") as dbg:
        out = model(x())
    out.sum().backward()  # the tensor hook is still on the graph but must do nothing
    assert dbg.gradients == {}


def test_breakpoints_call_the_injected_debugger(model):
    hits: list[BreakInfo] = []
    with ModelDebugger(model, debugger=hits.append).set_breakpoint("head", forward=True, backward=True):
        model(x()).sum().backward()
    assert [(h.name, h.phase) for h in hits] == [("head", "forward"), ("head", "backward")]
    forward, backward = hits
    assert forward.module is model.head and forward.output.shape == (3, 2) and forward.inputs[0].shape == (3, 8)
    assert torch.equal(backward.grad, torch.ones(3, 2))
    assert "head" in forward.describe() and "[3, 2]" in forward.describe()
    assert_no_hooks(model)


def test_breakpoint_condition_nonfinite(model):
    hits: list[BreakInfo] = []
    dbg = ModelDebugger(model, debugger=hits.append).set_breakpoint("encoder.*", when="nonfinite")
    with dbg:
        model(x())
    assert hits == []
    with torch.no_grad():
        model.encoder[2].weight[0, 0] = float("nan")
    with dbg:
        model(x())
    assert [h.name for h in hits] == ["encoder.2"]
    with pytest.raises(UsageError):
        ModelDebugger(model).set_breakpoint("head", forward=False, backward=False)


def test_default_debugger_is_pdb_in_the_hook_frame(model, monkeypatch):
    import pdb

    import exptool.debug.breakpoints as debug_module

    frames = []
    monkeypatch.setattr(debug_module.importlib.util, "find_spec", lambda name: None)  # as if ipdb were absent
    monkeypatch.setattr(pdb.Pdb, "set_trace", lambda self, frame=None: frames.append(frame))
    with ModelDebugger(model).set_breakpoint("head"):
        model(x())
    assert len(frames) == 1 and "info" in frames[0].f_locals
    assert frames[0].f_locals["info"].name == "head"

    monkeypatch.setenv("PYTHONBREAKPOINT", "0")
    with ModelDebugger(model).set_breakpoint("head"):
        model(x())
    assert len(frames) == 1


def test_find_nan_forward_names_first_module_in_execution_order(model):
    assert find_nan(model, x(), loss_fn=lambda out: out.sum()) is None
    with torch.no_grad():
        model.encoder[2].weight[1, 1] = float("nan")
    finding = ModelDebugger(model).find_nan(x(), loss_fn=lambda out: out.sum())
    assert finding is not None
    found = (finding.module, finding.phase, finding.kind, finding.module_type)
    assert found == ("encoder.2", "forward", "NaN", "Linear")
    assert finding.input_finite is True
    assert "'encoder.2'" in str(finding)
    assert_no_hooks(model)


def test_find_nan_blames_upstream_input(model):
    bad = x()
    bad[0, 0] = float("inf")
    finding = find_nan(model, bad)
    # encoder.0 is the first to run; its input was already non-finite
    assert finding.module == "encoder.0" and finding.input_finite is False
    assert "already non-finite" in str(finding)


def test_find_nan_backward_names_where_the_gradient_broke():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Sqrt(), nn.Linear(4, 1))
    # sqrt(0) has an infinite derivative: the forward stays finite, the backward does not
    finding = find_nan(model, torch.randn(8, 4), loss_fn=lambda out: out.sum())
    assert finding.phase == "backward"
    assert finding.module == "1" and finding.previous == "2"
    assert "'2'" in str(finding)
    assert_no_hooks(model)


def test_find_nan_leaves_the_parameters_gradients_as_they_were(model):
    model(x()).sum().backward()  # gradients being accumulated by the training loop
    before = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.head.weight.grad = None  # and one parameter without a gradient yet
    assert find_nan(model, x(), loss_fn=lambda out: out.pow(2).sum()) is None
    assert model.head.weight.grad is None
    assert all(torch.equal(p.grad, before[name]) for name, p in model.named_parameters() if name != "head.weight")


def test_find_nan_in_loss_points_outside_the_modules(model):
    finding = find_nan(model, x(), loss_fn=lambda out: out.sum() * float("nan"))
    # the model returns the head's output tensor itself, so the head is the first to see the gradient
    assert finding.phase == "backward" and finding.module == "head" and finding.previous is None
    assert "the loss" in str(finding)


def test_watch_nan_raise_error_stops_the_pass(model):
    with torch.no_grad():
        model.encoder[0].bias[0] = float("inf")
    with pytest.raises(NonFiniteError) as info:
        with ModelDebugger(model).watch_nan(raise_error=True):
            model(x())
    assert info.value.finding.module == "encoder.0" and info.value.finding.kind == "Inf"
    assert info.value.exit_code == EXIT_FAILURE
    assert_no_hooks(model)


def test_statistics_values_table_and_logging(model):
    inputs = x()
    with ModelDebugger(model).record_statistics("head", "encoder.0") as dbg:
        out = model(inputs)
        out.sum().backward()
    rows = {(r["module"], r["kind"]): r for r in dbg.statistics()}
    assert set(rows) == {("encoder.0", "output"), ("encoder.0", "grad"), ("head", "output"), ("head", "grad")}
    assert [r["module"] for r in dbg.statistics()][:2] == ["encoder.0", "encoder.0"]  # execution order
    head = rows[("head", "output")]
    o = out.detach()
    expected = [o.mean(), o.std(correction=0), o.min(), o.max(), o.abs().max(), o.norm()]
    for stat, value in zip(STAT_NAMES, expected, strict=True):
        assert math.isclose(head[stat], float(value), rel_tol=1e-5, abs_tol=1e-7), stat
    assert head["shape"] == [3, 2]
    assert rows[("head", "grad")]["mean"] == 1.0
    assert dbg.outputs == {}  # statistics only: no tensors kept

    from rich.console import Console

    buffer = io.StringIO()
    dbg.print_statistics(Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "encoder.0" in text and "absmax" in text and "grad" in text

    logger = Recorder()
    logged = dbg.log_statistics(logger, step=7)
    assert logger.calls == [(logged, 7)]
    assert logged["debug/head/output_mean"] == head["mean"]
    assert len(logged) == 4 * len(STAT_NAMES)


def test_statistics_show_nonfinite_values(model):
    with torch.no_grad():
        model.head.bias[0] = float("nan")
    with ModelDebugger(model).record_outputs("head") as dbg:
        model(x())
    row = dbg.statistics()[0]
    assert math.isnan(row["mean"])
    from rich.console import Console

    buffer = io.StringIO()
    dbg.print_statistics(Console(file=buffer, width=200))
    assert "nan" in buffer.getvalue()


def test_empty_statistics_and_clear(model):
    dbg = ModelDebugger(model)
    buffer = io.StringIO()
    from rich.console import Console

    dbg.print_statistics(Console(file=buffer))
    assert "no statistics" in buffer.getvalue()
    assert dbg.log_statistics(Recorder(), 0) == {}
    with dbg.record_outputs("head"):
        model(x())
    dbg.clear()
    assert dbg.outputs == {} and dbg.statistics() == []


def test_nested_outputs_and_no_grad(model):
    net = DictOut()
    with ModelDebugger(net).record_outputs("").record_gradients("fc").watch_nan() as dbg:
        with torch.no_grad():
            net(torch.randn(2, 3))
    record = dbg.outputs["<root>"][0]
    assert set(record) == {"logits", "extra"} and record["extra"][1] == "not a tensor"
    assert dbg.gradients == {} and dbg.nan_finding is None
    assert_no_hooks(net)


def test_everything_at_once_on_a_block_with_inplace_relu():
    # module backward hooks break on in-place ops after a hooked module; output tensor hooks must not
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    hits: list[BreakInfo] = []
    dbg = (ModelDebugger(block, debugger=hits.append).record_outputs().record_weights().record_gradients()
           .watch_nan().set_breakpoint(backward=True))
    with dbg:
        block(torch.randn(2, 3, 8, 8)).sum().backward()
    assert dbg.nan_finding is None
    assert len(hits) == 2 * 7  # forward and backward for the 6 layers and the block itself
    assert {r["module"] for r in dbg.statistics()} == {"0", "1", "2", "3", "4", "5", "<root>"}
    assert_no_hooks(block)


def test_watch_nan_raise_error_in_backward():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Sqrt(), nn.Linear(4, 1))
    torch.manual_seed(0)
    with pytest.raises(NonFiniteError) as info:
        with ModelDebugger(model).watch_nan(raise_error=True):
            model(torch.randn(8, 4)).sum().backward()
    assert info.value.finding.phase == "backward" and info.value.finding.previous == "2"
    assert_no_hooks(model)
