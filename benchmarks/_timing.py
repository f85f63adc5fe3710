"""Helpers shared by the command-line benchmarks: which ``exp`` to run, and timing one run of it."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path


def exp_command() -> list[str]:
    """The installed console script (what users run), else ``python -m exptool``."""
    script = Path(sys.executable).with_name("exp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "exptool"]


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``cmd``; exits with its output if it fails."""
    cpu = _cpu_children()
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return elapsed, _cpu_children() - cpu
