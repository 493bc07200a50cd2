"""Packaging metadata: the licence, the extras, and what CI and README install."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_is_mit_with_its_text_shipped() -> None:
    assert PROJECT["project"]["license"] == "MIT"  # an SPDX string, not the deprecated table
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the zmqcast authors\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    # SPDX license strings and license-files need setuptools 77.
    requires = PROJECT["build-system"]["requires"]
    assert any(
        re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires
    )


def test_the_test_extra_has_no_linters_and_dev_adds_them() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    names = {key: {re.split(r"[<>=\[]", r)[0] for r in reqs} for key, reqs in extras.items()}
    assert names["test"] == {"pytest", "pytest-timeout", "hypothesis"}
    assert names["dev"] == {"zmqcast", "mypy", "ruff"}
    assert "zmqcast[test]" in extras["dev"]


def test_ci_installs_dev_and_readme_installs_test() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[dev,pyre]'" in ci
    assert "ruff check ." in ci and "mypy" in ci
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[test,pyre]' && .venv/bin/pytest -q" in readme


def test_no_test_imports_the_linters() -> None:
    """README's test command installs `.[test,pyre]` only: no test may need mypy or ruff."""
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in {"mypy", "ruff"}, f"{path} imports {module}"
