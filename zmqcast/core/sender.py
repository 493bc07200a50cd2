"""The sending end of one directed channel: sequencing, window, retransmission.

Items move through three states. *Sent* items are retransmitted on a timer
with exponential backoff (and at once on a NACK) until the receiver reports them
*received*. Received items stay buffered until the receiver *releases* them,
which it does once it has taken full custody (see :mod:`zmqcast.core.multicast`);
only then are they freed. If the receiver turns out to be a new incarnation,
every unreleased item is renumbered from 1 into the new epoch and sent again.

On ``lossy`` channels nothing is kept once sent; items wait only for the
handshake that tells the sender its peer's incarnation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zmqcast.core.config import FRAME_HEADROOM, ChannelMode, CoreConfig
from zmqcast.core.events import EventKind, channel_name
from zmqcast.core.frames import DATA_LANE, Ack, Data, Heartbeat, Item, ItemMeta, Ranges
from zmqcast.core.recorder import Recorder

_NEVER = float("inf")


@dataclass(slots=True)
class _Entry:
    seq: int
    meta: ItemMeta
    body: bytes
    tag: Any
    want_receipt: bool = False
    receipt_reported: bool = False
    received: bool = False
    tries: int = 0
    last_tx: float = -_NEVER
    due: float = _NEVER


@dataclass(slots=True)
class AckOutcome:
    """Tags of the items an ack newly reported as received (for items that asked
    to hear of it) and as released."""

    received: list[Any]
    released: list[Any]
    new_peer_epoch: bool = False
    peer_restarted: bool = False
    """The new epoch replaces a known one (not just the first handshake)."""


@dataclass(slots=True)
class SenderStats:
    items: int = 0
    frames: int = 0
    retransmits: int = 0
    heartbeats: int = 0
    stale_acks: int = 0
    bad_acks: int = 0
    peer_restarts: int = 0


class SendChannel:
    """Sender side of channel ``src -> dst`` for the incarnation ``inc`` of ``src``."""

    def __init__(
        self,
        src: str,
        dst: str,
        inc: int,
        cfg: CoreConfig,
        now: float,
        lane: int = DATA_LANE,
        idle_heartbeats: bool = True,
    ) -> None:
        """``idle_heartbeats`` off: no heartbeat once connected (the control lane,
        whose peer liveness the data lane already watches)."""
        self.src = src
        self.dst = dst
        self.inc = inc
        self.cfg = cfg
        self.lane = lane
        self.idle_heartbeats = idle_heartbeats
        self.name = channel_name(src, dst, lane)
        self.peer_inc = 0
        self.stats = SenderStats()
        self._reliable = cfg.mode.reliable
        self._entries: dict[int, _Entry] = {}
        self._unsent: list[_Entry] = []
        self._next_seq = 1
        self._recv_cum = 0
        self._rel_cum = 0
        self._last_tx = now
        self._handshake_due = now
        self._handshake_tries = 0
        # A lower bound on the earliest retransmission due time; recomputed on tick.
        self._rtx_due = _NEVER

    # ----------------------------------------------------------------- queries
    @property
    def unreleased(self) -> int:
        """Items held: waiting for the handshake, in flight, or not yet released."""
        return len(self._entries) if self._reliable else len(self._unsent)

    def has_room(self) -> bool:
        """True while a new item from this node's own application fits the window."""
        return self.unreleased < self.cfg.window

    @property
    def connected(self) -> bool:
        """True once the peer's incarnation is known, so data can flow."""
        return self.peer_inc != 0

    def next_deadline(self) -> float:
        if not self.connected:
            return self._handshake_due
        if not self.idle_heartbeats:
            return self._rtx_due
        due = self._last_tx + self.cfg.heartbeat_interval
        return min(due, self._rtx_due)

    # ----------------------------------------------------------------- sending
    def send(self, meta: ItemMeta, body: bytes, tag: Any = None, want_receipt: bool = False) -> int:
        """Assign the next sequence number to an item and queue it.

        The caller checks :meth:`has_room` for its own messages; relays bypass the
        window because the upstream custody chain already bounds them. With
        ``want_receipt``, :meth:`on_ack` reports the item's tag once when the
        receiver first has it. Returns the sequence number.
        """
        seq = self._next_seq
        self._next_seq = seq + 1
        entry = _Entry(seq, meta, body, tag, want_receipt)
        if self._reliable:
            self._entries[seq] = entry
        self._unsent.append(entry)
        self.stats.items += 1
        return seq

    def flush(self, now: float, out: Recorder) -> None:
        """Emit data frames for every queued item, if the peer is known."""
        if not self._unsent or not self.connected:
            return
        pending = self._unsent
        self._unsent = []
        self._transmit(pending, now, out, retransmit=False)

    def _transmit(self, entries: list[_Entry], now: float, out: Recorder, retransmit: bool) -> None:
        cfg = self.cfg
        batch = cfg.max_batch
        budget = cfg.max_frame_bytes - FRAME_HEADROOM
        chunk: list[Item] = []
        size = 0
        for e in entries:
            # A frame takes at least one item; more only while the bodies fit.
            if chunk and (len(chunk) == batch or size + len(e.body) > budget):
                self._emit(chunk, out)
                chunk, size = [], 0
            chunk.append(Item(e.seq, e.meta, e.body))
            size += len(e.body)
        if chunk:
            self._emit(chunk, out)
        if self._reliable:
            for e in entries:
                e.tries += 1
                e.last_tx = now
                e.due = now + min(cfg.rto * (2 ** (e.tries - 1)), cfg.rto_max)
                self._rtx_due = min(self._rtx_due, e.due)
        self._last_tx = now
        if retransmit:
            self.stats.retransmits += len(entries)
            out.event(
                EventKind.RETRANSMIT,
                {"ch": self.name, "count": len(entries), "first": entries[0].seq},
            )

    def _emit(self, items: list[Item], out: Recorder) -> None:
        out.frame(Data(self.src, self.dst, self.inc, self.peer_inc, tuple(items), self.lane))
        self.stats.frames += 1

    # ----------------------------------------------------------------- timers
    def tick(self, now: float, out: Recorder) -> None:
        """Fire the handshake, retransmission and heartbeat timers that are due."""
        cfg = self.cfg
        if not self.connected:
            if now >= self._handshake_due:
                self._handshake_tries += 1
                backoff = min(cfg.rto * (2 ** (self._handshake_tries - 1)), cfg.rto_max)
                self._handshake_due = now + backoff
                self._heartbeat(now, out)
            return
        if now >= self._rtx_due:
            due: list[_Entry] = []
            earliest = _NEVER
            for e in self._entries.values():
                if e.received or e.tries == 0:
                    continue
                if e.due <= now:
                    due.append(e)
                elif e.due < earliest:
                    earliest = e.due
            self._rtx_due = earliest
            if due:
                self._transmit(due, now, out, retransmit=True)
        if self.idle_heartbeats and now >= self._last_tx + cfg.heartbeat_interval:
            self._heartbeat(now, out)

    def note_contact(self, now: float, peer_inc: int) -> None:
        """Another channel of this node just sent the peer a frame (an ack, a
        control item): it tells the peer this node is alive as well as an idle
        heartbeat would. So while this channel has nothing unreleased and the
        peer's incarnation is the one that frame went to, its idle heartbeat
        waits. Two idle neighbours then exchange one heartbeat and one ack per
        interval instead of two of each; with relay trees most of a mesh's
        links are idle, and at 32 nodes their heartbeats were most frames.
        """
        if peer_inc == self.peer_inc != 0 and not self._entries and not self._unsent:
            self._last_tx = max(self._last_tx, now)

    def _heartbeat(self, now: float, out: Recorder) -> None:
        out.frame(Heartbeat(self.src, self.dst, self.inc, self.peer_inc, self._next_seq, self.lane))
        self.stats.heartbeats += 1
        self._last_tx = now

    # ----------------------------------------------------------------- acks
    def on_ack(self, ack: Ack, now: float, out: Recorder) -> AckOutcome:
        """Apply a receiver report; say which items it newly received and released."""
        outcome = AckOutcome([], [])
        if ack.dinc != self.inc or ack.inc < self.peer_inc:
            self.stats.stale_acks += 1
            return outcome
        if ack.inc > self.peer_inc:
            outcome.new_peer_epoch = True
            outcome.peer_restarted = self.peer_inc != 0
            self._new_peer_epoch(ack.inc, now, out)
            return outcome
        if not self._reliable:
            return outcome
        last = self._next_seq - 1
        if ack.ack > last or ack.rel > last or ack.rel > ack.ack:
            self.stats.bad_acks += 1
            return outcome
        entries = self._entries
        received = outcome.received
        if ack.ack > self._recv_cum:
            for s in range(self._recv_cum + 1, ack.ack + 1):
                e = entries.get(s)
                if e is not None:
                    self._mark_received(e, received)
            self._recv_cum = ack.ack
        # On fifo channels a selectively acked item sits in the receiver's reorder
        # buffer, behind a gap, and is lost if this node crashes before the gap
        # is filled; only the cumulative ack says it reached the upper layer.
        sack_report = received if self.cfg.mode is ChannelMode.UNORDERED else []
        for s in self._range_members(ack.sack, self._recv_cum, last):
            e = entries.get(s)
            if e is not None:
                e.received = True
                if e.want_receipt and not e.receipt_reported and sack_report is received:
                    e.receipt_reported = True
                    received.append(e.tag)
        released = outcome.released
        if ack.rel > self._rel_cum:
            for s in range(self._rel_cum + 1, ack.rel + 1):
                e = entries.pop(s, None)
                if e is not None:
                    self._mark_received(e, received)
                    released.append(e.tag)
            self._rel_cum = ack.rel
        for s in self._range_members(ack.srel, self._rel_cum, last):
            e = entries.pop(s, None)
            if e is not None:
                self._mark_received(e, received)
                released.append(e.tag)
        if ack.nack:
            self._on_nack(ack.nack, now, out)
        return outcome

    @staticmethod
    def _mark_received(e: _Entry, received: list[Any]) -> None:
        e.received = True
        if e.want_receipt and not e.receipt_reported:
            e.receipt_reported = True
            received.append(e.tag)

    def _range_members(self, ranges: Ranges, floor: int, last: int) -> list[int]:
        """Sequence numbers named by ``ranges``, clipped to what could be buffered.

        A hostile or corrupt ack may name huge ranges; clipping to the live
        window keeps the work bounded by the buffer size.
        """
        members: list[int] = []
        budget = len(self._entries)
        for lo_raw, hi_raw in ranges:
            lo = max(lo_raw, floor + 1)
            hi = min(hi_raw, last)
            if hi - lo + 1 > budget:
                members.extend(s for s in self._entries if lo <= s <= hi)
            elif lo <= hi:
                members.extend(range(lo, hi + 1))
        return members

    def _on_nack(self, ranges: Ranges, now: float, out: Recorder) -> None:
        holdoff = self.cfg.nack_interval
        resend: list[_Entry] = []
        for s in self._range_members(ranges, self._recv_cum, self._next_seq - 1):
            e = self._entries.get(s)
            if e is not None and not e.received and e.tries > 0 and now - e.last_tx >= holdoff:
                resend.append(e)
        if resend:
            self._transmit(resend, now, out, retransmit=True)

    def _new_peer_epoch(self, peer_inc: int, now: float, out: Recorder) -> None:
        """The receiver is a new incarnation: renumber what it has not released."""
        old = self.peer_inc
        self.peer_inc = peer_inc
        self._handshake_tries = 0
        held = list(self._entries.values()) if self._reliable else list(self._unsent)
        self._entries = {}
        self._unsent = []
        self._next_seq = 1
        self._recv_cum = 0
        self._rel_cum = 0
        self._rtx_due = _NEVER
        for e in held:
            seq = self._next_seq
            self._next_seq = seq + 1
            fresh = _Entry(seq, e.meta, e.body, e.tag, e.want_receipt, e.receipt_reported)
            if self._reliable:
                self._entries[seq] = fresh
            self._unsent.append(fresh)
        if old:
            self.stats.peer_restarts += 1
            out.event(
                EventKind.PEER_EPOCH,
                {
                    "ch": self.name,
                    "peer": self.dst,
                    "old": old,
                    "new": peer_inc,
                    "resent": len(held),
                },
            )
        self.flush(now, out)
