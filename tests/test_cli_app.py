"""The app's wiring: the console script loads only the command it runs, and the table stays in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer.main

from exptool.cli import app as app_module


def _command_names(app) -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_command_table_matches_the_modules():
    """Every command is built from the module and function the table names; the modules are named after them."""
    from pathlib import Path

    import exptool.cli

    for name, (module, function) in app_module.COMMANDS.items():
        assert _command_names(app_module.build_app((name,))) == {name}
        assert module == name.replace("-", "_") or name.replace("-", "_").startswith(module), (name, module)
        assert callable(getattr(__import__(f"exptool.cli.{module}", fromlist=[function]), function))
    assert _command_names(app_module.app) == set(app_module.COMMANDS)
    modules = {p.stem for p in Path(exptool.cli.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    assert modules - {"app"} == {module for module, _ in app_module.COMMANDS.values()}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["show"], ("show",)),
        (["--root", "ls", "show"], ("show",)),  # "ls" is --root's value here
        (["--root=somewhere", "--debug", "ls", "e"], ("ls",)),
        (["init-run", "-e", "show"], ("init-run",)),
        ([], None),
        (["--help"], None),
        (["no-such-command"], None),
        (["--show-completion", "bash"], None),
    ],
)
def test_commands_for(words, expected):
    assert app_module.commands_for(words) == expected


RUNNER = """
import json, sys
from exptool.cli.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("exptool.cli."))), file=sys.stderr)
"""


def _loaded(ws, argv, **env) -> tuple[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", RUNNER, *argv], cwd=ws, capture_output=True, text=True,
                            timeout=60, env={**os.environ, **env})
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def test_console_script_loads_only_the_command_it_runs(ws):
    out, loaded = _loaded(ws, ["show"])
    assert out.startswith("workspace")
    assert "exptool.cli.show" in loaded and "exptool.cli.ls" not in loaded
    # During TAB the command comes from the shell's variables.
    out, loaded = _loaded(ws, [], _EXP_COMPLETE="complete_bash", COMP_WORDS="exp ls ", COMP_CWORD="2")
    assert "exptool.cli.ls" in loaded and "exptool.cli.show" not in loaded


def test_help_and_command_name_completion_see_every_command(ws):
    out, _ = _loaded(ws, ["--help"])
    for name in app_module.COMMANDS:
        assert f"  {name} " in out
    out, _ = _loaded(ws, [], _EXP_COMPLETE="complete_bash", COMP_WORDS="exp ", COMP_CWORD="1")
    assert set(out.split()) == set(app_module.COMMANDS)
    out, _ = _loaded(ws, [], _EXP_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="exp tr")
    assert '"train"' in out and '"trainers"' in out
