"""Tests for :class:`zmqcast.core.node.NodeCore` wired into a tiny lossless network."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.corenet import CoreNet
from zmqcast.core.config import FRAME_HEADROOM, CoreConfig
from zmqcast.core.node import Backpressure, NodeCore
from zmqcast.topology import build, node_names


class Net(CoreNet):
    """Delivers every frame at once and in order; ticks every node on a fixed step."""

    def __init__(self, shape: str, count: int, cfg: CoreConfig) -> None:
        super().__init__(build(shape, node_names(count)), cfg)


SHAPES = [("mesh", 3), ("line", 3), ("ring", 3), ("mesh", 2)]


def chatter(net: Net, per_node: int) -> set[tuple[str, bytes]]:
    sent: set[tuple[str, bytes]] = set()
    for i in range(per_node):
        for node in net.cores:
            body = f"{node}-{i}".encode()
            net.multicast(node, body)
            sent.add((node, body))
        net.run(0.05)
    net.run(2.0)
    return sent


@pytest.mark.parametrize(("shape", "count"), SHAPES)
def test_multicast_delivered_exactly_once_elsewhere(shape: str, count: int) -> None:
    net = Net(shape, count, CoreConfig())
    sent = chatter(net, 3)
    for node, got in net.delivered.items():
        ids = Counter((d.origin, d.oepoch, d.oseq) for d in got)
        assert all(c == 1 for c in ids.values()), ids
        assert {(d.origin, d.body) for d in got} == {(o, b) for o, b in sent if o != node}


@pytest.mark.parametrize(("shape", "count"), SHAPES)
def test_fifo_per_origin_order(shape: str, count: int) -> None:
    net = Net(shape, count, CoreConfig())
    chatter(net, 4)
    for got in net.delivered.values():
        for origin in net.cores:
            seqs = [d.oseq for d in got if d.origin == origin]
            assert seqs == sorted(seqs)


@pytest.mark.parametrize(("shape", "count"), SHAPES)
def test_lamport_rule_on_delivery(shape: str, count: int) -> None:
    net = Net(shape, count, CoreConfig())
    chatter(net, 3)
    deliveries = [d for got in net.delivered.values() for d in got]
    assert deliveries
    assert all(d.lamport > d.sender_lamport for d in deliveries)
    # Each node's own delivery timestamps strictly increase.
    for got in net.delivered.values():
        stamps = [d.lamport for d in got]
        assert stamps == sorted(set(stamps))


def test_multicast_raises_backpressure_when_window_full() -> None:
    cfg = CoreConfig(window=2)
    core = NodeCore("P1", 1, ["P2"], ["P2"], cfg, 0.0)
    core.start(0.0)  # P2 never answers: nothing is ever released
    core.multicast(b"a", 0.1)
    assert core.can_multicast()
    core.multicast(b"b", 0.2)
    assert not core.can_multicast()
    with pytest.raises(Backpressure):
        core.multicast(b"c", 0.3)
    assert core.footprint().retransmit == 2
    hb = core.tick(5.0).frames
    assert hb and all(f.kind == "hb" and f.dinc == 0 for f in hb)  # still handshaking
    assert not core.can_multicast()


def test_backpressure_lifts_once_partner_releases() -> None:
    net = Net("mesh", 2, CoreConfig(window=2))
    net.multicast("P1", b"a")
    net.multicast("P1", b"b")
    assert not net.cores["P1"].can_multicast()
    net.run(0.5)
    assert net.cores["P1"].can_multicast()
    net.multicast("P1", b"c")
    net.run(0.5)
    assert [d.body for d in net.delivered["P2"]] == [b"a", b"b", b"c"]


@pytest.mark.parametrize(("shape", "count"), SHAPES)
def test_footprint_drains_after_quiescence(shape: str, count: int) -> None:
    cfg = CoreConfig(window=8)
    net = Net(shape, count, cfg)
    chatter(net, 5)
    for core in net.cores.values():
        fp = core.footprint()
        assert fp.retransmit == 0
        assert fp.reorder == 0
        assert fp.receive_sets == 0
        assert fp.dedup == 0
        assert fp.custody == 0
        assert fp.holdback == 0
        assert all(s.unreleased == 0 for s in core.senders.values())
        assert core.can_multicast()
        # The replay store keeps the newest ``window`` messages per origin by
        # design (for a restarted neighbour), so it is bounded, not emptied.
        assert fp.retained == 5 * count  # every origin's 5 messages (5 < window)
        assert fp.total() == fp.retained


def test_footprint_starts_at_zero() -> None:
    net = Net("mesh", 3, CoreConfig())
    assert all(core.footprint().total() == 0 for core in net.cores.values())


def test_retained_replay_store_capped_at_window() -> None:
    net = Net("mesh", 2, CoreConfig(window=2))
    chatter(net, 6)
    assert all(core.footprint().retained == 2 * 2 for core in net.cores.values())


def test_a_batch_shares_frames_stops_at_the_window_and_delivers_in_order() -> None:
    net = Net("mesh", 3, CoreConfig(window=100, max_batch=16))
    p1 = net.cores["P1"]
    bodies = [f"m{i}".encode() for i in range(150)]
    taken, out = p1.multicast_batch(bodies, net.now)
    assert taken == 100  # the window, not the 150 offered
    data = [f for f in out.frames if f.kind == "data"]
    # 100 items to each of two peers, 16 to a frame: 7 frames per peer.
    assert len(data) == 14
    net.absorb("P1", out)
    net.pump()
    for node in ("P2", "P3"):
        assert [d.body for d in net.delivered[node]] == bodies[:100]


@pytest.mark.parametrize(("shape", "count"), SHAPES)
def test_a_lean_trace_drops_only_the_per_message_events(shape: str, count: int) -> None:
    full = Net(shape, count, CoreConfig())
    lean = Net(shape, count, CoreConfig(trace_messages=False))
    chatter(full, 3)
    chatter(lean, 3)
    # Same deliveries, same Lamport stamps: the clock ticks as before.
    assert lean.delivered == full.delivered
    per_message = {"multicast", "deliver", "duplicate", "held"}
    full_kinds = Counter(e["kind"] for e in full.events)
    lean_kinds = Counter(e["kind"] for e in lean.events)
    assert full_kinds["deliver"] > 0 and full_kinds["multicast"] > 0
    assert not per_message & set(lean_kinds)
    assert lean_kinds == Counter({k: n for k, n in full_kinds.items() if k not in per_message})
    assert {e["trace"] for e in lean.events if e["kind"] == "start"} == {"lean"}


def test_a_body_no_frame_can_carry_is_refused() -> None:
    cfg = CoreConfig(max_frame_bytes=FRAME_HEADROOM + 100)
    net = Net("mesh", 2, cfg)
    p1 = net.cores["P1"]
    assert p1.max_body == 100
    for call in (
        lambda: p1.multicast(b"x" * 101, net.now),
        lambda: p1.multicast_batch([b"ok", b"x" * 101], net.now),
        lambda: p1.send_app("P2", b"x" * 101, net.now),
    ):
        with pytest.raises(ValueError, match="body: 101 bytes"):
            call()
    net.multicast("P1", b"x" * 100)
    assert [d.body for d in net.delivered["P2"]] == [b"x" * 100]
