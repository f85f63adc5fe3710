"""Cost of a disabled (and an enabled) ``Timer`` per use, against an empty ``with`` / a bare call.

Run: ``python benchmarks/profiler_overhead.py``. Target: a disabled timer costs < 1 µs per use.
Each figure is the best of several repeats, measured in the same run as its baseline.
"""

from __future__ import annotations

import contextlib
import timeit

from exptool import profiler
from exptool.profiler import Timer

N = 200_000
REPEATS = 7
TARGET_US = 1.0


def _best(stmt, number: int = N) -> float:
    """Best time per iteration, in microseconds."""
    return min(timeit.repeat(stmt, number=number, repeat=REPEATS)) / number * 1e6


def main() -> int:
    null = contextlib.nullcontext()
    timer = Timer("reused")

    def bare() -> None:
        return None

    decorated = Timer("decorated")(bare)

    def loop_empty() -> None:
        pass

    def with_nullcontext() -> None:
        with null:
            pass

    def with_new_timer() -> None:
        with Timer("x"):
            pass

    def with_reused_timer() -> None:
        with timer:
            pass

    profiler.disable()
    base_loop = _best(loop_empty)
    base_with = _best(with_nullcontext)
    base_call = _best(bare)
    disabled_new = _best(with_new_timer)
    disabled_reused = _best(with_reused_timer)
    disabled_call = _best(decorated)

    profiler.enable()
    enabled_new = _best(with_new_timer, number=N // 4)
    profiler.disable()
    profiler.reset()

    rows = [
        ("disabled: with Timer('x') (new object)", disabled_new - base_loop, disabled_new / base_with),
        ("disabled: with timer (reused object)", disabled_reused - base_loop, disabled_reused / base_with),
        ("disabled: @Timer decorated call", disabled_call - base_call, disabled_call / base_call),
        ("enabled:  with Timer('x')", enabled_new - base_loop, enabled_new / base_with),
    ]
    print(f"baselines: empty call {base_loop:.3f} µs, with nullcontext {base_with:.3f} µs, "
          f"bare call {base_call:.3f} µs")
    print(f"{'case':<42} {'cost/use':>10} {'ratio to baseline':>18}")
    for label, cost, ratio in rows:
        print(f"{label:<42} {cost:>8.3f}µs {ratio:>17.2f}x")
    worst = max(cost for _, cost, _ in rows[:3])
    ok = worst < TARGET_US
    print(f"worst disabled cost {worst:.3f} µs per use: {'OK' if ok else 'ABOVE'} target < {TARGET_US} µs")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
