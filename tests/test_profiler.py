"""Timer: nesting, aggregation, decorator, global switch, CUDA synchronisation, reports."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import types

import pytest

from exptool import profiler
from exptool.profiler import Timer


@pytest.fixture(autouse=True)
def _clean_profiler():
    was = Timer.enabled
    profiler.reset()
    yield
    Timer.enabled = was
    profiler.reset()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[dict, int | None]] = []

    def log(self, metrics: dict, step: int | None = None) -> None:
        self.calls.append((dict(metrics), step))


def rows_by_key() -> dict[str, profiler.TimingRow]:
    return {row.key: row for row in profiler.report()}


def test_disabled_timers_record_nothing():
    profiler.disable()
    with Timer("a") as t:
        with Timer("b"):
            pass
    assert t.duration is None
    assert profiler.report() == []
    assert profiler.format_report() == "no timings recorded"


def test_nested_timers_aggregate_over_repeated_calls():
    profiler.enable()
    for _ in range(3):
        with Timer("step"):
            with Timer("forward"):
                pass
            for _ in range(2):
                with Timer("backward"):
                    pass
    with Timer("eval"):
        pass
    rows = profiler.report()
    assert [r.key for r in rows] == ["step", "step/forward", "step/backward", "eval"]  # depth first
    by_key = rows_by_key()
    assert by_key["step"].count == 3 and by_key["step/forward"].count == 3 and by_key["step/backward"].count == 6
    assert by_key["step/backward"].depth == 1 and by_key["step/backward"].name == "backward"
    step = by_key["step"]
    assert step.mean_s == pytest.approx(step.total_s / 3)
    assert step.min_s <= step.mean_s <= step.max_s
    # children happen inside their parent, so their totals fit inside it
    assert by_key["step/forward"].total_s + by_key["step/backward"].total_s <= step.total_s
    for row in rows:
        assert row.share is None or 0.0 <= row.share <= 1.0
    assert by_key["step"].share + by_key["eval"].share == pytest.approx(1.0)


def test_duration_of_last_use():
    profiler.enable()
    with Timer("a") as t:
        pass
    assert t.duration is not None and t.duration >= 0


def test_exception_propagates_and_is_still_timed():
    profiler.enable()
    with pytest.raises(ValueError):
        with Timer("outer"):
            with Timer("inner"):
                raise ValueError("boom")
    with Timer("after"):
        pass
    assert set(rows_by_key()) == {"outer", "outer/inner", "after"}  # the stack was unwound correctly


def test_decorator_counts_calls_keeps_metadata_and_defaults_to_qualname():
    @Timer("load")
    def load(n: int) -> int:
        """Load things."""
        return n * 2

    @Timer()
    def helper() -> None:
        pass

    profiler.disable()
    assert load(2) == 4  # disabled: a plain call
    profiler.enable()
    assert load(3) == 6 and load(4) == 8
    helper()
    by_key = rows_by_key()
    assert by_key["load"].count == 2
    assert load.__name__ == "load" and load.__doc__ == "Load things."
    assert any(key.endswith("helper") for key in by_key)


def test_reused_instance_nests_under_recursion():
    timer = Timer("fib")

    @timer
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    profiler.enable()
    assert fib(4) == 3
    keys = set(rows_by_key())
    assert "fib" in keys and "fib/fib/fib/fib" in keys
    assert rows_by_key()["fib"].count == 1


def test_switching_inside_a_block_leaves_no_stale_state():
    profiler.disable()
    with Timer("opened-disabled"):
        profiler.enable()  # enabled mid-block: this exit must not pop anything
    profiler.enable()
    with Timer("a"):
        profiler.disable()  # disabled mid-block: the open timer still closes
    with Timer("b"):
        pass
    profiler.enable()
    with Timer("c"):
        pass
    assert set(rows_by_key()) == {"a", "c"}  # "c" is top level: nothing was left on the stack


def test_threads_have_their_own_nesting():
    profiler.enable()

    def work() -> None:
        for _ in range(5):
            with Timer("worker"):
                pass

    with Timer("main"):
        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    by_key = rows_by_key()
    assert by_key["worker"].count == 10 and "main/worker" not in by_key


def _fake_torch(initialized: bool) -> tuple[types.ModuleType, list[str]]:
    calls: list[str] = []
    cuda = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: initialized,
                                 synchronize=lambda: calls.append("sync"))
    fake = types.ModuleType("torch")
    fake.cuda = cuda  # type: ignore[attr-defined]
    return fake, calls


def test_cuda_is_synchronised_when_in_use(monkeypatch):
    fake, calls = _fake_torch(initialized=True)
    monkeypatch.setitem(sys.modules, "torch", fake)
    profiler.enable()
    with Timer("gpu"):
        pass
    assert calls == ["sync", "sync"]  # on entry and on exit
    with Timer("no-sync", cuda_sync=False):
        pass
    assert len(calls) == 2


def test_cuda_is_not_synchronised_when_not_initialised(monkeypatch):
    fake, calls = _fake_torch(initialized=False)
    monkeypatch.setitem(sys.modules, "torch", fake)
    profiler.enable()
    with Timer("cpu"):
        pass
    assert calls == []


def test_profiler_never_imports_torch():
    code = (
        "import sys\n"
        "from exptool import profiler\n"
        "from exptool.profiler import Timer\n"
        "profiler.enable()\n"
        "with Timer('a'):\n"
        "    pass\n"
        "print(profiler.format_report())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "a" in result.stdout


def test_environment_variable_enables_profiling():
    code = "from exptool.profiler import Timer; print(Timer.enabled)"
    env_on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "EXPTOOL_PROFILE": "1"})
    env_off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "EXPTOOL_PROFILE"})
    assert env_on.stdout.strip() == "True" and env_off.stdout.strip() == "False"


def test_reports_tree_text_and_logger():
    from rich.console import Console

    profiler.enable()
    with Timer("step"):
        with Timer("forward"):
            pass
        with Timer("backward"):
            pass
    buffer = io.StringIO()
    profiler.print_report(Console(file=buffer, width=160))
    table = buffer.getvalue()
    assert "├─ forward" in table and "└─ backward" in table and "share" in table

    text = profiler.format_report()
    assert text.splitlines()[1].startswith("step") and "  forward" in text

    logger = Recorder()
    logged = profiler.log_report(logger, step=5)
    assert logger.calls == [(logged, 5)]
    assert logged["time/step/count"] == 1.0
    assert logged["time/step/forward/mean_ms"] == pytest.approx(rows_by_key()["step/forward"].mean_s * 1e3)
    assert "time/step/backward/share" in logged

    profiler.reset()
    empty = Recorder()
    assert profiler.log_report(empty, 0) == {} and empty.calls == []
    buffer = io.StringIO()
    profiler.print_report(Console(file=buffer))
    assert "no timings" in buffer.getvalue()
