"""The receiving end of one directed channel: dedup, reordering, acks, NACKs, losses.

- ``fifo``: items are buffered until every lower sequence number has arrived,
  then handed up in order.
- ``unordered``: items are handed up on first arrival.
- ``lossy``: as ``unordered``, but nothing is repaired; a gap that stays open for
  ``loss_timeout`` (or falls out of the reorder window) is declared lost and
  reported with its count.

Every mode drops duplicates, and every structure here is bounded by
``reorder_limit``: an item further ahead than that is dropped (and, on reliable
channels, comes back by retransmission).
"""

from __future__ import annotations

from dataclasses import dataclass

from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.events import EventKind, channel_name
from zmqcast.core.frames import DATA_LANE, Ack, Data, Heartbeat, Item
from zmqcast.core.range_report import RangeReport
from zmqcast.core.recorder import Recorder
from zmqcast.core.seqset import SeqSet

_NEVER = float("inf")


@dataclass(slots=True)
class ReceiverStats:
    items: int = 0
    duplicates: int = 0
    beyond_window: int = 0
    stale_frames: int = 0
    nacks: int = 0
    lost: int = 0
    peer_restarts: int = 0


class ReceiveChannel:
    """Receiver side of channel ``src -> dst``, owned by incarnation ``inc`` of ``dst``."""

    def __init__(
        self, src: str, dst: str, inc: int, cfg: CoreConfig, lane: int = DATA_LANE
    ) -> None:
        self.src = src
        self.dst = dst
        self.inc = inc
        self.cfg = cfg
        self.lane = lane
        self.name = channel_name(src, dst, lane)
        self.mode = cfg.mode
        self.peer_inc = 0
        self.stats = ReceiverStats()
        self._reset()
        self._last_teach = -_NEVER

    def _reset(self) -> None:
        self.received = SeqSet()
        self.released = SeqSet()
        # Which of their ranges the next ack carries when they do not all fit.
        self._received_report = RangeReport()
        self._released_report = RangeReport()
        self._now = 0.0
        self._buffer: dict[int, Item] = {}
        self._next_deliver = 1
        self._horizon = 0
        self._unacked = 0
        self._ack_due = _NEVER
        self._ack_now = False
        self._nack: list[tuple[int, int]] = []
        self._loss_due = _NEVER
        self._loss_horizon = 0

    # ----------------------------------------------------------------- queries
    @property
    def buffered(self) -> int:
        """Out-of-order items held for in-order delivery (fifo only)."""
        return len(self._buffer)

    def next_deadline(self) -> float:
        return min(self._ack_due, self._loss_due)

    # ----------------------------------------------------------------- input
    def _accept_epoch(self, inc: int, dinc: int, now: float, out: Recorder) -> bool:
        """Check a frame's incarnations; reset on a new sender epoch.

        Returns False for a frame that must be dropped. A frame addressed to an
        earlier incarnation of this node gets an ack back so its sender learns
        the current one.
        """
        if inc < self.peer_inc:
            self.stats.stale_frames += 1
            return False
        if dinc != self.inc:
            self.stats.stale_frames += 1
            if inc > self.peer_inc:
                self._new_sender_epoch(inc, out)
            if now - self._last_teach >= self.cfg.nack_interval or dinc == 0:
                self._last_teach = now
                self._ack_now = True
            return False
        if inc > self.peer_inc:
            self._new_sender_epoch(inc, out)
        return True

    def _new_sender_epoch(self, inc: int, out: Recorder) -> None:
        old = self.peer_inc
        self.peer_inc = inc
        self._reset()
        if old:
            self.stats.peer_restarts += 1
            out.event(
                EventKind.PEER_EPOCH, {"ch": self.name, "peer": self.src, "old": old, "new": inc}
            )

    def on_data(self, frame: Data, now: float, out: Recorder) -> list[Item]:
        """Take a data frame; return the items to hand up, in order."""
        if not self._accept_epoch(frame.inc, frame.dinc, now, out):
            return []
        self._now = now
        items = frame.items
        received = self.received
        if (
            len(items) > 1
            and not received.extra
            and items[0].seq == received.floor + 1
            and not self._buffer
        ):
            ready = self._in_order_run(items)
            if ready is not None:
                return ready
        ready = []
        limit = received.floor + self.cfg.reorder_limit
        fifo = self.mode is ChannelMode.FIFO
        lossy = self.mode is ChannelMode.LOSSY
        note_received = self._received_report.note
        fresh = 0
        for item in frame.items:
            s = item.seq
            if s < 1:
                self.stats.beyond_window += 1
                continue
            if s > limit:
                if not lossy:
                    self.stats.beyond_window += 1
                    continue
                self._declare_lost(s - self.cfg.reorder_limit, out)
                limit = self.received.floor + self.cfg.reorder_limit
            if not received.add(s):
                self.stats.duplicates += 1
                self._ack_now = True
                continue
            note_received(s)
            fresh += 1
            if s > self._horizon:
                if s > self._horizon + 1:
                    self._gap_detected(self._horizon + 1, s - 1, now)
                self._horizon = s
            if fifo:
                self._buffer[s] = item
            else:
                ready.append(item)
        if fifo:
            buf = self._buffer
            nxt = self._next_deliver
            while nxt in buf:
                ready.append(buf.pop(nxt))
                nxt += 1
            self._next_deliver = nxt
        self.stats.items += fresh
        if fresh and not lossy:
            self._unacked += fresh
            if self._unacked >= self.cfg.ack_every:
                self._ack_now = True
            elif self._ack_due == _NEVER:
                self._ack_due = now + self.cfg.ack_delay
        return ready

    def _in_order_run(self, items: tuple[Item, ...]) -> list[Item] | None:
        """Take a frame whose items are exactly the next numbers, all in the
        window, as one receipt: the watermark moves once and every item goes up.
        Returns None, having changed nothing, for any other frame."""
        first = items[0].seq
        last = first + len(items) - 1
        if last > self.received.floor + self.cfg.reorder_limit:
            return None
        seq = first
        for item in items:
            if item.seq != seq:
                return None
            seq += 1
        self.received.floor = last
        if self.mode is ChannelMode.FIFO:
            self._next_deliver = last + 1
        self._horizon = max(self._horizon, last)
        count = len(items)
        self.stats.items += count
        if self.mode is not ChannelMode.LOSSY:
            self._unacked += count
            if self._unacked >= self.cfg.ack_every:
                self._ack_now = True
            elif self._ack_due == _NEVER:
                self._ack_due = self._now + self.cfg.ack_delay
        return list(items)

    def on_heartbeat(self, hb: Heartbeat, now: float, out: Recorder) -> None:
        """A heartbeat is always answered; its ``next`` reveals a lost tail."""
        self._ack_now = True
        self._now = now
        if not self._accept_epoch(hb.inc, hb.dinc, now, out):
            return
        tail = hb.next - 1
        if tail > self._horizon:
            tail = min(tail, self.received.floor + self.cfg.reorder_limit)
            if tail > self._horizon:
                self._gap_detected(self._horizon + 1, tail, now)
                self._horizon = tail

    def _gap_detected(self, lo: int, hi: int, now: float) -> None:
        if self.mode is ChannelMode.LOSSY:
            if self._loss_due == _NEVER:
                self._loss_due = now + self.cfg.loss_timeout
                self._loss_horizon = hi
        else:
            self._nack.append((lo, hi))
            self._ack_now = True

    def release(self, inc: int, seq: int, now: float) -> None:
        """The upper layer has taken full custody of item ``seq`` of epoch ``inc``."""
        if inc != self.peer_inc or self.mode is ChannelMode.LOSSY:
            return
        self._now = now
        if self.released.add(seq):
            self._released_report.note(seq)
            if self._ack_due == _NEVER:
                # Release reports are coalesced like acks: the next ack carries them.
                self._ack_due = now + self.cfg.ack_delay

    def release_range(self, inc: int, lo: int, hi: int, now: float) -> None:
        """As :meth:`release` for every item of ``lo..hi``, recorded in one step."""
        if inc != self.peer_inc or self.mode is ChannelMode.LOSSY:
            return
        self._now = now
        if self.released.add_range(lo, hi):
            self._released_report.note(lo)  # the report finds the range by any member
            if self._ack_due == _NEVER:
                self._ack_due = now + self.cfg.ack_delay
            return
        for seq in range(lo, hi + 1):
            self.release(inc, seq, now)

    # ----------------------------------------------------------------- output
    def tick(self, now: float, out: Recorder) -> None:
        """Send a due ack and declare lossy gaps that timed out."""
        self._now = now
        if now >= self._loss_due:
            self._declare_lost(self._loss_horizon, out)
            if self._horizon > self.received.floor:
                self._loss_due = now + self.cfg.loss_timeout
                self._loss_horizon = self._horizon
            else:
                self._loss_due = _NEVER
        if self._ack_now or now >= self._ack_due:
            self._send_ack(out)

    def flush(self, out: Recorder) -> None:
        """Send an ack at once if something calls for it (dup, gap, heartbeat, count)."""
        if self._ack_now:
            self._send_ack(out)

    def _send_ack(self, out: Recorder) -> None:
        self._ack_now = False
        self._ack_due = _NEVER
        self._unacked = 0
        if self.peer_inc == 0:
            return
        limit = self.cfg.max_ranges
        nack = tuple(self._nack[:limit])
        self._nack = []
        if nack:
            self.stats.nacks += 1
            out.event(EventKind.GAP, {"ch": self.name, "missing": [list(r) for r in nack]})
        lossy = self.mode is ChannelMode.LOSSY
        sack = () if lossy else self._received_report.pick(self.received, limit)
        srel = () if lossy else self._released_report.pick(self.released, limit)
        out.frame(
            Ack(
                self.dst,
                self.src,
                self.inc,
                self.peer_inc,
                ack=self.received.floor,
                rel=min(self.released.floor, self.received.floor),
                sack=sack,
                srel=srel,
                nack=nack,
                lane=self.lane,
            )
        )
        if self._received_report.behind or self._released_report.behind:
            # More ranges than one ack carries: go on round them shortly.
            self._ack_due = self._now + self.cfg.ack_delay

    def _declare_lost(self, upto: int, out: Recorder) -> None:
        """Lossy mode: give up on every gap at or below ``upto`` and report it."""
        received = self.received
        if upto <= received.floor:
            return
        missing = received.missing(upto, 1 << 30)
        count = sum(hi - lo + 1 for lo, hi in missing)
        received.advance_to(upto)
        if count:
            self.stats.lost += count
            shown = [list(r) for r in missing[: self.cfg.max_ranges]]
            out.event(EventKind.LOSS, {"ch": self.name, "count": count, "missing": shown})
