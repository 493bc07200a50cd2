"""The sending end of one directed channel: sequencing, window, retransmission.

Items move through three states. *Sent* items are retransmitted on a timer
with exponential backoff (and at once on a NACK) until the receiver reports them
*received*. Received items stay buffered until the receiver *releases* them,
which it does once it has taken full custody (see :mod:`zmqcast.core.flood`);
only then are they freed. If the receiver turns out to be a new incarnation,
every unreleased item is renumbered from 1 into the new epoch and sent again.

Items queued together are kept as one run (:class:`_Run`): one record, one
timer and one tag, with a state byte per item, so that acks and releases
cost per run, not per item (see "Runs" in :mod:`zmqcast.core.flood`).

On ``lossy`` channels nothing is kept once sent; items wait only for the
handshake that tells the sender its peer's incarnation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zmqcast.core.config import FRAME_HEADROOM, ChannelMode, CoreConfig
from zmqcast.core.events import EventKind, channel_name
from zmqcast.core.frames import DATA_LANE, Ack, Data, Heartbeat, Item, ItemMeta, Ranges
from zmqcast.core.recorder import Recorder

_NEVER = float("inf")

# An item's state in its run: sent (or queued), received, released.
_SENT, _RECEIVED, _RELEASED = 0, 1, 2
_TO_RECEIVED = bytes.maketrans(b"\x00", b"\x01")
_ONES = b"\x01"
_RELEASED_BYTE = b"\x02"


def _report(
    into: list[tuple[Any, int, int]], run: _Run, a: int, before: bytearray, fresh: int, done: int
) -> None:
    """Add ``(tag, index, count)`` for each stretch of the run's items from ``a``
    on that were not ``done`` in ``before`` (their values until now)."""
    base = run.index0 + a
    if fresh == len(before):
        into.append((run.tag, base, fresh))
        return
    start = -1
    for j, value in enumerate(before):
        if value != done:
            if start < 0:
                start = j
        elif start >= 0:
            into.append((run.tag, base + start, j - start))
            start = -1
    if start >= 0:
        into.append((run.tag, base + start, len(before) - start))


class _Run:
    """Consecutive items queued by one call, kept as one record until all are released.

    A relay or an origin queues a whole batch of messages for a peer in one
    call; they take consecutive sequence numbers and share one tag (the
    multicast layer's custody record), one retransmission timer and one entry
    here. Per item there is only a state byte. Acks, releases and
    retransmissions then work run by run, item by item only where a run is
    partly acknowledged.

    Every item of a run that is still unreceived was sent at the same times:
    a retransmission that takes only some of them splits the run first
    (:meth:`SendChannel._isolate`). So the run's timer is each such item's
    own, and the channel behaves exactly as if it kept one timer per item.
    """

    __slots__ = (
        "bodies",
        "due",
        "first",
        "index0",
        "last_tx",
        "metas",
        "reported",
        "state",
        "tag",
        "tries",
        "unreceived",
        "unreleased",
    )

    def __init__(
        self,
        first: int,
        metas: Sequence[ItemMeta],
        bodies: Sequence[bytes],
        tag: Any,
        index0: int,
        reported: bytearray | None,
    ) -> None:
        self.first = first
        self.metas = metas
        self.bodies = bodies
        self.tag = tag
        self.index0 = index0
        """The position of the first item in its tag's numbering (see :class:`AckOutcome`)."""
        self.reported = reported
        """Per item, 1 once its receipt was reported; None if nobody asked."""
        self.state = bytearray(len(metas))
        self.unreceived = len(metas)
        self.unreleased = len(metas)
        self.tries = 0
        self.last_tx = -_NEVER
        self.due = _NEVER

    def piece(self, a: int, b: int) -> _Run:
        """Items ``a..b`` of this run as a run of their own, with its state and timer."""
        part = _Run(
            self.first + a,
            self.metas[a : b + 1],
            self.bodies[a : b + 1],
            self.tag,
            self.index0 + a,
            self.reported[a : b + 1] if self.reported is not None else None,
        )
        part.state = self.state[a : b + 1]
        part.unreceived = part.state.count(_SENT)
        part.unreleased = len(part.state) - part.state.count(_RELEASED)
        part.tries, part.last_tx, part.due = self.tries, self.last_tx, self.due
        return part

    @property
    def last(self) -> int:
        return self.first + len(self.metas) - 1


@dataclass(slots=True)
class AckOutcome:
    """What an ack newly reported, by tag.

    Both hold ``(tag, index, count)``: the items numbered ``index ..
    index+count-1`` in that tag's numbering (the ``index`` given to
    :meth:`SendChannel.send_run`, counting on along the run). ``received``
    names items queued with ``want_receipt`` that the receiver now has, each
    once; ``released`` the items it released. Items queued without a tag are
    not reported.
    """

    received: list[tuple[Any, int, int]] = field(default_factory=list)
    released: list[tuple[Any, int, int]] = field(default_factory=list)
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
        # Runs not yet released, by first sequence number; ``_firsts`` is their
        # keys in ascending order, for finding the run that holds a number.
        self._runs: dict[int, _Run] = {}
        self._firsts: list[int] = []
        self._unsent: list[_Run] = []
        self._held = 0
        """Items queued and not released (reliable) or not yet sent (lossy)."""
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
        return self._held

    def has_room(self) -> bool:
        """True while a new item from this node's own application fits the window."""
        return self._held < self.cfg.window

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
        """Queue one item; return its sequence number (see :meth:`send_run`)."""
        return self.send_run([meta], [body], tag, want_receipt)

    def send_run(
        self,
        metas: Sequence[ItemMeta],
        bodies: Sequence[bytes],
        tag: Any = None,
        want_receipt: bool = False,
        index: int = 0,
    ) -> int:
        """Give the items consecutive sequence numbers and queue them as one run.

        The caller checks :meth:`has_room` for its own messages; relays bypass the
        window because the upstream custody chain already bounds them. With
        ``want_receipt``, :meth:`on_ack` reports each item once when the
        receiver first has it. ``index`` numbers the first item in the tag's
        own numbering, which acks report releases in. Returns the first
        sequence number.
        """
        first = self._next_seq
        count = len(metas)
        self._next_seq = first + count
        run = _Run(first, metas, bodies, tag, index, bytearray(count) if want_receipt else None)
        if self._reliable:
            self._runs[first] = run
            self._firsts.append(first)
        self._unsent.append(run)
        self._held += count
        self.stats.items += count
        return first

    def flush(self, now: float, out: Recorder) -> None:
        """Emit data frames for every queued item, if the peer is known."""
        if not self._unsent or not self.connected:
            return
        pending = self._unsent
        self._unsent = []
        if not self._reliable:
            self._held = 0
        self._transmit([(run, None) for run in pending], now, out, retransmit=False)

    def _transmit(
        self,
        picks: list[tuple[_Run, Sequence[int] | None]],
        now: float,
        out: Recorder,
        retransmit: bool,
    ) -> None:
        """Send the picked items of each run (``None``: all of them), in frames."""
        if self._reliable:
            picks = [piece for run, which in picks for piece in self._isolate(run, which)]
        cfg = self.cfg
        batch = cfg.max_batch
        budget = cfg.max_frame_bytes - FRAME_HEADROOM
        chunk: list[Item] = []
        size = 0
        count = 0
        for run, which in picks:
            first, metas, bodies = run.first, run.metas, run.bodies
            for j in range(len(metas)) if which is None else which:
                body = bodies[j]
                # A frame takes at least one item; more only while the bodies fit.
                if chunk and (len(chunk) == batch or size + len(body) > budget):
                    self._emit(chunk, out)
                    chunk, size = [], 0
                chunk.append(Item(first + j, metas[j], body))
                size += len(body)
                count += 1
        if chunk:
            self._emit(chunk, out)
        if self._reliable:
            rto, rto_max = cfg.rto, cfg.rto_max
            for run, _ in picks:
                run.tries += 1
                run.last_tx = now
                run.due = now + min(rto * (2 ** (run.tries - 1)), rto_max)
                self._rtx_due = min(self._rtx_due, run.due)
        self._last_tx = now
        if retransmit:
            self.stats.retransmits += count
            run, which = picks[0]
            out.event(
                EventKind.RETRANSMIT,
                {
                    "ch": self.name,
                    "count": count,
                    "first": run.first + (which[0] if which is not None else 0),
                },
            )

    def _isolate(
        self, run: _Run, which: Sequence[int] | None
    ) -> list[tuple[_Run, Sequence[int] | None]]:
        """Split ``run`` where ``which`` leaves out some of its unreceived items.

        Each piece then holds unreceived items that are either all picked or
        all left out (and any received items beside them), so the picked ones
        get a new timer and the others keep theirs. Received items are never
        sent again (until a renumbering, which starts every timer afresh), so
        their timer does not matter. Returns the pieces with picks, and the
        picks in each.
        """
        state = run.state
        assert self._runs.get(run.first) is run, "a run is picked at most once per transmission"
        if which is None or len(which) == run.unreceived:
            return [(run, which)]
        picked = set(which)
        cuts: list[tuple[int, int]] = []
        start, side = 0, None
        for j, st in enumerate(state):
            if st != _SENT:
                continue
            mine = j in picked
            if side is not None and mine != side:
                cuts.append((start, j - 1))
                start = j
            side = mine
        cuts.append((start, len(state) - 1))
        if len(cuts) == 1:
            return [(run, which)]
        runs, firsts = self._runs, self._firsts
        del runs[run.first]
        i = bisect_right(firsts, run.first) - 1
        pieces = [run.piece(a, b) for a, b in cuts]
        firsts[i : i + 1] = [p.first for p in pieces]
        out: list[tuple[_Run, Sequence[int] | None]] = []
        for (a, b), p in zip(cuts, pieces, strict=True):
            runs[p.first] = p
            chosen = [j - a for j in which if a <= j <= b]
            if chosen:
                out.append((p, chosen))
        return out

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
            due: list[tuple[_Run, Sequence[int] | None]] = []
            earliest = _NEVER
            runs = self._runs
            for first in self._firsts:  # in sequence order, as the frames carry them
                run = runs[first]
                if not run.unreceived or run.tries == 0:
                    continue
                if run.due <= now:
                    due.append((run, self._unreceived_of(run)))
                elif run.due < earliest:
                    earliest = run.due
            self._rtx_due = earliest
            if due:
                self._transmit(due, now, out, retransmit=True)
        if self.idle_heartbeats and now >= self._last_tx + cfg.heartbeat_interval:
            self._heartbeat(now, out)

    @staticmethod
    def _unreceived_of(run: _Run, lo: int = 0, hi: int | None = None) -> list[int] | None:
        """Indices of the run's items in ``lo..hi`` still only sent (None: all of them)."""
        state = run.state
        if hi is None:
            hi = len(state) - 1
            if run.unreceived == len(state):
                return None
        return [j for j in range(lo, hi + 1) if state[j] == _SENT]

    def note_contact(self, now: float, peer_inc: int) -> None:
        """Another channel of this node just sent the peer a frame (an ack, a
        control item): it tells the peer this node is alive as well as an idle
        heartbeat would. So while this channel has nothing unreleased and the
        peer's incarnation is the one that frame went to, its idle heartbeat
        waits. Two idle neighbours then exchange one heartbeat and one ack per
        interval instead of two of each; with relay trees most of a mesh's
        links are idle, and at 32 nodes their heartbeats were most frames.
        """
        if peer_inc == self.peer_inc != 0 and not self._held:
            self._last_tx = max(self._last_tx, now)

    def _heartbeat(self, now: float, out: Recorder) -> None:
        out.frame(Heartbeat(self.src, self.dst, self.inc, self.peer_inc, self._next_seq, self.lane))
        self.stats.heartbeats += 1
        self._last_tx = now

    # ----------------------------------------------------------------- acks
    def on_ack(self, ack: Ack, now: float, out: Recorder) -> AckOutcome:
        """Apply a receiver report; say which items it newly received and released."""
        outcome = AckOutcome()
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
        if ack.ack > self._recv_cum:
            self._mark(self._recv_cum + 1, ack.ack, _RECEIVED, True, outcome)
            self._recv_cum = ack.ack
        if ack.sack:
            # On fifo channels a selectively acked item sits in the receiver's
            # reorder buffer, behind a gap, and is lost if this node crashes
            # before the gap is filled; only the cumulative ack says it reached
            # the upper layer, so only then is its receipt reported.
            report = self.cfg.mode is ChannelMode.UNORDERED
            for lo, hi in ack.sack:
                self._mark(max(lo, self._recv_cum + 1), min(hi, last), _RECEIVED, report, outcome)
        if ack.rel > self._rel_cum:
            self._mark(self._rel_cum + 1, ack.rel, _RELEASED, True, outcome)
            self._rel_cum = ack.rel
        for lo, hi in ack.srel:
            self._mark(max(lo, self._rel_cum + 1), min(hi, last), _RELEASED, True, outcome)
        if ack.nack:
            self._on_nack(ack.nack, now, out)
        return outcome

    def _overlapping(self, lo: int, hi: int) -> list[_Run]:
        """The runs holding any number in ``lo..hi`` (at most every run held, so a
        hostile ack naming a huge range costs no more than the buffer's size)."""
        firsts = self._firsts
        if lo > hi or not firsts:
            return []
        i = max(0, bisect_right(firsts, lo) - 1)
        runs = self._runs
        found: list[_Run] = []
        count = len(firsts)
        while i < count and firsts[i] <= hi:
            run = runs[firsts[i]]
            if run.first + len(run.metas) > lo:
                found.append(run)
            i += 1
        return found

    def _mark(self, lo: int, hi: int, to: int, report: bool, outcome: AckOutcome) -> None:
        """Move the items ``lo..hi`` to state ``to``; add what is news to ``outcome``.

        A released item is received as well. Receipts are reported only with
        ``report``; each item's once.
        """
        for run in self._overlapping(lo, hi):
            a = max(lo, run.first) - run.first
            b = min(hi, run.last) - run.first
            state = run.state
            segment = state[a : b + 1]
            width = b - a + 1
            fresh = 0
            if to == _RELEASED:
                fresh = width - segment.count(_RELEASED)
                if not fresh:
                    continue
                run.unreceived -= segment.count(_SENT)
                state[a : b + 1] = _RELEASED_BYTE * width
                if run.tag is not None:
                    _report(outcome.released, run, a, segment, fresh, _RELEASED)
            else:
                news = segment.count(_SENT)
                if news:
                    run.unreceived -= news
                    state[a : b + 1] = segment.translate(_TO_RECEIVED)
            reported = run.reported
            if report and reported is not None:
                before = reported[a : b + 1]
                news = width - before.count(1)
                if news:
                    reported[a : b + 1] = _ONES * width
                    _report(outcome.received, run, a, before, news, 1)
            if fresh:
                run.unreleased -= fresh
                self._held -= fresh
                if not run.unreleased:
                    del self._runs[run.first]
                    firsts = self._firsts
                    del firsts[bisect_right(firsts, run.first) - 1]

    def _on_nack(self, ranges: Ranges, now: float, out: Recorder) -> None:
        holdoff = self.cfg.nack_interval
        last = self._next_seq - 1
        # Per run, every item the NACK's ranges name: a run named by two
        # ranges is split and sent once, not once per range.
        picked: dict[int, tuple[_Run, set[int]]] = {}
        for lo_raw, hi_raw in ranges:
            lo, hi = max(lo_raw, self._recv_cum + 1), min(hi_raw, last)
            for run in self._overlapping(lo, hi):
                if not run.unreceived or run.tries == 0 or now - run.last_tx < holdoff:
                    continue
                a = max(lo, run.first) - run.first
                b = min(hi, run.last) - run.first
                which = self._unreceived_of(run, a, b)
                if which:
                    picked.setdefault(run.first, (run, set()))[1].update(which)
        if picked:
            resend: list[tuple[_Run, Sequence[int] | None]] = [
                (run, sorted(which)) for run, which in picked.values()
            ]
            resend.sort(key=lambda pick: pick[0].first)
            self._transmit(resend, now, out, retransmit=True)

    def _new_peer_epoch(self, peer_inc: int, now: float, out: Recorder) -> None:
        """The receiver is a new incarnation: renumber what it has not released."""
        old = self.peer_inc
        self.peer_inc = peer_inc
        self._handshake_tries = 0
        held = [self._runs[f] for f in self._firsts] if self._reliable else self._unsent
        self._runs = {}
        self._firsts = []
        self._unsent = []
        self._held = 0
        self._next_seq = 1
        self._recv_cum = 0
        self._rel_cum = 0
        self._rtx_due = _NEVER
        resent = 0
        for run in held:
            # Each stretch of items not released becomes a run of its own, so
            # that items keep consecutive numbers in their tag's numbering.
            state = run.state
            j, n = 0, len(state)
            while j < n:
                if state[j] == _RELEASED:
                    j += 1
                    continue
                k = j
                while k < n and state[k] != _RELEASED:
                    k += 1
                self.send_run(run.metas[j:k], run.bodies[j:k], run.tag, False, run.index0 + j)
                # A receipt already reported stays reported: the tag counts each once.
                self._unsent[-1].reported = run.reported[j:k] if run.reported else None
                self.stats.items -= k - j  # renumbered, not new
                resent += k - j
                j = k
        if old:
            self.stats.peer_restarts += 1
            out.event(
                EventKind.PEER_EPOCH,
                {
                    "ch": self.name,
                    "peer": self.dst,
                    "old": old,
                    "new": peer_inc,
                    "resent": resent,
                },
            )
        self.flush(now, out)
