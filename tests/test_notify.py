"""`exp train --notify CMD` and `[notify]` in exptool.toml: the command runs with the outcome in EXPTOOL_*."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

TRAINERS = textwrap.dedent(
    """
    def ok(ctx):
        for step in range(1, 4):
            ctx.logger.log({"loss": 1.0 / step, "acc": 0.5}, step)

    def boom(ctx):
        ctx.logger.log({"loss": 2.0}, 1)
        raise ValueError("boom at step 1")
    """
)
DUMP = "env | grep '^EXPTOOL_' | sort > {out}"
VARIABLES = ("EXPTOOL_EVENT", "EXPTOOL_RUN", "EXPTOOL_EXPERIMENT", "EXPTOOL_RUN_NAME", "EXPTOOL_RUN_PATH",
             "EXPTOOL_STATUS", "EXPTOOL_EXIT_CODE", "EXPTOOL_DURATION_S", "EXPTOOL_LAST_STEP", "EXPTOOL_METRICS",
             "EXPTOOL_ERROR", "EXPTOOL_HOST", "EXPTOOL_MESSAGE")


@pytest.fixture
def nws(ws: Path) -> Path:
    (ws / "nt.py").write_text(TRAINERS)
    (ws / "config" / "csv.json").write_text(json.dumps({"logging": {"writers": ["csv"], "system": False}}))
    return ws


def _train(exp, ws, run, trainer, *extra):
    return exp("train", "-e", "n", "-r", run, "--create", "-c", "csv", "--trainer", f"nt.py:{trainer}", *extra,
               cwd=ws)


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_notify_gets_the_documented_variables(nws, exp):
    out = nws / "env.txt"
    res = _train(exp, nws, "good", "ok", "--notify", DUMP.format(out=out))
    assert res.returncode == 0, res.stderr
    env = _env(out)
    assert set(VARIABLES) <= set(env)
    assert env["EXPTOOL_EVENT"] == "run" and env["EXPTOOL_RUN"] == "n/good"
    assert env["EXPTOOL_EXPERIMENT"] == "n" and env["EXPTOOL_RUN_NAME"] == "good"
    assert Path(env["EXPTOOL_RUN_PATH"]) == nws / "experiments" / "n" / "good"
    assert env["EXPTOOL_STATUS"] == "completed" and env["EXPTOOL_EXIT_CODE"] == "0"
    assert 0 < float(env["EXPTOOL_DURATION_S"]) < 120
    assert env["EXPTOOL_LAST_STEP"] == "3" and env["EXPTOOL_ERROR"] == ""
    assert json.loads(env["EXPTOOL_METRICS"]) == pytest.approx({"loss": 1 / 3, "acc": 0.5})
    assert env["EXPTOOL_MESSAGE"].startswith("n/good completed in ") and "step 3" in env["EXPTOOL_MESSAGE"]


def test_a_failed_run_notifies_with_its_error_and_code(nws, exp):
    out = nws / "env.txt"
    res = _train(exp, nws, "bad", "boom", "--notify", DUMP.format(out=out))
    assert res.returncode == 1
    env = _env(out)
    assert env["EXPTOOL_STATUS"] == "failed" and env["EXPTOOL_EXIT_CODE"] == "1"
    assert "boom at step 1" in env["EXPTOOL_ERROR"] and "boom at step 1" in env["EXPTOOL_MESSAGE"]


def test_a_failing_notifier_is_a_warning_not_a_failed_run(nws, exp):
    res = _train(exp, nws, "warn", "ok", "--notify", "echo notifier-ran >&2; exit 7", "--json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["status"] == "completed"  # its output stays off stdout
    assert "notifier-ran" in res.stderr and "exited with status 7" in res.stderr


def test_toml_default_timeout_and_override(nws, exp):
    out = nws / "env.txt"
    (nws / "exptool.toml").write_text(
        '[notify]\ncommand = "' + DUMP.format(out=out).replace("'", "\\u0027") + '"\ntimeout = 1\n'
    )
    res = _train(exp, nws, "toml", "ok")
    assert res.returncode == 0, res.stderr
    assert _env(out)["EXPTOOL_RUN"] == "n/toml"
    out.unlink()
    res = _train(exp, nws, "toml", "ok", "--clear", "--yes", "--notify", "")  # '' turns the default off
    assert res.returncode == 0 and not out.exists()
    pid_file = nws / "notifier.pid"
    res = _train(exp, nws, "toml", "ok", "--clear", "--yes", "--notify", f"echo $$ > {pid_file}; exec sleep 30")
    assert res.returncode == 0
    assert "did not finish within 1 s" in res.stderr
    assert not _alive(int(pid_file.read_text()))  # stopped at its timeout, not left sleeping


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


def test_a_bad_notify_table_stops_before_training(nws, exp):
    (nws / "exptool.toml").write_text('[notify]\ncommand = "true"\ntimeout = "soon"\n')
    res = _train(exp, nws, "cfg", "ok")
    assert res.returncode == 2 and res.stderr.startswith("error:") and "timeout" in res.stderr
    assert not (nws / "experiments" / "n" / "cfg" / "logs" / "metrics.csv").exists()
