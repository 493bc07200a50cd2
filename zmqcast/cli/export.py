"""``zmqcast export``: a run in other tools' formats (``shiviz``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqcast.cli.diagram import RunSource, check_output, default_output, read_run, write_output
from zmqcast.viz.diagram import analyse
from zmqcast.viz.shiviz import shiviz_log

export_app = typer.Typer(
    name="export",
    help="Write a run in another tool's format.",
    no_args_is_help=True,
)


@export_app.command()
def shiviz(
    run_dir: RunSource,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The log file (default: RUN_DIR/shiviz.log)."),
    ] = None,
) -> None:
    """Write the run as a ShiViz log: one host per incarnation, vector clocks from the trace."""
    target = output if output is not None else default_output(run_dir, "shiviz.log")
    check_output("--output", target)
    analysis = analyse(read_run(run_dir))
    write_output("--output", target, shiviz_log(analysis))
    hosts = len(analysis.model.lanes)
    typer.echo(f"shiviz: {target} ({len(analysis.order)} events, {hosts} hosts)")
