"""``zmqcast diagram RUN_DIR``: a space-time diagram of a run, with its snapshot cuts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqcast.check.logs import LogError
from zmqcast.cli.errors import fail
from zmqcast.fsutil import write_atomic
from zmqcast.viz.diagram import DEFAULT_MAX_EVENTS, build_diagram
from zmqcast.viz.page import render_page
from zmqcast.viz.trace import Run, load_run

MAX_EVENTS_LIMIT = 1_000_000
RunSource = Annotated[
    Path, typer.Argument(help="A run directory, or a trace file of zmqcast sim --trace.")
]
"""What ``diagram`` and ``export`` read."""


def diagram(
    run_dir: RunSource,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The HTML file (default: RUN_DIR/diagram.html)."),
    ] = None,
    snapshot: Annotated[
        str | None, typer.Option("--snapshot", help="Draw only this snapshot's cut (its id).")
    ] = None,
    start: Annotated[
        float | None,
        typer.Option("--from", help="Seconds from the run's first event: draw from here."),
    ] = None,
    end: Annotated[
        float | None, typer.Option("--to", help="Seconds from the run's first event: draw to here.")
    ] = None,
    nodes: Annotated[
        str | None, typer.Option(help="Comma-separated nodes to draw (default: all).")
    ] = None,
    max_events: Annotated[
        int, typer.Option(help="Draw at most this many events, the first in causal order.")
    ] = DEFAULT_MAX_EVENTS,
) -> None:
    """Write a self-contained HTML page: one lane per node, an arrow per message,
    each snapshot's cut with its in-flight and orphan messages."""
    if start is not None and start < 0:
        fail("--from", f"must be 0 or more seconds, got {start:g}")
    if end is not None and (end < 0 or (start is not None and end <= start)):
        fail("--to", f"must be after --from and 0 or more seconds, got {end:g}")
    if not 1 <= max_events <= MAX_EVENTS_LIMIT:
        fail("--max-events", f"must be between 1 and {MAX_EVENTS_LIMIT}, got {max_events}")
    target = output if output is not None else default_output(run_dir, "diagram.html")
    check_output("--output", target)
    run = read_run(run_dir)
    chosen = _nodes(run, nodes)
    if snapshot is not None:
        known = sorted({str(e.get("sid")) for e in run.events if e["kind"] == "snap_cut"})
        if snapshot not in known:
            listed = ", ".join(known) if known else "none: no node cut a snapshot"
            fail("--snapshot", f"no snapshot {snapshot!r} in the run (snapshots: {listed})")
    drawn = build_diagram(
        run, snapshot=snapshot, nodes=chosen, start=start, end=end, max_events=max_events
    )
    if not drawn.window.shown:
        fail("--from", "no event of the chosen nodes lies between --from and --to")
    write_output("--output", target, render_page(drawn))
    w = drawn.window
    note = f" (windowed: {len(w.shown)} of {w.total} events)" if w.windowed else ""
    typer.echo(f"diagram: {target}{note}")


def check_output(flag: str, path: Path | None) -> None:
    """One line naming ``flag`` and exit 2 if ``path`` cannot be a file to write."""
    if path is not None and path.is_dir():
        fail(flag, f"{path} is a directory")


def write_output(flag: str, path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; one line naming ``flag`` and exit 2 if it fails."""
    try:
        write_atomic(path, text.encode())
    except OSError as exc:
        fail(flag, f"cannot write {path}: {exc.strerror or exc}")


def default_output(run_dir: Path, name: str) -> Path:
    """``RUN_DIR/NAME`` for a run directory; beside a trace file, named after it."""
    if run_dir.is_file():
        return run_dir.with_name(f"{run_dir.stem}.{name.rpartition('.')[2]}")
    return run_dir / name


def read_run(run_dir: Path) -> Run:
    """The run, or one line naming what cannot be read and exit 2."""
    try:
        return load_run(run_dir)
    except LogError as exc:
        fail(exc.where, exc.message)
    except ValueError as exc:
        fail("RUN_DIR", str(exc))


def _nodes(run: Run, nodes: str | None) -> list[str] | None:
    if nodes is None:
        return None
    known = {str(e["node"]) for e in run.events if e["node"] != "sim"}
    chosen = [n.strip() for n in nodes.split(",") if n.strip()]
    if not chosen:
        fail("--nodes", "names no node")
    unknown = [n for n in chosen if n not in known]
    if unknown:
        fail(
            "--nodes",
            f"no node {', '.join(unknown)} in the run (nodes: {', '.join(sorted(known))})",
        )
    return list(dict.fromkeys(chosen))
