"""README's simulator example: the command it shows prints the lines it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.cli.options import bare_reorder

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_sim_example_prints_what_readme_shows() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"Example \(`(zmqcast sim [^`]+)`\):\n\n```\n(.*?)```", text, flags=re.S)
    assert match is not None, "README lost its simulator example"
    command, shown = match.group(1), match.group(2)
    result = CliRunner().invoke(app, bare_reorder(shlex.split(command)[1:]))
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    # Every line README shows is printed, in README's order; "..." stands for lines left out.
    at = 0
    for line in shown.splitlines():
        if line.strip() == "...":
            continue
        assert line in printed[at:], f"README shows {line!r}; the run printed:\n{result.stdout}"
        at = printed.index(line, at) + 1
