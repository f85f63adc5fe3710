"""The README's runnable parts, extracted so tests and ``.ci/run`` execute them exactly as written.

- :func:`fresh_machine_blocks`: the two ``bash`` blocks of "On a fresh machine" (install + demo,
  install + tests), meant to be pasted one after the other in the checkout;
- :func:`tour_commands`: the ``$ `` lines of the "A tour" console block, run top to bottom in a
  new workspace;
- :func:`python_block`: the first ``python`` block of a section (compared with ``examples/``).

``python tests/readme_blocks.py`` (what ``.ci/run`` does, inside a fresh virtualenv) runs the two
fresh-machine blocks in one bash from the repository root and fails unless each succeeds, the
shell is still in the checkout after each, and ``git status`` is unchanged (no stray folders).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        raise LookupError(f"README has no section '## {heading}'")
    return match.group(1)


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```", text, flags=re.S | re.M)


def fresh_machine_blocks(text: str | None = None) -> list[str]:
    """The ``bash`` blocks of "On a fresh machine", in order."""
    blocks = _blocks(_section(text or README.read_text(encoding="utf-8"), "On a fresh machine"), "bash")
    if len(blocks) != 2:
        raise LookupError(f"expected two bash blocks under 'On a fresh machine', found {len(blocks)}")
    return [b.strip() for b in blocks]


def tour_commands(text: str | None = None) -> list[str]:
    """The commands of the tour (``$ `` lines; comments stay, bash ignores them)."""
    blocks = _blocks(_section(text or README.read_text(encoding="utf-8"), "A tour"), "console")
    if len(blocks) != 1:
        raise LookupError(f"expected one console block under 'A tour', found {len(blocks)}")
    return [line[2:] for line in blocks[0].splitlines() if line.startswith("$ ")]


def python_block(heading: str, text: str | None = None) -> str:
    """The first ``python`` block of section ``heading``."""
    blocks = _blocks(_section(text or README.read_text(encoding="utf-8"), heading), "python")
    if not blocks:
        raise LookupError(f"no python block under '## {heading}'")
    return blocks[0]


def script_for(commands: list[str], root: Path | None = None, check_checkout: bool = False) -> str:
    """A bash script running ``commands`` in order (``set -e``), announcing each on stderr.

    With ``check_checkout`` it starts in ``root`` and fails if a command leaves the shell
    elsewhere or changes ``git status`` there.
    """
    lines = ["set -eo pipefail"]
    if check_checkout:
        lines += [f"cd {shlex.quote(str(root))}", "before=$(git status --porcelain 2>/dev/null || true)"]
    for command in commands:
        lines.append(f"printf '+ %s\\n' {shlex.quote(command)} >&2")
        lines.append(command)
        if check_checkout:
            lines.append(
                f'[ "$PWD" = {shlex.quote(str(root))} ] || {{ echo "README block left the shell in $PWD, '
                f'not the checkout" >&2; exit 90; }}'
            )
    if check_checkout:
        lines += [
            'after=$(git status --porcelain 2>/dev/null || true)',
            '[ "$before" = "$after" ] || { echo "README blocks changed git status:" >&2; '
            'diff <(echo "$before") <(echo "$after") >&2; exit 91; }',
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the two fresh-machine blocks from the checkout, as a user pasting them would."""
    script = script_for(fresh_machine_blocks(), REPO, check_checkout=True)
    return subprocess.run(["bash", "-c", script], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
