"""Diagram model: receipts joined to sends, vector clocks and happened-before levels."""

from __future__ import annotations

from typing import Any

from zmqcast.viz.clocks import causal_order
from zmqcast.viz.model import Flag, MessageKind, RunModel, build_model


def ev(node: str, kind: str, time: float, inc: int = 1, **fields: Any) -> dict[str, Any]:
    return {"node": node, "inc": inc, "kind": kind, "lamport": 0, "time": time, **fields}


def frm(node: str) -> dict[str, Any]:
    """The ``from`` field, which is a keyword in Python."""
    return {"from": node}


def links(out: list[str], ins: list[str]) -> dict[str, Any]:
    """A ``start`` event's ``out`` and ``in`` fields."""
    return {"out": out, "in": ins}


def mc(origin: str, seq: int = 1, epoch: int = 1) -> dict[str, Any]:
    return {"origin": origin, "oepoch": epoch, "oseq": seq}


def clocks(model: RunModel) -> list[dict[str, int]]:
    """Every event's vector clock by host name, in event order."""
    lanes = model.lanes
    return [{lanes[k].host: v for k, v in e.vc.items()} for e in model.events]


def test_multicast_copies_and_relays_join_their_sends() -> None:
    m = mc("P1")
    model = build_model(
        [
            ev("P1", "start", 0.0, **links(["P2", "P3"], ["P2", "P3"])),
            ev("P1", "multicast", 1.0, **m, size=2),
            ev("P2", "start", 0.0),
            ev("P2", "deliver", 2.0, **m, **frm("P1"), ch="P1>P2", cseq=1),
            ev("P3", "start", 0.0),
            ev("P3", "deliver", 3.0, **m, **frm("P2"), ch="P2>P3", cseq=1),
            ev("P3", "duplicate", 4.0, **m, **frm("P1")),
        ]
    )
    order = causal_order(model)
    assert sorted(order) == list(range(7))
    arrows = {(x.kind, x.src, x.dst, x.send, x.recv) for x in model.messages}
    assert arrows == {
        (MessageKind.MULTICAST, "P1", "P2", 1, 3),
        (MessageKind.RELAY, "P2", "P3", 3, 5),
        (MessageKind.MULTICAST, "P1", "P3", 1, 6),
    }
    dup = next(x for x in model.messages if x.recv == 6)
    assert Flag.DUPLICATE in dup.flags
    assert clocks(model) == [
        {"P1": 1},
        {"P1": 2},
        {"P2": 1},
        {"P1": 2, "P2": 2},
        {"P3": 1},
        {"P1": 2, "P2": 2, "P3": 2},
        {"P1": 2, "P2": 2, "P3": 3},
    ]
    # Every arrow points down: its receipt is on a later level than its send.
    assert all(
        model.events[x.send or 0].level < model.events[x.recv or 0].level for x in model.messages
    )


def test_a_held_copy_arrives_at_held_not_at_its_later_delivery() -> None:
    m1, m2 = mc("P1", 1), mc("P1", 2)
    model = build_model(
        [
            ev("P1", "multicast", 1.0, **m1),
            ev("P1", "multicast", 1.1, **m2),
            ev("P2", "held", 2.0, **m2, **frm("P1")),
            ev("P2", "deliver", 3.0, **m1, **frm("P1"), ch="P1>P2", cseq=1),
            ev("P2", "deliver", 3.0, **m2, **frm("P1"), ch="P1>P2", cseq=2),
        ]
    )
    causal_order(model)
    assert {(x.ident, x.recv) for x in model.messages} == {("P1:1:1", 3), ("P1:1:2", 2)}


def test_app_messages_join_by_sender_incarnation_link_and_number() -> None:
    model = build_model(
        [
            ev("P1", "app_send", 1.0, dst="P2", n=1, amount=5),
            ev("P1", "app_send", 1.5, dst="P2", n=2, amount=7),
            ev("P2", "app_recv", 2.0, **frm("P1"), finc=1, n=2, ch="P1>P2", cseq=2),
            ev("P2", "app_recv", 2.5, **frm("P1"), finc=1, n=1, ch="P1>P2", cseq=1),
            ev("P2", "app_dup", 2.6, **frm("P1"), finc=1, n=1),
        ]
    )
    causal_order(model)
    joined = {(x.ident, x.send, x.recv, Flag.DUPLICATE in x.flags) for x in model.messages}
    assert joined == {
        ("P1#1>P2:1", 0, 3, False),
        ("P1#1>P2:2", 1, 2, False),
        ("P1#1>P2:1", 0, 4, True),
    }
    assert clocks(model)[2] == {"P1": 2, "P2": 1}  # n=2 was sent after n=1


def test_an_unreceived_message_has_no_receipt() -> None:
    model = build_model([ev("P1", "app_send", 1.0, dst="P2", n=1), ev("P2", "start", 0.5)])
    causal_order(model)
    (msg,) = model.messages
    assert msg.recv is None
    assert Flag.UNRECEIVED in msg.flags


def test_a_restarted_incarnation_is_a_new_host_that_inherits_its_predecessor() -> None:
    model = build_model(
        [
            ev("P1", "multicast", 1.0, **mc("P1")),
            ev("P2", "start", 0.0),
            ev("P2", "deliver", 2.0, **mc("P1"), **frm("P1"), ch="P1>P2", cseq=1),
            ev("P2", "crash", 2.5),
            ev("P2", "start", 3.0, inc=2),
            ev("P2", "deliver", 3.5, inc=2, **mc("P1"), **frm("P1"), ch="P1>P2", cseq=1),
            ev("P1", "replay", 3.2, peer="P2", count=1),
        ]
    )
    causal_order(model)
    hosts = [lane.host for lane in model.lanes]
    assert hosts == ["P1", "P2#1", "P2#2"]
    assert model.lanes[1].crashed
    assert not model.lanes[2].crashed
    # Events are numbered lane by lane: P1 (multicast, replay), P2#1, P2#2.
    assert [e.kind for e in model.events] == [
        "multicast",
        "replay",
        "start",
        "deliver",
        "crash",
        "start",
        "deliver",
    ]
    assert clocks(model)[5] == {"P1": 1, "P2#1": 3, "P2#2": 1}
    # The copy the new incarnation got was the replay, which came after P2#2 began.
    resent = next(x for x in model.messages if x.recv == 6)
    assert resent.send == 1
    assert Flag.REPLAYED in resent.flags
    assert clocks(model)[6] == {"P1": 2, "P2#1": 3, "P2#2": 2}


def test_a_receipt_logged_before_its_send_is_left_out_of_the_clocks() -> None:
    # P2's clock runs behind: its multicast looks later than P1's receipt of it,
    # and P1 sent P2 an app message that P2 got before multicasting. No causal
    # order has both; the multicast copy, the later by the clock, is dropped.
    m = mc("P2")
    model = build_model(
        [
            ev("P1", "deliver", 1.0, **m, **frm("P2"), ch="P2>P1", cseq=1),
            ev("P1", "app_send", 1.5, dst="P2", n=1),
            ev("P2", "app_recv", 1.6, **frm("P1"), finc=1, n=1),
            ev("P2", "multicast", 2.0, **m),
        ]
    )
    order = causal_order(model)
    assert sorted(order) == [0, 1, 2, 3]
    copy = next(x for x in model.messages if x.kind == MessageKind.MULTICAST)
    app = next(x for x in model.messages if x.kind == MessageKind.APP)
    assert Flag.ACAUSAL in copy.flags
    assert not copy.causal
    assert app.causal
    assert clocks(model)[2] == {"P1": 2, "P2": 1}
