"""A node's console in the seed's shape: ``[P1] [Lamport=3] 10:00:02.450 - Sent: ...``.

:class:`Console` is an event hook for :class:`zmqcast.Node` (``on_event``):
it prints snapshot milestones, and with ``verbose`` the channel events and
transfers; with ``json`` every event as a JSON line instead. Lines come from
the node's thread and the application's, so they are written under a lock.
Payloads are printed with :func:`printable`, so a peer cannot drive the
reader's terminal.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

import orjson

from zmqcast.core.events import Event, EventKind

CHANNEL_KINDS = frozenset(
    {
        EventKind.RETRANSMIT,
        EventKind.GAP,
        EventKind.LOSS,
        EventKind.PEER_EPOCH,
        EventKind.SUSPECT,
        EventKind.ALIVE,
        EventKind.REPLAY,
        EventKind.REPAIR,
        EventKind.SKIP,
        EventKind.LATE,
    }
)
"""Events ``--verbose`` prints."""
_QUIET_FIELDS = frozenset({"node", "inc", "kind", "lamport", "time", "wall"})


def clock_text(wall: float) -> str:
    """``HH:MM:SS.mmm`` local time, as in the seed's console lines."""
    t = time.localtime(wall)
    return f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{int(wall * 1000) % 1000:03d}"


def printable(body: bytes) -> str:
    """``body`` as console text: control characters shown as escapes.

    A peer's payload must not drive the reader's terminal (colours, cursor
    moves, a cleared screen), so everything but printable text is escaped.
    """
    text = body.decode("utf-8", "replace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _fields(ev: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in ev.items() if k not in _QUIET_FIELDS)


class Console:
    """Prints one node's life on ``out``."""

    def __init__(
        self, node_id: str, out: TextIO, *, verbose: bool = False, json: bool = False
    ) -> None:
        self.id = node_id
        self.out = out
        self.verbose = verbose
        self.json = json
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """One line, as is."""
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def line(self, lamport: int, text: str) -> None:
        """One line in the seed's shape (unless events are printed as JSON)."""
        if not self.json:
            self.write(f"[{self.id}] [Lamport={lamport}] {clock_text(time.time())} - {text}")

    def sent(self, lamport: int, body: bytes) -> None:
        self.line(lamport, f"Sent: {printable(body)}")

    def delivered(self, lamport: int, body: bytes, origin: str) -> None:
        self.line(lamport, f"Delivered: {printable(body)} | from={origin}")

    def on_events(self, events: list[Event]) -> None:
        """The node's event hook."""
        if self.json:
            text = "".join(orjson.dumps(ev).decode() + "\n" for ev in events)
            with self._lock:
                self.out.write(text)
                self.out.flush()
            return
        for ev in events:
            self._event(ev)

    def _event(self, ev: Event) -> None:
        kind = ev["kind"]
        if kind == EventKind.SNAP_START:
            self.line(ev["lamport"], f"Snapshot {ev['sid']} started")
        elif kind == EventKind.SNAP_CUT:
            raw = ev["state"]
            state = (
                " ".join(f"{k}={v}" for k, v in raw.items())
                if isinstance(raw, dict)
                else orjson.dumps(raw).decode()
            )
            self.line(ev["lamport"], f"Snapshot {ev['sid']} ({ev['variant']}) cut: {state}")
        elif kind == EventKind.SNAP_DONE:
            ms = ev["duration"] * 1000
            self.line(
                ev["lamport"], f"Snapshot {ev['sid']} complete in {ms:.1f} ms ({ev['nodes']} nodes)"
            )
        elif kind == EventKind.SNAP_ABORT:
            self.line(ev["lamport"], f"Snapshot {ev['sid']} aborted: {ev['reason']}")
        elif not self.verbose:
            return
        elif kind in CHANNEL_KINDS:
            self.line(ev["lamport"], f"{kind}: " + _fields(ev))
        elif kind == EventKind.APP_SEND:
            self.line(ev["lamport"], f"Sent: transfer {ev.get('amount')} to {ev['dst']}")
        elif kind == EventKind.APP_RECV:
            self.line(ev["lamport"], f"Received: transfer {ev.get('amount')} from {ev['from']}")
