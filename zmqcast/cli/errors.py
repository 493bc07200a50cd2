"""One-line user errors: name the field, exit 2, no traceback."""

from __future__ import annotations

from typing import NoReturn

import typer

USAGE_EXIT = 2


def fail(field: str, message: str) -> NoReturn:
    """Print ``error: FIELD: MESSAGE`` on stderr and exit with status 2."""
    typer.echo(f"error: {field}: {message}", err=True)
    raise typer.Exit(USAGE_EXIT)


def check_probability(field: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        fail(field, f"must be in [0, 1), got {value:g}")
    return value


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        fail(field, f"must be one of {', '.join(choices)}, got {value!r}")
    return value
