"""Snapshot cuts on a diagram: in-flight messages, orphans, Lai-Yang colours, control arrows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_viz_clocks import ev, frm, links
from zmqcast.check.snapshot import SnapshotFiles
from zmqcast.core.config import ChannelMode
from zmqcast.sim.runner import SimParams, Simulation, collect_files
from zmqcast.viz.diagram import analyse
from zmqcast.viz.model import Flag, MessageKind
from zmqcast.viz.trace import Run

SID = "P1-1-1"


def cut(node: str, time: float, variant: str = "chandy-lamport", inc: int = 1) -> dict[str, Any]:
    return ev(node, "snap_cut", time, inc=inc, sid=SID, initiator="P1", variant=variant)


def send(node: str, time: float, dst: str, n: int, inc: int = 1) -> dict[str, Any]:
    return ev(node, "app_send", time, inc=inc, dst=dst, n=n, amount=1)


def recv(node: str, time: float, src: str, n: int, finc: int = 1) -> dict[str, Any]:
    return ev(node, "app_recv", time, **frm(src), finc=finc, n=n, amount=1)


def idents(run: Run, which: str) -> set[str]:
    (snap,) = analyse(run).snapshots
    messages = analyse(run).model.messages
    return {messages[m].ident for m in getattr(snap, which)}


def test_in_flight_is_sent_inside_and_received_outside_orphans_the_reverse() -> None:
    events = [
        ev("P1", "start", 0.0, **links(["P2"], ["P2"])),
        send("P1", 1.0, "P2", 1),
        ev("P1", "snap_start", 2.0, sid=SID, variant="chandy-lamport"),
        cut("P1", 2.0),
        send("P1", 3.0, "P2", 2),
        send("P1", 3.5, "P2", 3),  # never received: in flight only if sent inside; it is not
        ev("P2", "start", 0.0, **links(["P1"], ["P1"])),
        recv("P2", 3.2, "P1", 2),  # received inside, sent outside: an orphan
        cut("P2", 4.0),
        recv("P2", 5.0, "P1", 1),  # sent inside, received outside: in flight
    ]
    run = Run(Path("x"), events)
    assert idents(run, "in_flight") == {"P1#1>P2:1"}
    assert idents(run, "orphans") == {"P1#1>P2:2"}


def test_a_crashed_senders_messages_count_as_sent_inside_but_are_in_no_channel() -> None:
    events = [
        send("P3", 1.0, "P2", 1),
        send("P3", 1.1, "P2", 2),
        ev("P3", "start", 2.0, inc=2),
        cut("P3", 3.0, inc=2),
        cut("P1", 2.5),
        recv("P2", 1.5, "P3", 1),  # before P2's cut, from a crashed incarnation: no orphan
        cut("P2", 4.0),
        # P3#1's n=2 was never received: lost with its sender, not in flight.
    ]
    run = Run(Path("x"), events)
    assert idents(run, "in_flight") == set()
    assert idents(run, "orphans") == set()


def test_lai_yang_events_are_white_before_the_cut_and_red_from_it() -> None:
    events = [
        send("P1", 1.0, "P2", 1),
        cut("P1", 2.0, "lai-yang"),
        send("P1", 3.0, "P2", 2),
        recv("P2", 1.5, "P1", 1),
        cut("P2", 3.5, "lai-yang"),
        recv("P2", 4.0, "P1", 2),
    ]
    analysis = analyse(Run(Path("x"), events))
    (snap,) = analysis.snapshots
    kinds = {
        (analysis.model.events[e].raw["node"], analysis.model.events[e].kind) for e in snap.red
    }
    assert kinds == {("P1", "snap_cut"), ("P1", "app_send"), ("P2", "snap_cut"), ("P2", "app_recv")}
    assert len(snap.red) == 4  # P1's first send and P2's first receipt stay white


def test_global_json_is_compared_with_what_is_drawn() -> None:
    events = [
        send("P1", 1.0, "P2", 1),
        cut("P1", 2.0),
        cut("P2", 3.0),
        recv("P2", 4.0, "P1", 1),
    ]
    message = {"src": "P1", "sinc": 1, "dst": "P2", "n": 1, "lamport": 1, "body": {"amount": 1}}
    record: dict[str, Any] = {
        "records": {"P2": {"node": "P2", "inc": 1, "channels": {"P1>P2": [message]}}}
    }
    same = Run(Path("x"), events, {SID: SnapshotFiles(SID, {}, record)})
    (snap,) = analyse(same).snapshots
    assert snap.matches_record() == (set(), set())
    record["records"]["P2"]["channels"]["P1>P2"] = []
    differs = Run(Path("x"), events, {SID: SnapshotFiles(SID, {}, record)})
    (snap,) = analyse(differs).snapshots
    assert snap.matches_record() == (set(), {"P1#1>P2:1"})


def test_markers_leave_at_the_cut_and_arrive_where_fifo_order_allows() -> None:
    events = [
        ev("P1", "start", 0.0, **links(["P2"], ["P2", "P3"])),
        send("P1", 1.0, "P2", 1),
        cut("P1", 2.0),
        send("P1", 2.5, "P2", 2),
        ev("P1", "snap_record", 3.0, sid=SID, messages=0),
        # P3's marker makes P2 cut; P1's comes behind P1's first transfer.
        ev("P2", "start", 0.0, **links(["P1"], ["P1", "P3"])),
        ev("P2", "gap", 1.9, ch="P1>P2", missing=[[1, 1]]),
        ev("P2", "snap_cut", 2.1, sid=SID, initiator="P1", variant="chandy-lamport"),
        recv("P2", 2.2, "P1", 1),  # in flight: the marker is behind it
        recv("P2", 2.7, "P1", 2),  # the marker is ahead of it
        ev("P2", "snap_record", 2.8, sid=SID, messages=1),
        ev("P3", "start", 0.0, **links(["P1", "P2"], [])),
        ev("P3", "snap_cut", 2.05, sid=SID, initiator="P1", variant="chandy-lamport"),
    ]
    analysis = analyse(Run(Path("x"), events))
    events_ = analysis.model.events
    markers = [m for m in analysis.model.messages if m.kind == MessageKind.MARKER]
    pairs = [(m.src, m.dst) for m in markers]
    assert sorted(pairs) == [("P1", "P2"), ("P2", "P1"), ("P3", "P1"), ("P3", "P2")]
    to_p2 = markers[pairs.index(("P1", "P2"))]
    assert Flag.INFERRED in to_p2.flags
    assert not to_p2.causal
    assert events_[to_p2.send or 0].kind == "snap_cut"
    # Just after the transfer sent before the cut, before the one sent after it.
    assert events_[to_p2.recv or 0].raw["time"] == 2.2
    assert events_[to_p2.recv or 0].level > events_[to_p2.send or 0].level
    from_p3 = markers[pairs.index(("P3", "P2"))]
    assert events_[from_p3.recv or 0].kind == "snap_cut"  # the marker that made P2 cut
    # P2's marker to P1: P1's first event after P2's cut by the clock.
    to_p1 = markers[pairs.index(("P2", "P1"))]
    assert events_[to_p1.recv or 0].raw["time"] == 2.5


@pytest.mark.parametrize(
    ("channel", "variant", "workload", "crash", "seed"),
    [
        ("fifo", "chandy-lamport", "bank", False, 1),
        ("unordered", "lai-yang", "bank", False, 2),
        ("lossy", "sender-log", "bank", False, 3),
        ("fifo", "all", "mixed", True, 0),
    ],
)
def test_in_flight_arrows_are_the_recorded_channel_states_of_simulated_runs(
    channel: str, variant: str, workload: str, crash: bool, seed: int
) -> None:
    params = SimParams(
        nodes=4 if not crash else 5,
        messages=15,
        workload=workload,
        snapshots=4,
        variant=variant,
        loss=0.2,
        dup=0.05,
        reorder=0.5,
        channel=ChannelMode(channel),
        crash=crash,
        partition=crash,
        topology="ring" if crash else "mesh",
        seed=seed,
    )
    sim = Simulation(params)
    result = sim.run()
    analysis = analyse(Run(Path("sim"), result.events, collect_files(sim.files)))
    compared = [s for s in analysis.snapshots if s.recorded is not None]
    assert compared, "no snapshot completed: nothing to compare"
    assert any(s.recorded for s in compared), "every channel state was empty"
    for snap in compared:
        assert snap.drawn == snap.recorded, snap.sid
        assert snap.orphans == []
    assert not any(Flag.ACAUSAL in m.flags for m in analysis.model.messages)
