"""Generate ``docs/cli.md`` from the commands' own ``--help``, and check it is current.

``python -m childlink.cli.docs`` rewrites the file; ``--check`` exits 1 if it is stale, which
``make check`` runs so the reference can never drift from the code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from childlink.cli.main import app

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def render_cli_docs() -> str:
    """Markdown with the ``--help`` of every command and sub-command."""
    env = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    os.environ.update(env)
    runner = CliRunner()
    sections = [
        "# Command reference\n",
        "Generated from `--help` by `make docs`; `make check` fails when it is stale.\n",
    ]
    for path in _command_paths(typer.main.get_command(app), []):
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="childlink")
        if result.exit_code != 0:
            raise RuntimeError(f"childlink {' '.join(path)} --help failed: {result.output}")
        title = " ".join(["childlink", *path])
        help_text = "\n".join(line.rstrip() for line in result.output.strip().splitlines())
        sections.append(f"## `{title}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(sections)


def _command_paths(cmd: Any, path: list[str]) -> list[list[str]]:
    found = [path]
    for name in sorted(getattr(cmd, "commands", {}) or {}):
        found.extend(_command_paths(cmd.commands[name], [*path, name]))
    return found


def main(argv: list[str]) -> int:
    text = render_cli_docs()
    if "--check" in argv:
        if not DOC_PATH.exists() or DOC_PATH.read_text(encoding="utf-8") != text:
            print(f"{DOC_PATH} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
