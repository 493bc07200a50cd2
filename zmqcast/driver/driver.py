"""``NodeDriver``: carries one node's core between the outside world and its outputs.

Every call into the core returns :class:`~zmqcast.core.events.Outputs`; the
driver carries them out in one fixed order (:meth:`NodeDriver.apply`):

1. the events go to the event log;
2. the frames go to ``send`` (the ZeroMQ transport, or the simulated network);
3. the deliveries go to the delivery listeners (the application);
4. the snapshot files go to the snapshot store;
5. snapshot waiters whose snapshot ended here are answered;
6. the events go to the event listeners (a console, a user's hook).

The driver reads the time from its :class:`~zmqcast.driver.clock.Clock`, so
the simulator runs it on virtual time and a real node on the system's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zmqcast.core.events import Delivery, Event, EventKind, Outputs, SnapshotFile
from zmqcast.core.frames import Frame
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import Variant
from zmqcast.driver.clock import Clock
from zmqcast.driver.eventlog import EventLog
from zmqcast.driver.files import SnapshotStore

SnapshotWaiter = Callable[[Event, "dict[str, Any] | None"], None]
"""Called once a snapshot ends at its initiator: the ``snap_done`` or
``snap_abort`` event, and the global record if it completed."""
ACTIVITY_KINDS = frozenset(
    {
        EventKind.APP_SEND,
        EventKind.APP_RECV,
        EventKind.SNAP_CUT,
        EventKind.SNAP_RECORD,
        EventKind.SNAP_DONE,
    }
)
"""Events that show an application is still busy (see :attr:`NodeDriver.last_activity`)."""
_ENDED = (EventKind.SNAP_DONE, EventKind.SNAP_ABORT)


class NodeDriver:
    """Runs ``core`` on ``clock``, sending its frames with ``send``."""

    def __init__(
        self,
        core: NodeCore,
        clock: Clock,
        log: EventLog,
        files: SnapshotStore,
        send: Callable[[Frame], None],
    ) -> None:
        self.core = core
        self.clock = clock
        self.log = log
        self.files = files
        self._send = send
        self.delivery_listeners: list[Callable[[list[Delivery]], None]] = []
        """Called with every batch of deliveries, in order."""
        self.event_listeners: list[Callable[[list[Event]], None]] = []
        """Called with every batch of events, after they are logged."""
        self.snapshot_waiters: dict[str, list[SnapshotWaiter]] = {}
        self._globals: dict[str, dict[str, Any]] = {}
        self.multicasts = 0
        """Messages this incarnation multicast."""
        self.delivered = 0
        """Multicasts delivered to this incarnation."""
        self.delivered_from: set[str] = set()
        """Origins this incarnation delivered a multicast from."""
        self.last_activity = clock.monotonic()
        """When the last app message or snapshot step happened here."""

    @property
    def id(self) -> str:
        return self.core.id

    @property
    def inc(self) -> int:
        return self.core.inc

    def now(self) -> float:
        return self.clock.monotonic()

    # ------------------------------------------------------------- outputs
    def apply(self, outputs: Outputs) -> None:
        """Carry out what one call into the core asked for (see the module's doc)."""
        events = outputs.events
        if events:
            self.log.write(events)
        send = self._send
        for frame in outputs.frames:
            send(frame)
        deliveries = outputs.deliveries
        if deliveries:
            self.delivered += len(deliveries)
            self.delivered_from.update(d.origin for d in deliveries)
            for listener in self.delivery_listeners:
                listener(deliveries)
        for f in outputs.files:
            self._store(f)
        if events:
            self._note(events)
            for on_events in self.event_listeners:
                on_events(events)

    def _store(self, f: SnapshotFile) -> None:
        if f.name == "global" and f.sid in self.snapshot_waiters:
            self._globals[f.sid] = f.content
        self.files.write(f)

    def _note(self, events: list[Event]) -> None:
        for ev in events:
            kind = ev["kind"]
            if kind in ACTIVITY_KINDS:
                self.last_activity = self.clock.monotonic()
            if kind in _ENDED and self.snapshot_waiters:
                sid = ev["sid"]
                waiters = self.snapshot_waiters.pop(sid, [])
                record = self._globals.pop(sid, None)
                for waiter in waiters:
                    waiter(ev, record)

    def event(self, kind: str, fields: dict[str, Any]) -> Event:
        """Record an event of the driver's own (not the core's), stamped like the core's."""
        ev: Event = {
            "node": self.core.id,
            "inc": self.core.inc,
            "kind": kind,
            "lamport": self.core.lamport,
            "time": round(self.clock.monotonic(), 6),
        }
        ev.update(fields)
        self.record([ev])
        return ev

    def record(self, events: list[Event]) -> None:
        """Log ``events`` and hand them to the event listeners."""
        if events:
            self.log.write(events)
            for on_events in self.event_listeners:
                on_events(events)

    # ------------------------------------------------------------- inputs
    def start(self) -> None:
        """Announce the incarnation and open the handshakes."""
        self.apply(self.core.start(self.clock.monotonic()))

    def receive(self, frames: Sequence[Frame]) -> None:
        """Feed frames that arrived, as one batch."""
        if frames:
            self.apply(self.core.receive_many(list(frames), self.clock.monotonic()))

    def tick(self) -> None:
        """Fire the core's timers that are due now."""
        self.apply(self.core.tick(self.clock.monotonic()))

    def tick_if_due(self) -> None:
        """:meth:`tick`, if a timer is due (a poll loop, which wakes for frames too)."""
        if self.clock.monotonic() >= self.core.next_deadline():
            self.tick()

    def multicast(
        self, body: bytes, on_sent: Callable[[tuple[str, int, int], int], None] | None = None
    ) -> tuple[str, int, int]:
        """Multicast ``body`` (the window must have room); return its id.

        ``on_sent(id, lamport)`` is called before the outputs are carried
        out, so before anything the message causes (its own delivery).
        """
        outputs = self.core.multicast(body, self.clock.monotonic())
        self.multicasts += 1
        mid = self.core.last_multicast
        if on_sent is not None:
            on_sent(mid, self.core.lamport)
        self.apply(outputs)
        return mid

    def multicast_batch(self, bodies: Sequence[bytes]) -> int:
        """Multicast as many of ``bodies`` as the window takes; return how many."""
        taken, outputs = self.core.multicast_batch(list(bodies), self.clock.monotonic())
        self.apply(outputs)
        self.multicasts += taken
        return taken

    def send_app(self, dst: str, body: bytes) -> None:
        """Send one point-to-point app message to out-neighbour ``dst``."""
        self.apply(self.core.send_app(dst, body, self.clock.monotonic()))

    def snapshot(self, variant: Variant, waiter: SnapshotWaiter | None = None) -> str:
        """Initiate a snapshot here; ``waiter`` hears how it ends. Return its id.

        Raises :class:`ValueError` if the variant cannot run here.
        """
        sid, outputs = self.core.snapshot(variant, self.clock.monotonic())
        if waiter is not None:
            self.snapshot_waiters.setdefault(sid, []).append(waiter)
        self.apply(outputs)
        return sid
