"""Scripted regressions: each drives node cores frame by frame and asserts exact state.

Every test here pins down one cause of a failure that long seeded sweeps or
real clusters found. A seed alone would stop reproducing the cause as soon as
anything else changed; these scenarios keep reproducing it.
"""

from __future__ import annotations

from typing import Any

from tests.unit.test_channel import Recorder
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.frames import Ack, Data, Heartbeat, Item, MulticastMeta
from zmqcast.core.node import NodeCore
from zmqcast.core.range_report import RangeReport
from zmqcast.core.receiver import ReceiveChannel
from zmqcast.core.sender import SendChannel
from zmqcast.core.seqset import SeqSet


def _mc(origin: str, oepoch: int, oseq: int, ts: int, sf: int = 0) -> MulticastMeta:
    return MulticastMeta(origin, oepoch, oseq, ts, sf)


def test_timed_out_holdback_delivery_ticks_past_an_app_send_before_it() -> None:
    """A delivery released by the holdback timer is stamped above the bank
    transfer sent just before it (the clock, not the multicast layer, remembers
    the last stamped event)."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, holdback_timeout=3.0)
    p2 = NodeCore("P2", 2, ["P1"], ["P1"], cfg, 0.0, restarted=True)
    p2.start(0.0)
    # A relay hands P2 message 2 of P1 before message 1, which P2's predecessor
    # may have delivered: it is held back.
    held = p2.receive(Data("P1", "P2", 1, 2, (Item(1, _mc("P1", 1, 2, ts=5), b"m2"),)), 0.1)
    assert [e["kind"] for e in held.events if e["kind"] in ("held", "deliver")] == ["held"]
    held_at = next(e["lamport"] for e in held.events if e["kind"] == "held")
    sent = p2.send_app("P1", b"transfer", 0.2)
    send_at = next(e["lamport"] for e in sent.events if e["kind"] == "app_send")
    assert send_at == held_at + 1
    released = p2.tick(3.2)
    delivers = [e for e in released.events if e["kind"] == "deliver"]
    assert [(e["origin"], e["oseq"]) for e in delivers] == [("P1", 2)]
    assert delivers[0]["lamport"] == send_at + 1
    assert [d.lamport for d in released.deliveries] == [send_at + 1]


def _connected_pair(cfg: CoreConfig) -> tuple[SendChannel, ReceiveChannel, Recorder]:
    out = Recorder()
    sender = SendChannel("A", "B", 1, cfg, 0.0)
    receiver = ReceiveChannel("A", "B", 1, cfg)
    sender.tick(0.0, out)
    (hb,) = out.take()
    assert isinstance(hb, Heartbeat)
    receiver.on_heartbeat(hb, 0.0, out)
    receiver.flush(out)
    (ack,) = out.take()
    assert isinstance(ack, Ack)
    sender.on_ack(ack, 0.0, out)
    assert sender.connected
    return sender, receiver, out


def test_every_release_is_reported_even_when_they_exceed_one_ack() -> None:
    """Releases spread over more ranges than an ack carries all reach the sender.

    Relays release out of order under loss. An ack that carried only the lowest
    ``max_ranges`` released ranges left the others unreported for ever, and
    custody waits closed into a cycle round a ring (every node stopped).
    """
    cfg = CoreConfig(mode=ChannelMode.UNORDERED, max_ranges=4, ack_delay=0.005)
    sender, receiver, out = _connected_pair(cfg)
    for n in range(1, 41):
        sender.send({"t": "mc", "n": n}, b"x")
    sender.flush(0.0, out)
    now = 0.0
    for frame in out.take():
        assert isinstance(frame, Data)
        receiver.on_data(frame, now, out)
    receiver.flush(out)
    for frame in out.take():  # the receipts
        assert isinstance(frame, Ack)
        sender.on_ack(frame, now, out)
    assert sender.unreleased == 40
    # Item 1 stays in custody (the release floor stays at 0); the odd items
    # 3..39 are released: 19 separate ranges, against 4 per ack.
    odd = list(range(3, 40, 2))
    for seq in odd:
        receiver.release(1, seq, now)
    reported: list[tuple[int, int]] = []
    acks = 0
    while True:
        now = round(now + cfg.ack_delay, 6)
        receiver.tick(now, out)
        frames = out.take()
        if not frames:
            break
        (ack,) = frames
        assert isinstance(ack, Ack)
        assert ack.rel == 0 and len(ack.srel) <= 4
        reported.extend(ack.srel)
        sender.on_ack(ack, now, out)
        acks += 1
    # One pass round the 19 ranges, 4 at a time, then quiet until news.
    assert acks == 5
    assert sorted({lo for lo, _ in reported}) == odd
    assert sender.unreleased == 40 - len(odd)


def test_fresh_releases_ride_the_next_ack_before_older_ones() -> None:
    cfg = CoreConfig(mode=ChannelMode.UNORDERED, max_ranges=2)
    values = SeqSet()
    report = RangeReport()
    for v in (3, 5, 7, 9, 11):
        values.add(v)
    assert report.pick(values, 2) == ((3, 3), (5, 5))
    assert report.behind
    values.add(13)
    report.note(13)
    # 13 is news and goes first; the rotation goes on from 7.
    assert report.pick(values, cfg.max_ranges) == ((7, 7), (13, 13))
    assert report.pick(values, 2) == ((9, 9), (11, 11))
    assert report.behind
    assert report.pick(values, 2) == ((13, 13),)
    assert not report.behind  # the pass is over: no follow-up ack is asked for


def _p3_copy(cseq: int, oseq: int, sf: int, dinc: int = 1) -> Data:
    """Copy ``cseq`` on channel P2>P3 of P1's multicast ``oseq``, carrying floor ``sf``."""
    return Data("P2", "P3", 1, dinc, (Item(cseq, _mc("P1", 1, oseq, ts=oseq, sf=sf), b"m"),))


