"""Tests for one directed channel: :class:`SendChannel` wired to :class:`ReceiveChannel`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from zmqcast.core.config import FRAME_HEADROOM, ChannelMode, CoreConfig
from zmqcast.core.frames import Ack, Data, Frame, Heartbeat, Item
from zmqcast.core.receiver import ReceiveChannel
from zmqcast.core.sender import SendChannel

QUIET: dict[str, Any] = {"heartbeat_interval": 100.0, "suspect_after": 200.0}


class Recorder:
    """Collects what a channel endpoint asks to send and to note."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    def frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def event(self, kind: str, fields: dict[str, Any]) -> None:
        self.events.append((kind, fields))

    def take(self) -> list[Frame]:
        out, self.frames = self.frames, []
        return out

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


def only(frames: list[Frame], kind: type[Any]) -> Any:
    assert len(frames) == 1 and isinstance(frames[0], kind), frames
    return frames[0]


def handshake(s: SendChannel, r: ReceiveChannel, sr: Recorder, rr: Recorder, now: float) -> None:
    s.tick(now, sr)
    hb = only(sr.take(), Heartbeat)
    assert hb.dinc == 0
    r.on_heartbeat(hb, now, rr)
    r.flush(rr)
    s.on_ack(only(rr.take(), Ack), now, sr)
    assert s.connected and s.peer_inc == r.inc


def pair(
    mode: ChannelMode = ChannelMode.FIFO, **kw: Any
) -> tuple[SendChannel, ReceiveChannel, Recorder, Recorder]:
    cfg = CoreConfig(mode=mode, **{**QUIET, **kw})
    s, r = SendChannel("A", "B", 1, cfg, 0.0), ReceiveChannel("A", "B", 1, cfg)
    sr, rr = Recorder(), Recorder()
    handshake(s, r, sr, rr, 0.0)
    return s, r, sr, rr


def send(s: SendChannel, sr: Recorder, n: int, now: float = 0.0) -> list[Data]:
    for i in range(n):
        s.send({"i": i}, f"m{i}".encode(), tag=i)
    s.flush(now, sr)
    frames = sr.take()
    assert all(isinstance(f, Data) for f in frames)
    return [f for f in frames if isinstance(f, Data)]


def seqs(items: list[Item]) -> list[int]:
    return [i.seq for i in items]


def ack_of(r: ReceiveChannel, rr: Recorder, now: float) -> Ack:
    r.tick(now, rr)
    ack: Ack = only(rr.take(), Ack)
    return ack


def test_handshake_then_data_flows() -> None:
    cfg = CoreConfig(**QUIET)
    s, r = SendChannel("A", "B", 1, cfg, 0.0), ReceiveChannel("A", "B", 1, cfg)
    sr, rr = Recorder(), Recorder()
    s.send({}, b"early", tag="x")
    s.flush(0.0, sr)
    assert sr.frames == [] and not s.connected
    s.tick(0.0, sr)
    hb = only(sr.take(), Heartbeat)
    assert (hb.inc, hb.dinc, hb.next) == (1, 0, 2)
    r.on_heartbeat(hb, 0.0, rr)
    r.flush(rr)
    ack = only(rr.take(), Ack)
    assert (ack.src, ack.dst, ack.inc, ack.dinc) == ("B", "A", 1, 1)
    s.on_ack(ack, 0.0, sr)
    data = only(sr.take(), Data)
    assert data.dinc == 1
    assert [i.body for i in r.on_data(data, 0.0, rr)] == [b"early"]


def test_fifo_delivers_in_order_despite_reordering() -> None:
    s, r, sr, rr = pair(max_batch=1)
    frames = send(s, sr, 5)
    got: list[Item] = []
    for idx in (2, 0, 4, 1, 3):
        got += r.on_data(frames[idx], 0.0, rr)
    assert seqs(got) == [1, 2, 3, 4, 5]
    assert r.buffered == 0


def test_fifo_reorder_buffer_bounded_by_reorder_limit() -> None:
    s, r, sr, rr = pair(max_batch=1, window=2, reorder_limit=4)
    frames = send(s, sr, 6)
    for f in frames[1:]:
        assert r.on_data(f, 0.0, rr) == []
    assert r.buffered == 3  # seqs 2..4; 5 and 6 lie beyond floor + reorder_limit
    assert r.stats.beyond_window == 2
    assert seqs(r.on_data(frames[0], 0.0, rr)) == [1, 2, 3, 4]
    assert seqs(r.on_data(frames[4], 0.0, rr) + r.on_data(frames[5], 0.0, rr)) == [5, 6]


