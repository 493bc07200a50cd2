"""What a diagram or an export reads: a run directory, or a simulator trace file.

A run directory holds ``events/*.jsonl`` and, if snapshots were taken,
``snapshots/<sid>/`` (README, "Files"). ``zmqcast sim --trace FILE`` writes the
same events into one JSON-lines file, with no snapshot files: the cuts are then
known from the ``snap_cut`` events alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zmqcast.check.logs import LogError, parse_event, read_events
from zmqcast.check.snapshot import SnapshotFiles, load_snapshot_files


@dataclass(slots=True)
class Run:
    """The events of one run, and its snapshot files if it has any."""

    source: Path
    events: list[dict[str, Any]]
    snapshots: dict[str, SnapshotFiles] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """A simulator trace: ``time`` is virtual, and no event carries ``wall``."""
        return not any("wall" in e for e in self.events)


def load_run(path: Path) -> Run:
    """A run directory or a trace file as a :class:`Run`.

    Raises :class:`~zmqcast.check.logs.LogError` naming the file (and line)
    that cannot be read, and ValueError naming a malformed snapshot file.
    """
    if path.is_dir():
        return Run(path, read_events(path), load_snapshot_files(path))
    if path.is_file():
        return Run(path, read_trace_file(path))
    raise LogError(str(path), "no such run directory or trace file")


def read_trace_file(path: Path) -> list[dict[str, Any]]:
    """Every event of a JSON-lines trace, as ``zmqcast sim --trace`` writes it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogError(str(path), f"cannot read: {exc.strerror or exc}") from None
    events = [
        parse_event(line, f"{path}:{number}")
        for number, line in enumerate(data.split(b"\n"), 1)
        if line.strip()
    ]
    if not events:
        raise LogError(str(path), "holds no events")
    return events