def _delivered(out: Any) -> list[int]:
    return [d.oseq for d in out.deliveries]


def test_a_copy_the_stable_floor_passed_is_still_delivered_unordered() -> None:
    """The floor is a hint, not proof of receipt.

    After a relay restarts, its new incarnation releases the origin's resent
    copy without waiting for the branch its predecessor fed, so the origin's
    floor can pass a message still travelling down that branch. A node that
    then got the copy was dropping it as a duplicate: P7 never delivered
    P3:1:1 in ``zmqcast sim --nodes 7 --messages 101 --loss 0.3 --dup 0.1
    --reorder 1 --topology line --channel unordered --partition --crash``.
    """
    cfg = CoreConfig(mode=ChannelMode.UNORDERED)
    p3 = NodeCore("P3", 1, ["P2"], ["P2"], cfg, 0.0)
    p3.start(0.0)
    # Message 2 arrives first and says the floor has passed message 1.
    assert _delivered(p3.receive(_p3_copy(1, 2, sf=1), 0.1)) == [2]
    # Message 1, still on its way down an orphaned branch, arrives later.
    late = p3.receive(_p3_copy(2, 1, sf=0), 0.2)
    assert _delivered(late) == [1]
    assert [e["kind"] for e in late.events if e["kind"] in ("deliver", "duplicate")] == ["deliver"]
    # A real duplicate is still a duplicate.
    again = p3.receive(_p3_copy(3, 1, sf=0), 0.3)
    assert _delivered(again) == []
    assert p3.flood.dedup.forgotten == 0


def test_a_node_that_never_restarted_holds_back_for_a_gap_the_floor_passed() -> None:
    """FIFO order: the gap is waited for, not skipped, then filled in order."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, holdback_timeout=3.0)
    p3 = NodeCore("P3", 1, ["P2"], ["P2"], cfg, 0.0)
    p3.start(0.0)
    held = p3.receive(_p3_copy(1, 2, sf=1), 0.1)
    assert _delivered(held) == []
    assert [e["kind"] for e in held.events if e["kind"] in ("held", "skip")] == ["held"]
    assert p3.next_deadline() <= 0.1 + cfg.holdback_timeout
    filled = p3.receive(_p3_copy(2, 1, sf=0), 1.0)
    assert _delivered(filled) == [1, 2]
    # Nothing is left waiting, so no holdback gap is left to time out.
    assert p3.flood.sizes()["holdback"] == 0


def test_a_gap_the_floor_passed_is_given_up_after_the_holdback_timeout() -> None:
    """If the copy never comes (two crashes lost it), delivery moves on."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, holdback_timeout=3.0)
    p3 = NodeCore("P3", 1, ["P2"], ["P2"], cfg, 0.0)
    p3.start(0.0)
    p3.receive(_p3_copy(1, 2, sf=1), 0.1)
    assert _delivered(p3.tick(3.0)) == []
    skipped = p3.tick(3.2)
    assert _delivered(skipped) == [2]
    skips = [e for e in skipped.events if e["kind"] == "skip"]
    assert [(e["first"], e["last"], e["count"]) for e in skips] == [(1, 1, 1)]