@pytest.mark.parametrize("mode", list(ChannelMode))
def test_duplicates_dropped_in_every_mode(mode: ChannelMode) -> None:
    s, r, sr, rr = pair(mode, max_batch=1)
    frames = send(s, sr, 3)
    first = [r.on_data(f, 0.0, rr) for f in frames]
    again = [r.on_data(f, 0.0, rr) for f in frames]
    assert sum(len(x) for x in first) == 3
    assert again == [[], [], []]
    assert r.stats.duplicates == 3


def test_gap_triggers_nack_and_immediate_retransmit() -> None:
    s, r, sr, rr = pair(max_batch=1)
    frames = send(s, sr, 3)
    r.on_data(frames[0], 0.0, rr)
    r.on_data(frames[2], 0.0, rr)
    r.flush(rr)
    ack = only(rr.take(), Ack)
    assert ack.nack == ((2, 2),)
    assert (ack.ack, ack.sack) == (1, ((3, 3),))
    assert "gap" in rr.kinds()
    s.on_ack(ack, 0.15, sr)  # past nack_interval since the first send
    resent = only(sr.take(), Data)
    assert seqs(list(resent.items)) == [2]
    assert "retransmit" in sr.kinds()
    assert seqs(r.on_data(resent, 0.15, rr)) == [2, 3]


def test_nack_within_holdoff_does_not_resend() -> None:
    s, r, sr, rr = pair(max_batch=1)
    frames = send(s, sr, 2)
    r.on_data(frames[1], 0.0, rr)
    r.flush(rr)
    s.on_ack(only(rr.take(), Ack), 0.01, sr)
    assert sr.frames == []


def test_timer_retransmission_backs_off_exponentially() -> None:
    s, _r, sr, _rr = pair(rto=0.25, rto_max=1.0)
    send(s, sr, 1, now=0.0)
    times: list[float] = []
    for _ in range(5):
        due = s.next_deadline()
        s.tick(due - 0.001, sr)
        assert sr.take() == []
        s.tick(due, sr)
        assert seqs(list(only(sr.take(), Data).items)) == [1]
        times.append(due)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert s.stats.retransmits == 5


def test_backpressure_until_released() -> None:
    s, r, sr, rr = pair(window=3)
    frames = send(s, sr, 3)
    assert not s.has_room() and s.unreleased == 3
    delivered = [i for f in frames for i in r.on_data(f, 0.0, rr)]
    out = s.on_ack(ack_of(r, rr, 1.0), 1.0, sr)
    assert out.released == [] and s.unreleased == 3 and not s.has_room()
    for item in delivered:
        r.release(1, item.seq, 1.0)
    ack = ack_of(r, rr, 2.0)
    assert ack.rel == 3
    out = s.on_ack(ack, 2.0, sr)
    assert out.released == [(0, 0, 1), (1, 0, 1), (2, 0, 1)]  # (tag, index, count)
    assert s.unreleased == 0 and s.has_room()
    s.tick(50.0, sr)
    assert sr.frames == []  # nothing left to retransmit


def test_receiver_restart_renumbers_unreleased() -> None:
    s, r1, sr, rr = pair(max_batch=8)
    data = send(s, sr, 3)[0]
    r1.on_data(data, 0.0, rr)
    r1.release(1, 1, 0.0)
    s.on_ack(ack_of(r1, rr, 0.1), 0.1, sr)
    assert s.unreleased == 2
    r2 = ReceiveChannel("A", "B", 2, s.cfg)
    assert r2.on_data(data, 0.5, rr) == []  # addressed to the old incarnation
    r2.flush(rr)
    teach = only(rr.take(), Ack)
    assert (teach.inc, teach.dinc) == (2, 1)
    out = s.on_ack(teach, 0.5, sr)
    assert out.new_peer_epoch and out.peer_restarted and s.peer_inc == 2
    assert ("peer_epoch", {"ch": "A>B", "peer": "B", "old": 1, "new": 2, "resent": 2}) in (
        sr.events
    )
    resent = only(sr.take(), Data)
    assert resent.dinc == 2
    got = r2.on_data(resent, 0.5, rr)
    assert [(i.seq, i.body) for i in got] == [(1, b"m1"), (2, b"m2")]


