"""The ``zmqcast`` command: one typer app, one module per command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zmqcast import __version__
from zmqcast.cli.bank import bank
from zmqcast.cli.bench import bench
from zmqcast.cli.check import check
from zmqcast.cli.config import config_app
from zmqcast.cli.diagram import diagram
from zmqcast.cli.export import export_app
from zmqcast.cli.keys import keys_app
from zmqcast.cli.node import launch, node
from zmqcast.cli.options import bare_reorder
from zmqcast.cli.sim import sim
from zmqcast.cli.snapshot import snapshot
from zmqcast.cli.status import status
from zmqcast.cli.stress import stress
from zmqcast.cli.sweep import sweep

app = typer.Typer(
    name="zmqcast",
    help="Reliable group messaging and consistent snapshots over ZeroMQ.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(sim)
app.command()(sweep)
app.command()(node)
app.command()(launch)
app.command()(check)
app.command()(bank)
app.command()(snapshot)
app.command()(status)
app.command()(stress)
app.command()(bench)
app.command()(diagram)
app.add_typer(config_app)
app.add_typer(export_app)
app.add_typer(keys_app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"zmqcast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Reliable group messaging and consistent snapshots over ZeroMQ."""


def main() -> None:
    """Console-script entry point."""
    app(args=bare_reorder(sys.argv[1:]), prog_name="zmqcast")
