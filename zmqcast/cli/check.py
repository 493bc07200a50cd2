"""``zmqcast check RUN_DIR``: run the checkers over a run's event logs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from zmqcast.check import TraceIndex, check_multicast
from zmqcast.check.logs import LogError, missing_logs, read_events
from zmqcast.check.snapshot import check_snapshots, load_snapshot_files, snapshot_results_ok
from zmqcast.cli.errors import fail


def load_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of the run (see :func:`read_events`); exit 2 naming a bad file."""
    try:
        return read_events(run_dir)
    except LogError as exc:
        fail(exc.where, exc.message)


def check_run(run_dir: Path, *, require_snapshots: bool = False) -> bool:
    """Print every verdict over a run directory; True if all held.

    False, with nothing checked, if some node's event log is missing: a node
    that another node's ``start`` names as a peer has no event at all.
    """
    events = load_events(run_dir)
    missing = missing_logs(events)
    if missing:
        # The record is incomplete: what the absent logs held (multicasts,
        # deliveries, transfers) would show up as violations that are not the
        # protocol's. Say whose logs are missing and judge nothing.
        typer.echo(f"{run_dir}: {len(events)} events")
        typer.echo(f"  missing event logs: {_named(missing)}")
        typer.echo("  nothing checked: the checks need the event log of every node")
        return False
    starts = [e for e in events if e.get("kind") == "start"]
    modes = {e.get("mode") for e in starts}
    mode = modes.pop() if len(modes) == 1 else "fifo"
    # A lean trace has no per-message events: the multicast checkers would
    # see no delivery at all and cry violation where there is only silence.
    lean = any(e.get("trace") == "lean" for e in starts)
    try:
        index = TraceIndex(events)
        report = (
            None if lean else check_multicast(index, reliable=mode != "lossy", fifo=mode == "fifo")
        )
    except ValueError as exc:
        fail("RUN_DIR", f"malformed event log: {exc}")
    try:
        verdicts = check_snapshots(events, load_snapshot_files(run_dir))
    except ValueError as exc:
        fail("RUN_DIR", f"malformed snapshot files: {exc}")
    typer.echo(f"{run_dir}: {len(events)} events, {mode} channels")
    if report is None:
        typer.echo('  multicast         not checked: the config says "trace": "lean"')
    else:
        for r in report.results:
            typer.echo(f"  {r.name:<17} {r.verdict()}")
    # A node that could not write its log is excused above, but its log is
    # incomplete: the run as a whole cannot pass.
    failures = index.failure_lines()
    for line in failures:
        typer.echo(f"  {line}")
    ok = (report is None or report.ok) and not failures
    if verdicts or require_snapshots:
        durations = sorted(v.duration for v in verdicts if v.duration is not None)
        passed = sum(v.ok for v in verdicts)
        typer.echo(f"  snapshots         {passed} of {len(verdicts)} passed{_spread(durations)}")
        for v in verdicts:
            typer.echo(f"    {v.line()}")
        ok = ok and snapshot_results_ok(verdicts) and (bool(verdicts) or not require_snapshots)
    return ok


def _named(missing: dict[str, list[str]]) -> str:
    """``P3 (named as a peer by P1, P2), P4 (...)``."""
    return ", ".join(f"{node} (named as a peer by {', '.join(by)})" for node, by in missing.items())


def _spread(durations: list[float]) -> str:
    """``, p50 X ms, p99 Y ms`` of snapshot durations (nearest rank)."""
    if not durations:
        return ""

    def rank(q: float) -> float:
        return durations[min(len(durations) - 1, max(0, math.ceil(q * len(durations)) - 1))]

    return f"; duration p50 {rank(0.5) * 1000:.1f} ms, p99 {rank(0.99) * 1000:.1f} ms"


def check(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by launch or node.")],
) -> None:
    """Check multicast validity, agreement, integrity, FIFO, Lamport, and every snapshot."""
    if not check_run(run_dir):
        raise typer.Exit(1)
