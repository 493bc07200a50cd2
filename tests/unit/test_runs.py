"""Runs in the multicast layer, scripted: what one record per run must still do
per message (see ``zmqcast.core.flood``, "Runs")."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.corenet import CoreNet
from zmqcast.core.config import ChannelMode, CoreConfig, Relay
from zmqcast.core.flood import Spread
from zmqcast.core.frames import Data, Frame, Item, MulticastMeta
from zmqcast.topology import mesh, squares

QUIET = CoreConfig(heartbeat_interval=5.0, suspect_after=10.0)


def batch(net: CoreNet, node: str, bodies: list[bytes]) -> None:
    taken, out = net.cores[node].multicast_batch(bodies, net.now)
    assert taken == len(bodies)
    net.absorb(node, out)
    net.pump()


def test_an_origins_batch_is_one_custody_record_freed_message_by_message() -> None:
    net = CoreNet(mesh(["P1", "P2", "P3"]), QUIET)
    flood = net.cores["P1"].flood
    batch(net, "P1", [b"a", b"b", b"c"])
    records = {id(s) for s in flood._open.values()}
    assert len(records) == 1 and len(flood._open) == 3
    (spread,) = {id(s): s for s in flood._open.values()}.values()
    assert isinstance(spread, Spread) and spread.count == 3 and spread.left == [2, 2, 2]
    # Each receiver took the frame as one run, delivered all three, released them.
    for node in ("P2", "P3"):
        assert [d.body for d in net.delivered[node]] == [b"a", b"b", b"c"]
        assert net.cores[node].flood.stats.runs == 1
    net.run(0.05)
    assert not flood._open and not flood._alive
    assert net.cores["P1"].idle()


def test_a_duplicate_held_for_one_message_goes_when_that_message_is_received() -> None:
    """Two squares joined by the bridge P3 - P5, flooding: P5 echoes what P3
    sends it back to P3, which holds each echo until its own copies of that
    message were received (rule 3). P3 multicasts two messages as one run,
    one item per frame, and its frame of message 2 to P5 is lost. P3 must let
    the echo of message 1 go as soon as every neighbour acked message 1, not
    wait for message 2 with the rest of the run."""
    cfg = dataclasses.replace(QUIET, relay=Relay.FLOOD, max_batch=1)
    net = CoreNet(squares([f"P{i}" for i in range(1, 9)]), cfg)
    assert "P3" in net.cores["P5"].flood.echo_to
    lost: list[Frame] = []

    def drop(frame: Frame) -> bool:
        if (
            not lost
            and isinstance(frame, Data)
            and (frame.src, frame.dst) == ("P3", "P5")
            and any(isinstance(i.meta, MulticastMeta) and i.meta.oseq == 2 for i in frame.items)
        ):
            lost.append(frame)
            return True
        return False

    net.drop = drop
    batch(net, "P3", [b"one", b"two"])
    assert lost, "message 2's frame to P5 was not on the wire"
    assert [d.body for d in net.delivered["P5"]] == [b"one"]
    echoes = net.cores["P3"].receivers["P5"]
    assert echoes.received.floor >= 1, "P5's echo of message 1 reached P3"
    echo_seq = 1
    assert echo_seq not in echoes.released, "held: P3's copies of message 1 are unreceived"
    net.run(0.03)  # the neighbours' delayed acks come; message 2 is not resent yet
    assert [d.body for d in net.delivered["P5"]] == [b"one"]
    assert echo_seq in echoes.released


@pytest.mark.parametrize(
    ("mode", "delivered"),
    [(ChannelMode.UNORDERED, [1, 3]), (ChannelMode.FIFO, [1, 2, 3])],
)
def test_a_run_that_is_not_all_new_and_next_is_taken_one_by_one(
    mode: ChannelMode, delivered: list[int]
) -> None:
    """P2 already has message 2 of an origin; a frame then brings messages 1-3.
    Unordered, 2 was delivered and is now a duplicate; fifo, it waits in
    holdback. Either way the run is refused as a whole and its messages go one
    by one: 2 is counted as a duplicate, and the others are delivered (with
    fifo, 2 comes out of holdback after 1)."""
    net = CoreNet(mesh(["P1", "P2"]), dataclasses.replace(QUIET, mode=mode))
    p2 = net.cores["P2"]

    def data(seq: int, oseqs: list[int]) -> Data:
        # Origin P9 is no member, so P2 relays these nowhere.
        items = tuple(
            Item(seq + i, MulticastMeta("P9", 1, o, ts=o, sf=0), f"m{o}".encode())
            for i, o in enumerate(oseqs)
        )
        return Data("P1", "P2", 1, p2.inc, items)

    first = p2.receive(data(1, [2]), 0.0)
    assert [d.oseq for d in first.deliveries] == ([2] if mode is ChannelMode.UNORDERED else [])
    out = p2.receive(data(2, [1, 2, 3]), 0.0)
    assert [d.oseq for d in out.deliveries] == delivered
    assert p2.flood.stats.runs == 0
    assert p2.flood.stats.duplicates == 1
