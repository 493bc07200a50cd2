"""The driver: one node's core run on an injected clock, its outputs carried out in order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zmqcast.api.types import NodeStatus
from zmqcast.core.config import CoreConfig
from zmqcast.core.events import Delivery, Event, EventKind
from zmqcast.core.frames import Frame
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import Variant
from zmqcast.driver import MemoryEventLog, MemorySnapshots, NodeDriver, VirtualClock
from zmqcast.sim.runner import SimParams, Simulation


class Pair:
    """Two drivers on one virtual clock, frames carried between them by hand."""

    def __init__(self) -> None:
        self.clock = VirtualClock(epoch=1_700_000_000.0)
        self.log = MemoryEventLog()
        self.files = MemorySnapshots()
        self.wire: list[Frame] = []
        self.drivers = {
            name: NodeDriver(
                NodeCore(name, 1, [peer], [peer], CoreConfig(), 0.0, members=["A", "B"]),
                self.clock,
                self.log,
                self.files,
                self.wire.append,
            )
            for name, peer in (("A", "B"), ("B", "A"))
        }

    def settle(self, rounds: int = 50) -> None:
        """Deliver every frame in flight, then let timers run, until nothing moves."""
        for _ in range(rounds):
            while self.wire:
                frames, self.wire[:] = list(self.wire), []
                for f in frames:
                    self.drivers[f.dst].receive([f])
            self.clock.now += 0.01
            for d in self.drivers.values():
                d.tick_if_due()
            if not self.wire and all(d.core.settled() for d in self.drivers.values()):
                return


def test_the_driver_reads_time_only_from_its_clock() -> None:
    pair = Pair()
    pair.clock.now = 12.5
    a = pair.drivers["A"]
    a.start()
    started = [e for e in pair.log.events if e["kind"] == EventKind.START]
    assert [e["time"] for e in started] == [12.5]
    ev = a.event(EventKind.BAD_FRAME, {"link": "x", "reason": "r", "count": 1})
    assert ev["time"] == 12.5 and ev["node"] == "A" and ev["inc"] == 1
    assert pair.clock.wall() == 1_700_000_012.5


def test_outputs_are_carried_out_in_order_and_listeners_hear_every_batch() -> None:
    pair = Pair()
    order: list[str] = []
    delivered: list[Delivery] = []
    heard: list[Event] = []
    b = pair.drivers["B"]

    def on_deliveries(ds: list[Delivery]) -> None:
        order.append("deliveries")
        delivered.extend(ds)

    def on_events(evs: list[Event]) -> None:
        order.append("events")
        heard.extend(evs)

    b.delivery_listeners.append(on_deliveries)
    b.event_listeners.append(on_events)
    for d in pair.drivers.values():
        d.start()
    pair.settle()
    mid = pair.drivers["A"].multicast(b"hello")
    pair.settle()
    assert [(d.origin, d.body) for d in delivered] == [("A", b"hello")]
    assert (delivered[0].oepoch, delivered[0].oseq) == mid[1:]
    assert b.delivered == 1 and b.delivered_from == {"A"}
    # Within a batch, deliveries reach the application before the events.
    first = order.index("deliveries")
    assert order[first + 1] == "events"
    # Listeners hear exactly what the log recorded for B.
    logged_b = [e for e in pair.log.events if e["node"] == "B"]
    assert heard == logged_b


def test_a_snapshot_waiter_gets_the_global_record_when_it_completes() -> None:
    pair = Pair()
    for d in pair.drivers.values():
        d.start()
    pair.settle()
    ended: list[tuple[Event, dict[str, Any] | None]] = []
    sid = pair.drivers["A"].snapshot(
        Variant.CHANDY_LAMPORT, lambda ev, rec: ended.append((ev, rec))
    )
    pair.settle()
    assert len(ended) == 1
    ev, record = ended[0]
    assert ev["kind"] == EventKind.SNAP_DONE and ev["sid"] == sid
    assert record is not None and sorted(record["records"]) == ["A", "B"]
    assert {(f.sid, f.name) for f in pair.files.files} >= {(sid, "global"), (sid, "A"), (sid, "B")}
    assert pair.drivers["A"].snapshot_waiters == {}


def test_every_simulated_node_is_a_driver_on_the_simulators_clock() -> None:
    sim = Simulation(SimParams(nodes=3, seed=5, messages=5))
    result = sim.run()
    assert result.ok
    drivers = [d for d in sim.drivers.values() if d is not None]
    assert len(drivers) == 3
    assert all(d.clock is sim.clock for d in drivers)
    assert sim.clock.now == result.end_time
    assert sum(d.multicasts for d in drivers) == sim.multicasts == 15


def test_a_fin_whose_ack_is_lost_leaves_the_initiator_waiting_on_that_peer() -> None:
    """The cause of a bank run that never ended (CI, 2026-12-01): a peer took the
    initiator's FIN and stopped before its ack got through. The initiator then
    holds an unreleased control item that only that peer could release; the
    status names the peer, so a run's end can give it up once it is suspected."""
    pair = Pair()
    for d in pair.drivers.values():
        d.start()
    pair.settle()
    a, b = pair.drivers["A"], pair.drivers["B"]
    a.snapshot(Variant.LAI_YANG)  # its control items travel on the control channel only
    for _ in range(100):
        frames, pair.wire[:] = list(pair.wire), []
        for f in frames:
            if a.core.snapshots.active == 0 and f.src == "B":
                continue  # the snapshot is over at A: B has stopped, nothing of it arrives
            pair.drivers[f.dst].receive([f])
        pair.clock.now += 0.01
        for d in pair.drivers.values():
            d.tick_if_due()
    assert b.core.settled() and b.core.snapshots.active == 0  # B took the FIN
    assert not a.core.settled() and a.core.status().ctl_unreleased > 0
    assert a.core.status().unreleased == 0 and a.core.waiting_on() == ["B"]


def test_finished_gives_up_only_what_suspected_peers_hold() -> None:
    base = NodeStatus("A", 1, 5, 0, 0, True, 0, 0, 0, 0)
    assert base.settled and base.finished
    waiting = replace(base, ctl_unreleased=1, waiting_on=("B",))
    assert not waiting.settled and not waiting.finished
    assert replace(waiting, suspects=("B",)).finished
    assert not replace(waiting, waiting_on=("B", "C"), suspects=("B",)).finished
    assert not replace(base, snapshots_active=1, suspects=("B",)).finished
