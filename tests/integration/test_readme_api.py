"""README's "Python API" examples, run exactly as printed, print exactly what README shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[tuple[str, str]]:
    """``(program, expected output)``: each python block of the section and the block after."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```python\n(.*?)```\s*\n```\n(.*?)```", section, flags=re.S)
    return [(program, output) for program, output in pairs]


def test_the_section_has_a_blocking_and_an_asyncio_example() -> None:
    programs = [program for program, _ in _examples()]
    assert len(programs) == 2
    assert "zmqcast.Node(" in programs[0]
    assert "zmqcast.AsyncNode(" in programs[1] and "asyncio.run(" in programs[1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", [0, 1], ids=["blocking", "asyncio"])
def test_readme_example_runs_as_printed(index: int, tmp_path: Path) -> None:
    program, expected = _examples()[index]
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert done.stderr == ""