def test_a_gap_above_the_floor_is_never_given_up_by_a_node_that_never_restarted() -> None:
    """Above the floor the message is in some node's custody: it will come."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, holdback_timeout=3.0)
    p3 = NodeCore("P3", 1, ["P2"], ["P2"], cfg, 0.0)
    p3.start(0.0)
    p3.receive(_p3_copy(1, 2, sf=0), 0.1)
    assert p3.flood.next_deadline() == float("inf")
    assert _delivered(p3.tick(60.0)) == []


def _restarted_p3(cfg: CoreConfig) -> NodeCore:
    p3 = NodeCore("P3", 2, ["P2"], ["P2"], cfg, 0.0, restarted=True)
    p3.start(0.0)
    return p3


def test_a_restarted_node_does_not_skip_at_once_what_the_floor_passed() -> None:
    """The sweep's fifo failures (seeds 961697408 and 2022367053, squares, tree
    relays, crashes): a restarted node got a replayed copy whose floor had
    passed messages multicast after its crash, skipped them at once, and then
    delivered them late, after the later one, when its in-neighbour's custody
    resent them in the same batch (or 1.3 ms later). The floor can pass a
    copy still on its way (see "Stable floor"): a restarted node now gives
    such a gap ``rto_max`` to fill."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, rto_max=2.0, holdback_timeout=3.0)
    p3 = _restarted_p3(cfg)
    held = p3.receive(_p3_copy(1, 9, sf=8, dinc=2), 0.1)
    assert _delivered(held) == []
    assert not [e for e in held.events if e["kind"] == "skip"]
    assert p3.next_deadline() <= 0.1 + cfg.rto_max
    frames = [_p3_copy(1 + n, n, sf=n - 1, dinc=2) for n in range(1, 9)]
    filled = p3.receive_many(frames, 0.101)
    assert _delivered(filled) == list(range(1, 10))  # in order, nothing late
    assert not [e for e in filled.events if e["kind"] in ("skip", "late")]


def test_a_restarted_node_gives_up_what_the_floor_passed_after_rto_max() -> None:
    """What its predecessor delivered before the crash nobody sends again: the
    gap below the floor goes after ``rto_max``, the rest after the timeout."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, rto_max=2.0, holdback_timeout=3.0)
    p3 = _restarted_p3(cfg)
    p3.receive(_p3_copy(1, 9, sf=4, dinc=2), 0.1)
    assert _delivered(p3.tick(2.0)) == []
    first = p3.tick(2.1)
    assert _delivered(first) == []  # 5..8 lie above the floor: still awaited
    skips = [(e["first"], e["last"], e["count"]) for e in first.events if e["kind"] == "skip"]
    assert skips == [(1, 4, 4)]
    assert _delivered(p3.tick(2.1 + 2.9)) == []
    rest = p3.tick(2.1 + 3.0)
    assert _delivered(rest) == [9]
    skips = [(e["first"], e["last"], e["count"]) for e in rest.events if e["kind"] == "skip"]
    assert skips == [(5, 8, 4)]


def test_the_grace_counts_from_when_the_floor_passed_the_gap_not_from_its_opening() -> None:
    """Found in review: a gap open since t=0.1 that the floor passed only at
    t=2.5 was skipped at once at 2.5 (its rto_max counted from the opening),
    and the copies the floor had passed early came 1 ms later, late."""
    cfg = CoreConfig(mode=ChannelMode.FIFO, rto_max=2.0, holdback_timeout=3.0)
    p3 = _restarted_p3(cfg)
    p3.receive(_p3_copy(1, 2, sf=0, dinc=2), 0.1)  # the gap at 1 opens, no floor passed
    p3.receive(_p3_copy(2, 5, sf=4, dinc=2), 2.5)  # now the floor passes 1..4
    assert _delivered(p3.tick(2.5)) == []
    filled = p3.receive_many([_p3_copy(3, 3, sf=2, dinc=2), _p3_copy(4, 4, sf=3, dinc=2)], 2.501)
    assert _delivered(filled) == []  # still waiting at 1
    # The gap has been open holdback_timeout at 3.1: 1 is given up, the rest in order.
    assert _delivered(p3.tick(3.0)) == []
    late = p3.tick(3.1)
    assert _delivered(late) == [2, 3, 4, 5]
    assert not [e for e in late.events if e["kind"] == "late"]
