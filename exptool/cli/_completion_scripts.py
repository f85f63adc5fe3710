"""The shell-completion scripts ``exp --show-completion`` prints and ``--install-completion`` installs.

Typer's scripts, except zsh's, which is exptool's own so that it works in every way a zsh user
loads it:

- sourced in a plain zsh (``source completions/_exp``): Typer's calls ``compdef`` and fails with
  "command not found" unless ``compinit`` ran first; this one loads the completion system itself;
- autoloaded from ``$fpath`` (what ``--install-completion`` sets up): Typer's only defines and
  registers its function on the first TAB, which therefore completes nothing; this one completes
  that first TAB too;
- a word with nothing to complete (``exp show -r <TAB>`` with no current experiment) makes Typer
  answer ``_files``, which offered unrelated file names; this one says "no matches".

``completions/`` in the repository holds the same scripts (``tests/test_completion.py`` keeps them
equal). Installing writes the files Typer's installer writes, in the same places.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")

BASH = r"""_exp_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _EXP_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _exp_completion exp
"""

ZSH = """#compdef exp

_exp_completion() {
  local reply
  reply=$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _EXP_COMPLETE=complete_zsh exp 2>/dev/null)
  if [[ $reply == _files ]]; then
    # Typer answers "_files" when nothing matched: offer nothing rather than unrelated file names.
    _message 'no matches'
    return 1
  fi
  eval $reply
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  # Autoloaded from $fpath (what exp --install-completion sets up): this call is the first TAB.
  _exp_completion "$@"
else
  # Sourced: load the completion system if this shell has not, then register.
  (( $+functions[compdef] )) || { autoload -Uz compinit && compinit -u }
  compdef _exp_completion exp
fi
"""

FISH = (
    'complete --command exp --no-files --arguments "(env _EXP_COMPLETE=complete_fish '
    '_TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) exp)" --condition '
    '"env _EXP_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args _TYPER_COMPLETE_ARGS=(commandline -cp) exp"\n'
)

POWERSHELL = """Import-Module PSReadLine
Set-PSReadLineKeyHandler -Chord Tab -Function MenuComplete
$scriptblock = {
    param($wordToComplete, $commandAst, $cursorPosition)
    $Env:_EXP_COMPLETE = "complete_powershell"
    $Env:_TYPER_COMPLETE_ARGS = $commandAst.ToString()
    $Env:_TYPER_COMPLETE_WORD_TO_COMPLETE = $wordToComplete
    exp | ForEach-Object {
        $commandArray = $_ -Split ":::"
        $command = $commandArray[0]
        $helpString = $commandArray[1]
        [System.Management.Automation.CompletionResult]::new(
            $command, $command, 'ParameterValue', $helpString)
    }
    $Env:_EXP_COMPLETE = ""
    $Env:_TYPER_COMPLETE_ARGS = ""
    $Env:_TYPER_COMPLETE_WORD_TO_COMPLETE = ""
}
Register-ArgumentCompleter -Native -CommandName exp -ScriptBlock $scriptblock
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH, "powershell": POWERSHELL, "pwsh": POWERSHELL}


def detect_shell() -> str | None:
    """The shell this command was started from (shellingham when installed, else ``$SHELL``)."""
    try:
        import shellingham  # noqa: PLC0415 - optional, as in Typer

        name = shellingham.detect_shell()[0]
    except Exception:  # noqa: BLE001 - not installed, or no shell found
        name = Path(os.environ.get("SHELL", "")).name or None
    return name if name in SHELLS else None


def _append_once(path: Path, line: str) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if line not in text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{text.rstrip()}\n{line}\n" if text.strip() else f"{line}\n", encoding="utf-8")


def install(shell: str) -> Path:
    """Install the completion script for ``shell``; returns the file written."""
    home = Path.home()
    script = SCRIPTS[shell]
    if shell == "bash":
        target = home / ".bash_completions" / "exp.sh"
        _append_once(home / ".bashrc", f"source '{target}'")
    elif shell == "zsh":
        target = home / ".zfunc" / "_exp"
        _append_once(home / ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit")
    elif shell == "fish":
        target = home / ".config" / "fish" / "completions" / "exp.fish"
    else:
        profile = subprocess.run([shell, "-NoProfile", "-Command", "echo", "$profile"], check=True,
                                 capture_output=True, text=True, timeout=60).stdout.strip()
        target = Path(profile)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fh.write(script + "\n")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(script, encoding="utf-8")
    return target
