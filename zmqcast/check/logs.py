"""Reading a run's event logs: ``RUN_DIR/events/*.jsonl``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from zmqcast.check.trace import SIM_NODE

EVENT_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("node", str, "a string"),
    ("inc", int, "an integer"),
    ("kind", str, "a string"),
    ("lamport", int, "an integer"),
    ("time", (int, float), "a number"),
)
"""The fields every event has (README, "Event trace"), their types, and how to say them."""


class LogError(ValueError):
    """A run directory whose logs cannot be read; ``where`` names the file or line."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of ``RUN_DIR/events/*.jsonl``, each node's in its own order.

    A torn last line is skipped: one that does not end with a newline and
    begins as a JSON object does, which is what a node killed mid-write (or a
    live node caught mid-write) leaves. Any other line that is not an event (a
    JSON object with ``node``, ``inc``, ``kind``, ``lamport`` and ``time``)
    raises :class:`LogError` naming the file and line, as does an entry that
    is not a readable file.
    """
    files = sorted((run_dir / "events").glob("*.jsonl"))
    if not files:
        raise LogError("RUN_DIR", f"no event logs in {run_dir / 'events'}")
    events: list[dict[str, Any]] = []
    for path in files:
        events.extend(_read_log(path))
    return events


def _read_log(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        raise LogError(str(path), "is a directory, not an event log")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogError(str(path), f"cannot read: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    # What follows the last newline is b"" for a complete log, or a torn record.
    tail = lines.pop()
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            events.append(parse_event(line, f"{path}:{number}"))
    if tail.strip() and not _torn(tail):
        events.append(parse_event(tail, f"{path}:{len(lines) + 1}"))
    return events


def _torn(tail: bytes) -> bool:
    """Whether an unterminated last line is the start of a record cut mid-write."""
    if not tail.lstrip().startswith(b"{"):
        return False
    try:
        orjson.loads(tail)
    except orjson.JSONDecodeError:
        return True
    return False  # a whole JSON value: judged as any other line


def parse_event(line: bytes, where: str) -> dict[str, Any]:
    """One line as an event, or :class:`LogError` at ``where`` saying what is wrong."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise LogError(where, "not a JSON object") from None
    if not isinstance(event, dict):
        raise LogError(where, "not a JSON object")
    for name, kind, said in EVENT_FIELDS:
        if name not in event:
            raise LogError(where, f'not an event: no "{name}" field')
        value = event[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise LogError(where, f'not an event: "{name}" must be {said}, got {value!r}')
    return event


def missing_logs(events: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Nodes named as a peer in some ``start`` event that have no event of their own.

    Maps each such node to the nodes whose ``start`` names it (in ``out`` or
    ``in``), both sorted. Their logs are missing (deleted, not copied, or the
    node never started), so the run cannot be judged as a whole.
    """
    present: set[str] = set()
    named: dict[str, set[str]] = {}
    for event in events:
        node = event.get("node")
        if not isinstance(node, str) or node == SIM_NODE:
            continue
        present.add(node)
        if event.get("kind") != "start":
            continue
        for key in ("out", "in"):
            peers = event.get(key)
            if isinstance(peers, list):
                for peer in peers:
                    if isinstance(peer, str):
                        named.setdefault(peer, set()).add(node)
    return {peer: sorted(by) for peer, by in sorted(named.items()) if peer not in present}
