"""Conventions every command shares: exit codes, one-line errors, tracebacks on demand, no stray colour."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exptool import __version__
from exptool.cli.app import app
from exptool.workspace import Workspace

ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    w.run("e", "done").create()
    w.run("e", "done").update_record(status="completed")
    w.run("e", "bad").create()
    w.run("e", "bad").update_record(status="failed")
    return ws


def test_version(exp):
    for flag in ("--version", "-V"):
        result = exp(flag)
        assert result.returncode == 0 and result.stdout == f"exptool {__version__}\n"


def test_console_script_runs(runs):
    script = Path(sys.executable).with_name("exp")
    if not script.exists():
        script = shutil.which("exp")
    if not script:
        pytest.skip("the exp console script is not installed")
    result = subprocess.run([str(script), "ls", "e"], cwd=runs, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "done" in result.stdout


def test_usage_errors_exit_2(exp):
    assert exp().returncode == 2  # no command: help, as a usage error
    unknown = exp("no-such-command")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    assert exp("ls", "--no-such-flag").returncode == 2


def test_errors_are_short_and_tracebacks_only_on_demand(runs, exp):
    plain = exp("set", "e", "ghost")
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr and len(plain.stderr.splitlines()) == 2
    for debug in (exp("set", "e", "ghost", env={"EXPTOOL_DEBUG": "1"}), exp("--debug", "set", "e", "ghost")):
        assert debug.returncode == 2
        assert "Traceback (most recent call last)" in debug.stderr
        assert "NotFoundError" in debug.stderr
        assert debug.stderr.rstrip().endswith("Create it with: exp init-run -e e -r ghost")
    assert "Traceback" not in exp("set", "e", "ghost", env={"EXPTOOL_DEBUG": "0"}).stderr


def test_unexpected_bug_is_exit_1_with_a_short_message(runs, monkeypatch):
    def boom(self):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(Workspace, "experiment_names", boom)
    result = CliRunner().invoke(app, ["ls"], prog_name="exp")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: unexpected RuntimeError: kaboom",
        "  This is a bug in exptool; set EXPTOOL_DEBUG=1 for the traceback.",
    ]


def test_io_failure_is_exit_1(runs, monkeypatch):
    def denied(self):
        raise PermissionError(13, "Permission denied", str(self.experiments_dir))

    monkeypatch.setattr(Workspace, "experiment_names", denied)
    result = CliRunner().invoke(app, ["ls"], prog_name="exp")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Permission denied (")
    assert "Traceback" not in result.output


def test_no_escape_codes_when_piped(runs, exp):
    for args in (["ls"], ["ls", "e"], ["ls", "--all"], ["show", "-e", "e", "-r", "done"], ["set", "e", "ghost"]):
        result = exp(*args)
        assert not ANSI.search(result.stdout + result.stderr), args


def _pty_output(ws, *args, **env):
    pexpect = pytest.importorskip("pexpect")
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update({"TERM": "xterm", **env})
    return pexpect.run(f"{sys.executable} -m exptool {' '.join(args)}", cwd=str(ws), env=full_env,
                       encoding="utf-8", timeout=60)


def test_colour_on_a_terminal_unless_no_color(runs):
    assert ANSI.search(_pty_output(runs, "ls", "e"))  # proves the check below can see colour at all
    assert not ANSI.search(_pty_output(runs, "ls", "e", NO_COLOR="1"))
    assert not ANSI.search(_pty_output(runs, "ls", "e", NO_COLOR=""))  # set, even empty, means no colour
    assert not ANSI.search(_pty_output(runs, "ls", "e", TERM="dumb"))


def test_reader_going_away_is_quiet(ws):
    """`exp ls --json | head -1` style: the closed pipe ends the command without an error message."""
    for i in range(1000):  # enough output to overflow the pipe buffer
        (ws / "experiments" / "e" / f"run{i:04d}").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "exptool", "ls", "e", "--json"], cwd=ws,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == 1
    assert err == b""
