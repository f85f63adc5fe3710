"""Library warnings go through logging.getLogger("exptool"): printed by default, capturable, silenceable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exptool import runtime
from exptool.errors import UsageError

SCRIPT = """
import logging, sys
mode = sys.argv[1]
if mode == "basic":
    logging.basicConfig(format="LOGGED %(name)s %(levelname)s %(message)s")
elif mode == "silenced":
    logging.getLogger("exptool").setLevel(logging.ERROR)
elif mode == "captured":
    records = []
    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    logging.getLogger().addHandler(Keep())
from exptool.runtime import warn
warn("disk is getting full")
if mode == "captured":
    print("captured:", records)
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("mode", "stderr", "stdout"),
    [
        ("plain", "warning: disk is getting full\n", ""),
        ("basic", "LOGGED exptool WARNING disk is getting full\n", ""),  # printed once, in the program's format
        ("silenced", "", ""),
        ("captured", "warning: disk is getting full\n", "captured: ['disk is getting full']\n"),
    ],
)
def test_warnings_print_once_and_reach_the_programs_logging(mode, stderr, stdout):
    result = _run(mode)
    assert result.returncode == 0, result.stderr
    assert (result.stderr, result.stdout) == (stderr, stdout)


def test_ranks_from_the_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert runtime.env_ranks() == (3, 1, 4) and runtime.current_rank() == 3
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(UsageError, match="WORLD_SIZE='four' is not an integer"):
        runtime.env_ranks()


def test_debug_flag(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False), ("false", False)):
        monkeypatch.setenv("EXPTOOL_DEBUG", value)
        assert runtime.debug_enabled() is expected
