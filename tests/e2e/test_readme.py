"""The README's commands work when pasted as is, against the local stack: its Python
snippets pasted into one interactive session, then its shell commands, both from a
directory laid out like the repository root (``.venv``, ``.local/stack.json``).
A block marked ``<!-- readme-test: skip (why) -->`` is not run (it starts the stack
itself, needs AWS, or is code for the reader's own project)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- readme-test: skip[^\n]*-->\n)?```(\w*)\n(.*?)```", re.S)

# Feeds the snippets to Python's interactive console line by line, as a paste into
# `.venv/bin/python` does, and exits non-zero on the first error it shows.
REPL = """
import code, sys
class Console(code.InteractiveConsole):
    def showtraceback(self):
        super().showtraceback(); sys.exit(1)
    def showsyntaxerror(self, filename=None, **kwargs):
        super().showsyntaxerror(filename); sys.exit(1)
console = Console()
for line in sys.stdin.read().splitlines():
    console.push(line)
if console.push(""):
    sys.exit("the last snippet is incomplete")
"""


def readme_blocks(language: str) -> list[str]:
    """The README's code blocks in ``language`` that are meant to be run, in order."""
    text = (REPO / "README.md").read_text()
    return [code for skip, lang, code in BLOCK.findall(text) if lang == language and not skip]


@pytest.fixture
def repo_like(stack: dict[str, Any], tmp_path: Path) -> Path:
    """A working directory like the repository root whose `.local/stack.json` describes
    the test's stack (the real one belongs to `make run`)."""
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(stack))
    return tmp_path


def run(argv: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the repository root, as for `python`
    return subprocess.run(
        argv, input=stdin, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_readme_snippets_and_commands_work_as_pasted(repo_like: Path) -> None:
    # Given the README's Python snippets (one session) and its shell commands
    python, shell = readme_blocks("python"), readme_blocks("bash")
    assert len(python) == 3 and len(shell) == 1, "README blocks changed: update this test"

    # When the snippets are pasted into one interactive `.venv/bin/python` session
    session = run([".venv/bin/python", "-c", REPL], repo_like, "\n\n".join(python))

    # Then none fails: a payment was created and paid, and a refund requested
    assert session.returncode == 0, session.stdout + session.stderr
    assert re.search(r"\bpay_[0-9a-f]+ 0x[0-9a-fA-F]{40} ethereum:", session.stdout)
    assert re.search(r"\bre_[0-9a-f]+ (queued|processing|paid|pending_approval)", session.stdout)

    # When the shell commands are pasted into bash (stopping at the first failure)
    commands = run(["bash", "-euo", "pipefail", "-c", "\n".join(shell)], repo_like)

    # Then every one succeeds: the profile was set and bob's payout created and listed
    assert commands.returncode == 0, commands.stdout + commands.stderr
    assert '"object":"settlement_profile"' in commands.stdout
    payouts = re.findall(r'"id":"(po_[0-9a-f]+)","object":"payout"', commands.stdout)
    assert len(payouts) >= 2 and payouts[0] in payouts[1:], commands.stdout


def test_skipped_readme_blocks_say_why() -> None:
    text = (REPO / "README.md").read_text()
    for marker in re.findall(r"<!-- readme-test: skip[^\n]*-->", text):
        assert re.fullmatch(r"<!-- readme-test: skip \(.+\) -->", marker), marker


if __name__ == "__main__":  # pragma: no cover - print what would run
    for lang in ("python", "bash"):
        for block in readme_blocks(lang):
            sys.stdout.write(f"--- {lang}\n{block}")
