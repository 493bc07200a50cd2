"""The ``zmqcast`` command: one typer app, one module per command group."""

from __future__ import annotations

import typer

from zmqcast.cli.bank import bank
from zmqcast.cli.bench import bench
from zmqcast.cli.check import check
from zmqcast.cli.node import launch, node
from zmqcast.cli.sim import sim
from zmqcast.cli.snapshot import snapshot
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
app.command()(stress)
app.command()(bench)


@app.callback()
def _root() -> None:
    """Reliable group messaging and consistent snapshots over ZeroMQ."""


def main() -> None:
    """Console-script entry point."""
    app()