def test_sender_restart_resets_receiver_and_drops_stale_frames() -> None:
    s1, r, sr, rr = pair()
    old = send(s1, sr, 2)[0]
    assert len(r.on_data(old, 0.0, rr)) == 2
    s2 = SendChannel("A", "B", 2, s1.cfg, 1.0)
    handshake(s2, r, sr, rr, 1.0)
    assert r.peer_inc == 2 and r.stats.peer_restarts == 1
    assert "peer_epoch" in rr.kinds()
    assert r.on_data(old, 1.0, rr) == []
    assert r.stats.stale_frames >= 1
    fresh = send(s2, sr, 1, now=1.0)[0]
    assert [(i.seq, i.body) for i in r.on_data(fresh, 1.0, rr)] == [(1, b"m0")]


def test_lossy_gap_declared_lost_after_timeout() -> None:
    s, r, sr, rr = pair(ChannelMode.LOSSY, max_batch=1, loss_timeout=0.5)
    frames = send(s, sr, 3)
    assert s.unreleased == 0  # nothing kept on lossy channels
    assert seqs(r.on_data(frames[0], 0.0, rr) + r.on_data(frames[2], 0.0, rr)) == [1, 3]
    r.tick(0.49, rr)
    assert "loss" not in rr.kinds()
    r.tick(0.5, rr)
    losses = [f for k, f in rr.events if k == "loss"]
    assert len(losses) == 1 and losses[0]["count"] == 1
    assert r.stats.lost == 1
    assert r.on_data(frames[1], 0.6, rr) == []  # too late: given up


def test_lossy_tail_loss_revealed_by_heartbeat() -> None:
    s, r, sr, rr = pair(ChannelMode.LOSSY, loss_timeout=0.5, heartbeat_interval=1.0)
    r.on_data(send(s, sr, 1)[0], 0.0, rr)
    send(s, sr, 2)  # both items vanish
    s.tick(2.0, sr)
    hb = only(sr.take(), Heartbeat)
    assert hb.next == 4
    r.on_heartbeat(hb, 2.0, rr)
    r.tick(2.5, rr)
    assert [f["count"] for k, f in rr.events if k == "loss"] == [2]


def test_unordered_delivers_on_arrival_without_duplicates() -> None:
    s, r, sr, rr = pair(ChannelMode.UNORDERED, max_batch=1)
    frames = send(s, sr, 4)
    got: list[Item] = []
    for idx in (2, 0, 2, 3, 0, 1):
        got += r.on_data(frames[idx], 0.0, rr)
    assert seqs(got) == [3, 1, 4, 2]


def test_hostile_acks_ignored_cheaply() -> None:
    s, _r, sr, _rr = pair()
    send(s, sr, 2)
    huge = 10**15
    start = time.perf_counter()
    s.on_ack(Ack("B", "A", 1, 1, ack=huge, rel=0), 1.0, sr)
    s.on_ack(Ack("B", "A", 1, 1, ack=1, rel=2), 1.0, sr)
    assert s.stats.bad_acks == 2
    far = ((3, huge),)
    out = s.on_ack(Ack("B", "A", 1, 1, 0, 0, sack=far, srel=far, nack=far), 1.0, sr)
    out2 = s.on_ack(Ack("B", "A", 1, 1, 0, 0, sack=((1, huge),), nack=((1, huge),)), 1.0, sr)
    assert time.perf_counter() - start < 1.0
    assert out.released == [] and out2.released == []
    assert s.unreleased == 2
    assert sr.frames == []  # sack marked both received, so the nack resends nothing
    s.on_ack(Ack("B", "A", 1, 7, 0, 0), 1.0, sr)
    assert s.stats.stale_acks == 1


def test_batches_stay_within_the_frame_byte_budget() -> None:
    """Large bodies split a batch so that no frame exceeds what receivers accept."""
    s, r, sr, rr = pair(max_frame_bytes=FRAME_HEADROOM + 1000)
    bodies = [b"a" * 400, b"b" * 400, b"c" * 400, b"d" * 1500, b"e" * 10, b"f" * 10]
    for i, body in enumerate(bodies):
        s.send({"i": i}, body)
    s.flush(0.0, sr)
    frames = [f for f in sr.take() if isinstance(f, Data)]
    # 800 bytes fit the 1000-byte budget, a third 400 does not; a body over the
    # budget travels alone (the sender never refuses an item it has queued).
    assert [[len(i.body) for i in f.items] for f in frames] == [[400, 400], [400], [1500], [10, 10]]
    got = [i.body for f in frames for i in r.on_data(f, 0.0, rr)]
    assert got == bodies
