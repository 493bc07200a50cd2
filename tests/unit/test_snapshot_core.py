"""The snapshot layer's pieces: lanes on the wire, routes, variants, ids, the bank."""

from __future__ import annotations

import random

import orjson
import pytest

from zmqcast.core.bank import Bank, transfer_amount, transfer_body
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.frames import CONTROL_LANE, Ack, Data, Heartbeat, Item
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import Variant, parse_sid
from zmqcast.sim.runner import SimParams, simulate
from zmqcast.topology import build, next_hops
from zmqcast.wire import FrameError, decode, encode


@pytest.mark.parametrize(
    "frame",
    [
        Data("P1", "P2", 3, 4, (Item(1, {"t": "sc", "k": "fin", "sid": "P1-3-1"}, b""),), 1),
        Heartbeat("P1", "P2", 3, 0, 1, CONTROL_LANE),
        Ack("P2", "P1", 4, 3, ack=1, rel=1, lane=CONTROL_LANE),
    ],
)
def test_control_lane_survives_the_wire(frame: Data | Heartbeat | Ack) -> None:
    parts = encode(frame)
    assert orjson.loads(parts[0])["ln"] == 1
    assert decode(parts) == frame


def test_data_lane_is_not_written_and_bad_lanes_are_refused() -> None:
    parts = encode(Heartbeat("P1", "P2", 3, 4, 1))
    header = orjson.loads(parts[0])
    assert "ln" not in header
    for bad in (2, -1, "1", None):
        with pytest.raises(FrameError) as info:
            decode([orjson.dumps({**header, "ln": bad})])
        assert info.value.reason == "field:ln"


def test_routes_follow_links_both_ways() -> None:
    ring = build("ring", ["P1", "P2", "P3", "P4", "P5"])
    hops = next_hops(ring, "P1")
    # P1 -> P2 only, but control lanes run against the link too: P5 is one hop away.
    assert hops == {"P2": "P2", "P3": "P2", "P5": "P5", "P4": "P5"}
    squares = build("squares", [f"P{i}" for i in range(1, 9)])
    assert set(next_hops(squares, "P1")) == {f"P{i}" for i in range(2, 9)}


def test_variants_refuse_channels_they_cannot_handle() -> None:
    assert Variant.CHANDY_LAMPORT.supports(ChannelMode.FIFO)
    assert not Variant.CHANDY_LAMPORT.supports(ChannelMode.UNORDERED)
    assert not Variant.LAI_YANG.supports(ChannelMode.LOSSY)
    assert all(Variant.SENDER_LOG.supports(m) for m in ChannelMode)
    core = NodeCore("P1", 1, ["P2"], ["P2"], CoreConfig(mode=ChannelMode.UNORDERED), 0.0)
    with pytest.raises(ValueError, match="does not work over unordered"):
        core.snapshot(Variant.CHANDY_LAMPORT, 0.0)
    with pytest.raises(ValueError, match="keep sender logs"):
        core.snapshot(Variant.SENDER_LOG, 0.0)


def test_snapshot_ids_parse_and_malformed_ones_do_not() -> None:
    assert parse_sid("P1-1795-3") == ("P1", 1795, 3)
    assert parse_sid("node-with-dashes-12-1") == ("node-with-dashes", 12, 1)
    for bad in ("P1", "P1-x-1", "-1-2", "P1-1-", ""):
        assert parse_sid(bad) is None


def test_bank_moves_money_without_making_any() -> None:
    bank = Bank(["P2", "P3"], random.Random(1), balance=100)
    sent = 0
    while (transfer := bank.next_transfer(lambda _dst: True)) is not None:
        amount = transfer_amount(transfer[1])
        assert amount is not None and 1 <= amount <= 50
        sent += amount
    assert bank.balance == 0 and sent == 100
    assert bank.next_transfer(lambda _dst: True) is None
    bank.on_message("P2", transfer_body(7))
    bank.on_message("P2", b"not json")
    bank.on_message("P2", orjson.dumps({"amount": -5}))
    assert bank.balance == 7 and bank.rejected == 2
    assert Bank(["P2"], random.Random(1)).next_transfer(lambda _dst: False) is None


@pytest.mark.parametrize(
    ("channel", "variant"),
    [("unordered", "lai-yang"), ("fifo", "chandy-lamport"), ("lossy", "sender-log")],
)
def test_snapshots_complete_when_nobody_sends_anything(channel: str, variant: str) -> None:
    """Lai-Yang's count message turns neighbours red even without app traffic."""
    params = SimParams(
        nodes=5,
        messages=0,
        topology="ring",
        channel=ChannelMode(channel),
        workload="bank",
        snapshots=3,
        variant=variant,
        seed=1,
    )
    result = simulate(params)
    assert result.ok
    assert [v.complete for v in result.snapshots] == [True, True, True]
    cuts = [e for e in result.events if e["kind"] == "snap_cut"]
    assert len(cuts) == 3 * 5
    assert {e["state"]["balance"] for e in cuts} == {1000}
