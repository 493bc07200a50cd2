"""``zmqcast check RUN_DIR``: run the checkers over a run's event logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from zmqcast.check import check_multicast
from zmqcast.cli.errors import fail


def load_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of ``RUN_DIR/events/*.jsonl``, each node's in its own order."""
    files = sorted((run_dir / "events").glob("*.jsonl"))
    if not files:
        fail("RUN_DIR", f"no event logs in {run_dir / 'events'}")
    events: list[dict[str, Any]] = []
    for path in files:
        lines = path.read_bytes().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                # A node killed mid-write may leave a torn last line; anything
                # else is a corrupt log.
                if number == len(lines):
                    continue
                fail(f"{path}:{number}", "not a JSON object")
            if not isinstance(event, dict):
                fail(f"{path}:{number}", "not a JSON object")
            events.append(event)
    return events


def check(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by launch or node.")],
) -> None:
    """Check multicast validity, agreement, integrity, FIFO and the Lamport condition."""
    events = load_events(run_dir)
    modes = {e.get("mode") for e in events if e.get("kind") == "start"}
    mode = modes.pop() if len(modes) == 1 else "fifo"
    try:
        report = check_multicast(events, reliable=mode != "lossy", fifo=mode == "fifo")
    except ValueError as exc:
        fail("RUN_DIR", f"malformed event log: {exc}")
    typer.echo(f"{run_dir}: {len(events)} events, {mode} channels")
    for r in report.results:
        verdict = "held" if r.held else "VIOLATED"
        extra = f"  ({r.detail})" if r.detail else ""
        typer.echo(f"  {r.name:<17} {verdict}{extra}")
    if not report.ok:
        raise typer.Exit(1)
