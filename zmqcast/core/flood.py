"""Reliable multicast by flooding, with custody, echoes and per-origin holdback.

A node delivers a multicast on first receipt and relays it to every
out-neighbour except the one it came from. Three rules make that hold under
loss, crashes and restarts in bounded memory.

Custody
    A node *releases* an incoming copy (so that its sender may free it) only
    once every relay of that message has been released downstream. If a
    relaying node crashes, its upstream still holds the copy and sends it again
    to the node's next incarnation. Because an origin holds each message until
    every copy of it is released everywhere, and may not run more than
    ``window`` sequence numbers ahead of its oldest such message, at most
    ``window`` messages per origin are alive in the cluster. Relays never wait
    for window space, so no cyclic wait between full buffers can arise.

Echoes
    A node that crashes right after handing a message to one neighbour leaves
    nobody holding it for the rest of the cluster. Where the topology lets the
    receiver reach everyone else without the sender, its own relays cover that.
    Where it does not (a line, two rings joined by a bridge), the receiver also
    *echoes* the message back to the sender (``echo_to``). Any node that gets a
    copy of a message it is still spreading holds that copy unreleased until all
    its own copies were *received*, so a crash before then makes the echo come
    back to its next incarnation, which floods it again. Holding depends on
    receipts only, never on releases, so it cannot deadlock.

Retention and replay
    Two crashes can still leave a message with nobody holding it: an origin
    that crashes after its copies were received, and then a relay that crashes
    before its own copies were. So every node also keeps the last ``window``
    messages of each origin epoch it delivered, and the highest stable floor it
    has seen for each. When a neighbour turns out to be a new incarnation, the
    node replays to it every retained message that is not known to be stable:
    one it is still spreading joins that spread (so it stays inside the
    origin's custody accounting); any other goes untracked. Whether the origin
    is still alive cannot be known from afar, so a message above the stable
    floor is replayed even if its origin's custody may still cover it; the
    copy is then a harmless duplicate. Memory stays at ``window`` messages and
    one integer per origin epoch.

Stable floor
    Every multicast carries ``sf``, its origin's stable floor: the origin has no
    unreleased message at or below it. Without restarts each of those reached
    every node. A restart can break that promise: a node that got a message
    from a relay which then crashed still spreads it down its own branch, but
    that branch's custody chain died with the relay, and when the relay's new
    incarnation gets the message again from the origin, it releases it without
    waiting for that branch. The origin's floor then passes a message still on
    its way. (Holding such duplicates until released instead would close
    custody cycles between nodes that hold each other's copies.) So receivers
    treat the floor as a hint, never as proof of receipt: duplicate
    suppression keeps a hole below the floor open (up to ``dedup_horizon``, see
    :mod:`zmqcast.core.dedup`), and a node that never restarted keeps waiting
    for such a gap in holdback, giving it up only after ``holdback_timeout``.
    Retention and replay still use the floor to skip what is settled.

Relay trees (config ``"relay": "tree"``, the default)
    Flooding sends one copy per link, N(N-1) on a mesh. Given a
    :class:`~zmqcast.topology.RelayTree`, a node instead passes a message it
    took from its parent in the origin's breadth-first out-tree only to its
    children there: N-1 copies in all, and custody works along the tree as it
    does along flooding's paths. While the origin lives, its custody covers
    every relay's crash: each parent holds its copy until the child's whole
    subtree released it, and sends it again to the child's next incarnation.
    A copy can only be cut off when every node above the break crashed, the
    origin included. Then, walking down from the break towards any node that
    has the message, some node that has it finds its parent failed: it sees
    the parent's next incarnation, or suspects it. That node starts a *repair
    flood* of every retained message above the floor that came down through
    that parent (:meth:`Flooding.peer_failed`). A repair copy carries the repair flag
    in its header, and every node passes it on once to all its out-neighbours,
    even when it already has the message: nodes that have it must still carry
    the repair to those beyond them that lack it. (Without the flag, a copy that
    does not come from the receiver's tree parent is flooded on only if it is
    new, as with ``"relay": "flood"``.) So repair costs flooding's price, but
    only for what was in flight at a failure, and only where one happened.

Runs
    Under load a frame carries up to ``max_batch`` items, and most of a frame
    is consecutive messages of one origin, in order. Such a *run* is taken in
    one step when every message of it is new here and, under holdback, next
    in line (:meth:`Flooding._take_run`): one duplicate-suppression range, one
    custody record (:class:`Spread`) for the whole run, one queued run per
    target channel, and one release of the run's range upstream. The record
    still counts each message's copies apart, so a message is released
    upstream as soon as its own copies are, exactly as if it had come alone:
    custody waits no longer than per message, and the arguments above hold
    unchanged. Anything else (a duplicate or a gap inside the run, a repair
    copy) is taken message by message, with the same outcome; so is every
    copy when ``take_runs`` is off, which the tests compare against. An
    origin's batch of multicasts is one run as well.

Holdback (``fifo`` channels only)
    A restarted relay may forward a later message before an earlier one that
    its predecessor had handled. Messages are therefore delivered (and relayed)
    per origin in sequence order; a copy that arrives early waits. At a node
    that never restarted, every gap fills: the missing message is still held
    somewhere upstream. A restarted incarnation may face gaps its predecessor
    filled; they close ``rto_max`` after a later ``sf`` passes them (not at
    once: the floor can pass a copy still on its way), or, if the origin falls
    silent, after ``holdback_timeout``. A copy that then arrives below the
    delivery point is delivered late rather than dropped, and relayed, because
    other nodes may depend on this node for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.dedup import Deduplicator, DedupOutcome
from zmqcast.core.digest import DIGEST, PULL, Claims, from_meta, missing, ranges_of, to_meta
from zmqcast.core.events import Delivery, EventKind
from zmqcast.core.frames import Item, Meta, MulticastMeta
from zmqcast.core.payload import payload_fields
from zmqcast.core.receiver import ReceiveChannel
from zmqcast.core.sender import SendChannel
from zmqcast.topology import RelayTree

_NEVER = float("inf")

MsgKey = tuple[str, int, int]
"""A multicast id: ``(origin, origin epoch, origin sequence)``."""
Upstream = tuple[str, int, int]
"""Where a copy came from: ``(sender, sender incarnation, channel sequence)``."""


@dataclass(slots=True, eq=False)
class Spread:
    """Messages this node sent or relayed together, tracked until their copies
    are released: one custody record per run.

    The run is the ``count`` messages ``key[2] .. key[2]+count-1`` of one origin
    epoch. Relayed, they came in as consecutive items of one channel, from
    ``upstream[2]`` on, and all went to the same targets. Copies are still
    counted per message: a message's upstream copy is released once ``left``
    says none of its own copies is unreleased, and the duplicates held for it
    (see "Echoes") once ``unreceived`` says all its copies were received. So
    the record changes nothing in when anything happens, only in what it
    costs.
    """

    key: MsgKey
    count: int
    upstream: Upstream | None
    unreceived: list[int]
    """Per message of the run, its copies not yet received."""
    left: list[int]
    """Per message of the run, its copies not yet released."""
    held: dict[int, list[Upstream]] = field(default_factory=dict)
    """Per message (by its index in the run), the duplicates held for it."""


@dataclass(slots=True)
class _Pending:
    """A copy that arrived ahead of its turn, waiting in the holdback queue."""

    meta: MulticastMeta
    body: bytes
    src: str
    upstream: Upstream
    ts: int
    cseq: int
    channel: str


class _Retained:
    """The last ``window`` delivered messages of one origin epoch, by sequence number.

    Eviction walks a cursor up from the lowest key that may be present rather
    than taking the dict's first key, which would rescan the dummy slots that
    deletions leave at a dict's front.
    """

    __slots__ = ("high", "items", "low", "repaired")

    def __init__(self) -> None:
        self.items: dict[int, tuple[MulticastMeta, bytes]] = {}
        self.repaired: set[int] = set()
        """Retained messages this node already passed a repair flood on for."""
        self.low = 1
        """Every key below this is absent."""
        self.high = 0
        """The highest sequence number retained so far."""

    def add_run(
        self, lo: int, metas: list[MulticastMeta], bodies: list[bytes], window: int
    ) -> None:
        """Keep the run ``lo, lo+1, ...``; as :meth:`add` for each, in one step."""
        if lo <= self.high - window or lo < self.low:
            for i, meta in enumerate(metas):
                self.add(lo + i, meta, bodies[i], window)
            return
        pairs = zip(metas, bodies, strict=True)
        self.items.update(zip(range(lo, lo + len(metas)), pairs, strict=True))
        self.add(lo + len(metas) - 1, metas[-1], bodies[-1], window)

    def add(self, oseq: int, meta: MulticastMeta, body: bytes, window: int) -> None:
        """Keep ``oseq``; drop what falls ``window`` or more below the highest."""
        items = self.items
        self.high = max(self.high, oseq)
        floor = self.high - window
        if oseq > floor:  # a late one already out of the window is not kept
            items[oseq] = (meta, body)
        if floor < self.low:
            return
        if floor - self.low >= window:
            # A jump (a skipped gap, a hostile oseq): rebuild, not one pop per number.
            self.items = {k: v for k, v in items.items() if k > floor}
            self.repaired = {k for k in self.repaired if k > floor}
        else:
            for k in range(self.low, floor + 1):
                items.pop(k, None)
            if self.repaired:
                self.repaired.difference_update(range(self.low, floor + 1))
        self.low = floor + 1


@dataclass(slots=True)
class _Stream:
    """Delivery state of one origin epoch under holdback."""

    next: int = 1
    waiting: dict[int, _Pending] = field(default_factory=dict)
    since: float = _NEVER
    """When the current gap opened."""
    passed: float = _NEVER
    """When a restarted node first saw the stable floor pass the current gap."""


@dataclass(slots=True)
class FloodStats:
    multicasts: int = 0
    delivered: int = 0
    duplicates: int = 0
    relayed: int = 0
    echoed: int = 0
    stale_epoch: int = 0
    skipped: int = 0
    bad_items: int = 0
    served: int = 0
    """Copies sent to neighbours that pulled them (see zmqcast.core.digest)."""
    runs: int = 0
    """Runs of several messages taken in one step (see "Runs")."""
    run_messages: int = 0
    """Messages delivered as part of those runs."""
    repaired: int = 0
    """Messages this node started a repair flood of (:meth:`Flooding.peer_failed`)
    or passed one on for (relay trees only)."""


EventSink = Callable[[str, dict[str, Any]], None]
ControlSink = Callable[[str, Meta, bytes], None]


class Flooding:
    """The multicast layer of one node incarnation."""

    take_runs = True
    """False takes every copy one by one: the reference that the run path
    (see "Runs") is tested against, with the same outcome."""

    def __init__(
        self,
        node_id: str,
        inc: int,
        cfg: CoreConfig,
        senders: Mapping[str, SendChannel],
        receivers: Mapping[str, ReceiveChannel],
        clock: LamportClock,
        event: EventSink,
        echo_to: frozenset[str],
        restarted: bool,
        tree: RelayTree | None = None,
        send_control: ControlSink | None = None,
    ) -> None:
        """Without a ``tree``, every relay floods. ``send_control(peer, meta,
        body)`` queues an item on the control lane to ``peer``: digests and
        pulls (:mod:`zmqcast.core.digest`) go that way; without it, none."""
        self.id = node_id
        self.inc = inc
        self.cfg = cfg
        self.senders = senders
        self.receivers = receivers
        self.clock = clock
        self.event = event
        self.echo_to = echo_to
        self.restarted = restarted
        self.dedup = Deduplicator(cfg.epochs_per_origin, cfg.dedup_horizon)
        self.stats = FloodStats()
        self.deliveries: list[Delivery] = []
        self._custody = cfg.mode.reliable
        self._holdback = cfg.mode is ChannelMode.FIFO
        self._trace = cfg.trace_messages
        self._own_seq = 0
        self._spreading: dict[MsgKey, Spread] = {}  # copies not all received yet
        self._open: dict[MsgKey, Spread] = {}  # copies not all released yet
        self._newest_epoch: dict[str, int] = {node_id: inc}
        self._stable: dict[tuple[str, int], int] = {}  # highest sf seen per origin epoch
        self._alive: dict[int, Spread] = {}
        self._alive_low = 1  # no own message below this is alive
        self._streams: dict[tuple[str, int], _Stream] = {}
        # Per origin epoch, the last ``window`` delivered messages, oldest first.
        self._retained: dict[tuple[str, int], _Retained] = {}
        # Flooding's relay targets per upstream neighbour (the out-neighbours are fixed).
        self._targets: dict[str, list[str]] = {}
        self._tree = tree
        # Where this node's own multicasts go: its children in its own tree, or everyone.
        self._own_targets = (
            list(senders)
            if tree is None
            else [p for p in tree.children.get(node_id, ()) if p in senders]
        )
        # Digests and pulls (see zmqcast.core.digest).
        self._send_control = send_control
        self._retained_version = 0
        """Bumped whenever the retention store takes a message."""
        self._digest_sent: dict[str, tuple[int, int]] = {}
        """Per out-neighbour, the version and peer incarnation of the last digest sent."""
        self._digest_dirty = False
        """Some out-neighbour may lack this node's current digest."""
        self._digest_due = 0.0
        self._claims: dict[str, tuple[float, Claims]] = {}
        """Per neighbour, when its digest came and what of it is still to pull."""
        self._pulled: dict[tuple[str, int, int], float] = {}
        """Messages pulled lately, and when: not pulled from another neighbour
        before ``rto_max``."""

    # ------------------------------------------------------------- sending
    def _oldest_alive(self) -> int | None:
        """The lowest own sequence number not yet released everywhere, if any.

        A cursor, not ``next(iter(dict))``: a dict whose oldest keys keep being
        deleted leaves dummy slots at its front, which every such call would
        scan again (about 1 µs a call at a window of 256).
        """
        alive = self._alive
        if not alive:
            return None
        low = self._alive_low
        while low not in alive:
            low += 1
        self._alive_low = low
        return low

    @property
    def own_seq(self) -> int:
        """The sequence number of this incarnation's latest multicast (0 before any)."""
        return self._own_seq

    def can_multicast(self) -> bool:
        """True if a new message fits both the channel windows and the origin window."""
        oldest = self._oldest_alive()
        if oldest is not None and self._own_seq + 1 - oldest >= self.cfg.window:
            return False
        return all(s.has_room() for s in self.senders.values())

    def room(self) -> int:
        """How many new multicasts fit now, one after the other.

        The same answer as calling :meth:`can_multicast` before each: an own
        multicast adds one item to every outgoing channel (each out-neighbour
        is a child of the origin in its own breadth-first tree), and the
        origin window counts from the oldest message alive, which a multicast
        never frees. One pass over the channels per batch, not per message.
        """
        window = self.cfg.window
        oldest = self._oldest_alive()
        fits = window - 1 - self._own_seq + oldest if oldest is not None else window
        for sender in self.senders.values():
            fits = min(fits, window - sender.unreleased)
        return max(0, fits)

    def multicast(self, body: bytes) -> None:
        self.multicast_many([body])

    def multicast_many(self, bodies: Sequence[bytes]) -> None:
        """Multicast each body in turn, as one run: one custody record, one
        duplicate-suppression range, one queued run per out-neighbour.

        The caller checks :meth:`room` first. Each message still gets its own
        sequence number, Lamport time and stable floor; within the run the
        floor does not move, since none of the run is released yet.
        """
        if not bodies:
            return
        if not self.take_runs and len(bodies) > 1:
            for body in bodies:
                self.multicast_many([body])
            return
        first = self._own_seq + 1
        count = len(bodies)
        self._own_seq += count
        oldest = self._oldest_alive() if self._custody else None
        clock = self.clock
        node_id, inc, window = self.id, self.inc, self.cfg.window
        metas: list[MulticastMeta] = []
        for i in range(count):
            seq = first + i
            if not self._custody:
                # Nothing is tracked on lossy channels; older ids are simply given up.
                stable = max(0, seq - 1 - window)
            else:
                stable = oldest - 1 if oldest is not None else first - 1
            metas.append(MulticastMeta(node_id, inc, seq, clock.tick_send(), stable))
            if self._trace:
                self.event(
                    EventKind.MULTICAST,
                    {"origin": node_id, "oepoch": inc, "oseq": seq, "size": len(bodies[i])},
                )
        self.dedup.admit_run(node_id, inc, first, [m.sf for m in metas])
        self.stats.multicasts += count
        key = (node_id, inc, first)
        body_list = list(bodies)
        self._retain_run(key, metas, body_list)
        spread = self._send_copies(key, metas, body_list, self._own_targets, None)
        if spread is not None:
            alive = self._alive
            for i in range(count):
                alive[first + i] = spread

    def _send_copies(
        self,
        key: MsgKey,
        metas: list[MulticastMeta],
        bodies: list[bytes],
        targets: Sequence[str],
        upstream: Upstream | None,
    ) -> Spread | None:
        """Queue the run ``key[2] ..`` to every target; track it if the channels
        are reliable. ``metas`` and ``bodies`` are shared, never changed."""
        senders = self.senders
        if not self._custody:
            for peer in targets:
                senders[peer].send_run(metas, bodies)
            return None
        count = len(metas)
        copies = len(targets)
        spread = Spread(key, count, upstream, [copies] * count, [copies] * count)
        spreading, opened = self._spreading, self._open
        origin, oepoch, first = key
        for oseq in range(first, first + count):
            k = (origin, oepoch, oseq)
            spreading[k] = spread
            opened[k] = spread
        for peer in targets:
            senders[peer].send_run(metas, bodies, spread, True)
        return spread

    # ------------------------------------------------------------- receiving
    def on_item(self, receiver: ReceiveChannel, item: Item, now: float) -> None:
        """Take one item handed up by a receive channel."""
        self.on_items(receiver, [item], now)

    def on_items(self, receiver: ReceiveChannel, items: Sequence[Item], now: float) -> None:
        """Take the items a receive channel handed up, in their order.

        The hot path of every node. Consecutive items carrying consecutive
        messages of one origin epoch are taken as a run (:meth:`_take_run`);
        the rest, and any run that is not all new and next in line, one by
        one. The wire decoder has checked the headers' types and bounds; the
        simulator's frames pass through it too.
        """
        n = len(items)
        i = 0
        runs = self.take_runs
        while i < n:
            item = items[i]
            meta = item.meta
            if type(meta) is not MulticastMeta:
                self.stats.bad_items += 1
                self._release((receiver.src, receiver.peer_inc, item.seq), now)
                i += 1
                continue
            j = i + 1
            if runs and not meta.repair:
                origin, oepoch, oseq, seq = meta.origin, meta.oepoch, meta.oseq, item.seq
                while j < n:
                    nxt = items[j]
                    m = nxt.meta
                    step = j - i
                    if (
                        type(m) is not MulticastMeta
                        or m.oseq != oseq + step
                        or nxt.seq != seq + step
                        or m.origin != origin
                        or m.oepoch != oepoch
                        or m.repair
                    ):
                        break
                    j += 1
            if j - i == 1 or not self._take_run(receiver, items[i:j], now):
                for k in range(i, j):
                    one = items[k]
                    upstream = (receiver.src, receiver.peer_inc, one.seq)
                    self._on_copy(receiver, one, one.meta, upstream, now)  # type: ignore[arg-type]
            i = j

    def _take_run(self, receiver: ReceiveChannel, run: Sequence[Item], now: float) -> bool:
        """Deliver and relay a run of consecutive messages of one origin epoch.

        Only if every message of it is new here and, under holdback, the run
        starts where the stream waits with nothing held back: then taking it
        in one step does what taking its copies one by one would (the same
        deliveries, Lamport values, relays and releases), with one duplicate
        suppression range, one custody record and one release. Returns False,
        having changed nothing, otherwise.
        """
        head = run[0].meta
        assert type(head) is MulticastMeta
        origin, oepoch, lo = head.origin, head.oepoch, head.oseq
        count = len(run)
        stream_key = (origin, oepoch)
        stream = None
        if self._holdback:
            stream = self._streams.get(stream_key)
            if stream is None:
                if lo != 1:
                    return False
            elif stream.next != lo or stream.waiting:
                return False
        metas: list[MulticastMeta] = [item.meta for item in run]  # type: ignore[misc]
        stables = [m.sf for m in metas]
        if not self.dedup.admit_run(origin, oepoch, lo, stables):
            return False
        stable = max(stables)
        src = receiver.src
        self.saw_epoch(origin, oepoch)
        if stable > self._stable.get(stream_key, 0):
            self._stable[stream_key] = stable
        if self._holdback:
            if stream is None:
                stream = self._streams[stream_key] = _Stream()
            stream.next = lo + count
        # The Lamport rules of _on_copy and _deliver per message: a receipt
        # merges the sender's time, and its delivery takes the merged value.
        clock = self.clock
        value = clock.value
        deliveries = self.deliveries
        bodies: list[bytes] = []
        for item, m in zip(run, metas, strict=True):
            ts = m.ts
            value = (value if value > ts else ts) + 1
            body = item.body
            bodies.append(body)
            deliveries.append(Delivery(origin, oepoch, m.oseq, value, ts, src, body))
            if self._trace:
                clock.value = clock.stamped = value
                self._trace_delivery(m, src, receiver.name, item.seq, body)
        clock.value = clock.stamped = value
        self.stats.delivered += count
        self.stats.runs += 1
        self.stats.run_messages += count
        key = (origin, oepoch, lo)
        self._retain_run(key, metas, bodies)
        tree = self._tree
        targets: Sequence[str]
        if tree is not None and tree.parent.get(origin) == src:
            targets = tree.children.get(origin, ())
        else:
            targets = self._flood_targets(src)
            if src in self.echo_to and src in self.senders:
                self.stats.echoed += count
        self.stats.relayed += len(targets) * count
        upstream = (src, receiver.peer_inc, run[0].seq)
        if not targets or self._send_copies(key, metas, bodies, targets, upstream) is None:
            self._release_run(upstream, count, now)
        return True

    def _on_copy(
        self,
        receiver: ReceiveChannel,
        item: Item,
        meta: MulticastMeta,
        upstream: Upstream,
        now: float,
    ) -> None:
        origin, oepoch, oseq, ts, stable, repair = meta
        key = (origin, oepoch, oseq)
        src = receiver.src
        self.clock.merge(ts)
        self.saw_epoch(origin, oepoch)
        stream_key = (origin, oepoch)
        if stable > self._stable.get(stream_key, 0):
            self._stable[stream_key] = stable
            if self.restarted and stream_key in self._streams:
                self._note_floor(stream_key, self._streams[stream_key], now)
        outcome = self.dedup.admit(origin, oepoch, oseq, stable)
        if outcome != DedupOutcome.NEW:
            if outcome == DedupOutcome.STALE_EPOCH:
                self.stats.stale_epoch += 1
            self.stats.duplicates += 1
            self.clock.stamp()
            if self._trace:
                self.event(
                    EventKind.DUPLICATE,
                    {"origin": origin, "oepoch": oepoch, "oseq": oseq, "from": src},
                )
            if repair:
                self._pass_repair(key, meta, item.body, src)
            spread = self._spreading.get(key)
            if spread is not None:
                spread.held.setdefault(oseq - spread.key[2], []).append(upstream)
            else:
                self._release(upstream, now)
            return
        pending = _Pending(meta, item.body, src, upstream, ts, item.seq, receiver.name)
        if not self._holdback:
            self._deliver(key, pending, now)
            return
        stream = self._streams.get(stream_key)
        if stream is None:
            stream = self._streams[stream_key] = _Stream()
        if oseq < stream.next:
            # Only after a timed-out gap on a restarted incarnation: late, but
            # still new here, and others may depend on this node for it.
            self.event(
                EventKind.LATE, {"origin": origin, "oepoch": oepoch, "oseq": oseq, "from": src}
            )
            self._deliver(key, pending, now)
            return
        if oseq != stream.next:
            stream.waiting[oseq] = pending
            if stream.since == _NEVER:
                stream.since = now
                self._note_floor(stream_key, stream, now)
            self.clock.stamp()
            if self._trace:
                self.event(
                    EventKind.HELD, {"origin": origin, "oepoch": oepoch, "oseq": oseq, "from": src}
                )
            return
        self._deliver(key, pending, now)
        stream.next = oseq + 1
        self._drain(origin, oepoch, stream, now)

    def _drain(self, origin: str, oepoch: int, stream: _Stream, now: float) -> None:
        waiting = stream.waiting
        while stream.next in waiting:
            pending = waiting.pop(stream.next)
            self._deliver((origin, oepoch, stream.next), pending, now)
            stream.next += 1
        stream.since = now if waiting else _NEVER
        stream.passed = _NEVER
        self._note_floor((origin, oepoch), stream, now)

    def _note_floor(self, stream_key: tuple[str, int], stream: _Stream, now: float) -> None:
        """A restarted node notes when the floor first passes the gap it waits at."""
        if (
            self.restarted
            and stream.waiting
            and stream.passed == _NEVER
            and self._stable.get(stream_key, 0) >= stream.next
        ):
            stream.passed = now

    def _skip(self, stream_key: tuple[str, int], stream: _Stream, upto: int, now: float) -> None:
        """Give up on every gap below ``upto`` and deliver what waits there."""
        origin, oepoch = stream_key
        first = stream.next
        missing = 0
        for oseq in range(first, upto):
            pending = stream.waiting.pop(oseq, None)
            if pending is None:
                missing += 1
                continue
            self._deliver((origin, oepoch, oseq), pending, now)
        stream.next = max(stream.next, upto)
        if missing:
            self.stats.skipped += missing
            self.event(
                EventKind.SKIP,
                {
                    "origin": origin,
                    "oepoch": oepoch,
                    "first": first,
                    "last": upto - 1,
                    "count": missing,
                },
            )
        self._drain(origin, oepoch, stream, now)

    def _deliver(self, key: MsgKey, p: _Pending, now: float) -> None:
        origin, oepoch, oseq = key
        self.clock.stamp()
        self.stats.delivered += 1
        if self._trace:
            self._trace_delivery(p.meta, p.src, p.channel, p.cseq, p.body)
        self.deliveries.append(
            Delivery(origin, oepoch, oseq, self.clock.value, p.ts, p.src, p.body)
        )
        self._retain(key, p.meta, p.body)
        tree = self._tree
        targets: Sequence[str]
        if p.meta.repair:
            targets = self._flood_targets(p.src)
            kept = self._retained.get((origin, oepoch))
            if kept is not None:
                kept.repaired.add(oseq)
        elif tree is not None and tree.parent.get(origin) == p.src:
            targets = self._tree_targets(origin)
        else:  # flooding, or a copy that came off the origin's tree: flooded on
            targets = self._flood_targets(p.src)
            if p.src in self.echo_to and p.src in self.senders:
                self.stats.echoed += 1
        self.stats.relayed += len(targets)
        if not targets or self._send_copies(key, [p.meta], [p.body], targets, p.upstream) is None:
            self._release(p.upstream, now)

    def _trace_delivery(
        self, meta: MulticastMeta, src: str, channel: str, cseq: int, body: bytes
    ) -> None:
        self.event(
            EventKind.DELIVER,
            {
                "origin": meta.origin,
                "oepoch": meta.oepoch,
                "oseq": meta.oseq,
                "from": src,
                "ch": channel,
                "cseq": cseq,
                "ts": meta.ts,
                "size": len(body),
                **payload_fields(body),
            },
        )

    def _flood_targets(self, src: str) -> list[str]:
        targets = self._targets.get(src)
        if targets is None:
            targets = self._targets[src] = [
                peer for peer in self.senders if peer != src or peer in self.echo_to
            ]
        return targets

    def _pass_repair(self, key: MsgKey, meta: MulticastMeta, body: bytes, src: str) -> None:
        """Pass a repair copy of a message this node has on, once (see "Relay trees")."""
        origin, oepoch, oseq = key
        kept = self._retained.get((origin, oepoch))
        if kept is not None and oseq in kept.items:
            if oseq in kept.repaired:
                return
            kept.repaired.add(oseq)
            for peer in self._flood_targets(src):
                self.senders[peer].send(meta, body)
            self.stats.repaired += 1
            return
        stream = self._streams.get((origin, oepoch))
        pending = stream.waiting.get(oseq) if stream is not None else None
        if pending is not None:  # held back: it goes on as a repair once delivered
            pending.meta = meta

    def _tree_targets(self, origin: str) -> Sequence[str]:
        assert self._tree is not None
        return self._tree.children.get(origin, ())

    # ------------------------------------------------------------- retention
    def _retain(self, key: MsgKey, meta: MulticastMeta, body: bytes) -> None:
        if self._custody:
            self._kept(key[0], key[1]).add(key[2], meta, body, self.cfg.window)
            self._retained_version += 1
            self._digest_dirty = self._send_control is not None

    def _retain_run(self, key: MsgKey, metas: list[MulticastMeta], bodies: list[bytes]) -> None:
        if self._custody:
            self._kept(key[0], key[1]).add_run(key[2], metas, bodies, self.cfg.window)
            self._retained_version += 1
            self._digest_dirty = self._send_control is not None

    def _kept(self, origin: str, oepoch: int) -> _Retained:
        """The retained messages of ``origin``'s ``oepoch``, made if new (the
        oldest epoch of that origin is then forgotten if too many are kept)."""
        kept = self._retained.get((origin, oepoch))
        if kept is None:
            epochs = [k for k in self._retained if k[0] == origin]
            if len(epochs) >= self.cfg.epochs_per_origin:
                evicted = min(epochs, key=lambda k: k[1])
                del self._retained[evicted]
                self._stable.pop(evicted, None)
            kept = self._retained[(origin, oepoch)] = _Retained()
        return kept

    def saw_epoch(self, origin: str, epoch: int) -> None:
        """Note that ``origin`` has reached ``epoch``, which makes older ones dead."""
        if epoch > self._newest_epoch.get(origin, 0):
            self._newest_epoch[origin] = epoch

    def replay_to(self, peer: str) -> int:
        """Send ``peer``'s new incarnation the retained messages it may lack."""
        self._digest_dirty = self._send_control is not None and bool(self._retained)
        sender = self.senders.get(peer)
        if sender is None or not self._custody:
            return 0
        count = 0
        for (origin, oepoch), kept in self._retained.items():
            floor = self._known_floor(origin, oepoch)
            for oseq, (meta, body) in kept.items.items():
                key = (origin, oepoch, oseq)
                spread = self._open.get(key)
                if spread is not None:
                    index = oseq - spread.key[2]
                    self._spreading[key] = spread
                    spread.unreceived[index] += 1
                    spread.left[index] += 1
                    sender.send_run([meta], [body], spread, True, index)
                elif oseq > floor:
                    sender.send(meta, body)
                else:
                    continue
                count += 1
        if count:
            self.event(EventKind.REPLAY, {"peer": peer, "count": count})
        return count

    def _known_floor(self, origin: str, oepoch: int) -> int:
        """The highest stable floor this node knows for ``origin``'s ``oepoch``
        (its own, for this incarnation's messages)."""
        if origin == self.id and oepoch == self.inc:
            oldest = self._oldest_alive()
            return oldest - 1 if oldest is not None else self._own_seq
        return self._stable.get((origin, oepoch), 0)

    def peer_failed(self, peer: str) -> int:
        """``peer`` restarted or is suspected: flood again what it may have cut off.

        Only with relay trees (flooding already sends every copy on every
        link). Every retained message above its origin's stable floor whose
        origin is ``peer``, or which reached this node through ``peer`` as its
        tree parent, goes once more to every out-neighbour, untracked:
        each receiver's own custody carries it on, and a receiver that has it
        passes the repair on once. See "Relay trees" above.
        """
        tree = self._tree
        if tree is None or not self._custody:
            return 0
        count = 0
        for (origin, oepoch), kept in self._retained.items():
            if origin != peer and tree.parent.get(origin) != peer:
                continue
            floor = self._stable.get((origin, oepoch), 0)
            for oseq, (meta, body) in kept.items.items():
                if oseq <= floor or oseq in kept.repaired:
                    continue
                kept.repaired.add(oseq)
                repair = meta._replace(repair=True)
                # To every out-neighbour, ``peer`` too: a restarted one floods
                # it on, and where ``peer`` is the only way on (a line), it must.
                for sender in self.senders.values():
                    sender.send(repair, body)
                count += 1
        if count:
            self.stats.repaired += count
            self.event(EventKind.REPAIR, {"peer": peer, "count": count})
        return count

    # ------------------------------------------------------------- custody
    def on_received(self, spread: Spread, index: int, count: int, now: float) -> None:
        """One copy each of messages ``index .. index+count-1`` of ``spread``
        reached its receiver's upper layer; a message all of whose copies did
        releases the duplicates held for it (see "Echoes")."""
        unreceived = spread.unreceived
        origin, oepoch, first = spread.key
        held = spread.held
        for i in range(index, index + count):
            unreceived[i] -= 1
            if unreceived[i] == 0:
                self._spreading.pop((origin, oepoch, first + i), None)
                if held:
                    for upstream in held.pop(i, ()):
                        self._release(upstream, now)

    def on_released(self, spread: Spread, index: int, count: int, now: float) -> None:
        """One copy each of messages ``index .. index+count-1`` of ``spread`` was
        released downstream; a message none of whose copies is left unreleased
        is released upstream, or, if it is this node's own, leaves the window."""
        left = spread.left
        origin, oepoch, first = spread.key
        upstream = spread.upstream
        opened = self._open
        start = -1  # the first of a stretch of messages just freed
        for i in range(index, index + count + 1):
            freed = False
            if i < index + count:
                left[i] -= 1
                if left[i] == 0:
                    freed = True
                    opened.pop((origin, oepoch, first + i), None)
                    if upstream is None:
                        self._alive.pop(first + i, None)
            if freed and start < 0:
                start = i
            elif not freed and start >= 0:
                if upstream is not None:
                    src, inc, seq = upstream
                    self._release_run((src, inc, seq + start), i - start, now)
                start = -1

    def _release(self, upstream: Upstream, now: float) -> None:
        src, inc, seq = upstream
        receiver = self.receivers.get(src)
        if receiver is not None:
            receiver.release(inc, seq, now)

    def _release_run(self, upstream: Upstream, count: int, now: float) -> None:
        """Release the ``count`` consecutive items from ``upstream`` on."""
        src, inc, seq = upstream
        receiver = self.receivers.get(src)
        if receiver is not None:
            receiver.release_range(inc, seq, seq + count - 1, now)

    # ------------------------------------------------------------- timers
    def _skip_due(self, stream_key: tuple[str, int], stream: _Stream) -> float:
        """When the gap at the head of ``stream`` may be given up (or never).

        A node that never restarted gives up a gap only once the stable floor
        has passed it (one it has not passed is still in some node's custody),
        and only ``holdback_timeout`` after the gap opened: the floor can pass
        a copy still on its way (see "Stable floor" above). A restarted
        incarnation may face gaps its predecessor filled, which nobody sends
        again: it gives up a gap ``rto_max`` after it first saw the floor pass
        it, and any gap ``holdback_timeout`` after it opened (the origin may
        have fallen silent). It does not skip at once: copies multicast after
        its crash that the floor passed early are on their way, resent by its
        in-neighbours as soon as they learn its new incarnation (the sweep
        found one that came in the same batch as the floor that passed it,
        and one 1.3 ms later).
        """
        if not stream.waiting:
            return _NEVER
        if self.restarted:
            return min(stream.since + self.cfg.holdback_timeout, stream.passed + self.cfg.rto_max)
        passed = self._stable.get(stream_key, 0) >= stream.next
        return stream.since + self.cfg.holdback_timeout if passed else _NEVER

    def tick(self, now: float) -> None:
        """Give up the holdback gaps whose time has come (see :meth:`_skip_due`);
        send digests and pull what neighbours' digests show missing."""
        if now >= self._digest_timer():
            self._digest_due = now + self.cfg.digest_interval
            if self._digest_dirty:
                self._send_digests()
            if self._claims:
                self._pull(now)
        if not self._streams:
            return
        for stream_key, stream in list(self._streams.items()):
            if now >= self._skip_due(stream_key, stream):
                upto = min(stream.waiting)
                stable = self._stable.get(stream_key, 0)
                if self.restarted and stable >= stream.next:
                    # What the floor passed goes at once; a gap above it waits on.
                    upto = stable + 1
                self._skip(stream_key, stream, upto, now)

    def next_deadline(self) -> float:
        due = self._digest_timer()
        for stream_key, stream in self._streams.items():
            due = min(due, self._skip_due(stream_key, stream))
        return due

    # ------------------------------------------------------------- digests and pulls
    def _digest_timer(self) -> float:
        """When digests or pulls next need a turn: never while there is nothing to do."""
        return self._digest_due if self._digest_dirty or self._claims else _NEVER

    def _send_digests(self) -> None:
        """Tell every connected out-neighbour what this node retains, if that changed."""
        assert self._send_control is not None
        if not self._retained:
            self._digest_dirty = False
            return
        version = self._retained_version
        meta: Meta | None = None
        waiting = False
        for peer, sender in self.senders.items():
            if not sender.connected:
                waiting = True
                continue
            mark = (version, sender.peer_inc)
            if self._digest_sent.get(peer) == mark:
                continue
            if meta is None:
                # Only what lies above the floor this node knows: what is at
                # or below it is settled, and a neighbour that restarted must
                # not be offered it (it would deliver it again).
                claims: Claims = {}
                for key, kept in self._retained.items():
                    floor = self._known_floor(*key)  # once per origin epoch, not per message
                    claims[key] = ranges_of(k for k in kept.items if k > floor)
                meta = to_meta(DIGEST, claims)
            self._send_control(peer, meta, b"")
            self._digest_sent[peer] = mark
        self._digest_dirty = waiting

    def on_digest(self, src: str, meta: Meta, now: float) -> bool:
        """Keep ``src``'s digest; False if it is malformed."""
        claims = from_meta(meta)
        if claims is None:
            return False
        if self._custody:
            self._claims[src] = (now, claims)
        return True

    def _pull(self, now: float) -> None:
        """Ask each neighbour for what its digest, at least an interval old, shows
        this node lacks above the stable floor (see zmqcast.core.digest)."""
        assert self._send_control is not None
        cfg = self.cfg
        pulled = self._pulled
        for key, at in list(pulled.items()):
            if now - at >= cfg.rto_max:
                del pulled[key]
        for peer, (at, claims) in list(self._claims.items()):
            if now - at < cfg.digest_interval:
                continue
            want, keep = missing(
                claims, self.dedup.record_of, self._stable, pulled, cfg.window, cfg.reorder_limit
            )
            if keep:
                self._claims[peer] = (at, keep)
            else:
                del self._claims[peer]
            if not want:
                continue
            count = 0
            for (origin, oepoch), spans in want.items():
                for lo, hi in spans:
                    for oseq in range(lo, hi + 1):
                        pulled[(origin, oepoch, oseq)] = now
                    count += hi - lo + 1
            self._send_control(peer, to_meta(PULL, want), b"")
            self.event(EventKind.PULL, {"peer": peer, "count": count})

    def on_pull(self, src: str, meta: Meta) -> bool:
        """Send ``src`` the retained copies it asks for; False if the item is malformed."""
        claims = from_meta(meta)
        if claims is None:
            return False
        sender = self.senders.get(src)
        if sender is None or not self._custody:
            return True
        for key, spans in claims.items():
            kept = self._retained.get(key)
            if kept is None:
                continue
            items = kept.items
            floor = self._known_floor(*key)
            for lo, hi in spans:
                # The ranges come merged, and are clipped to what is retained
                # above the floor: each copy goes once, whatever the pull says.
                first, last = max(lo, kept.low, floor + 1), min(hi, kept.high)
                for oseq in range(first, last + 1):
                    copy = items.get(oseq)
                    if copy is not None:
                        held, body = copy
                        # A retained repair copy goes as a plain one: the puller
                        # passes it on like a replay, not as a new repair flood.
                        sender.send(held._replace(repair=False) if held.repair else held, body)
                        self.stats.served += 1
        return True

    def busy(self) -> bool:
        """Claims not yet pulled, or a connected out-neighbour without this
        node's current digest: repair may still come. (A neighbour that is
        down gets the digest when it is back; it does not keep this node busy.)"""
        if self._claims:
            return True
        if not self._digest_dirty or not self._retained:
            return False
        mark = self._retained_version
        return any(
            s.connected and self._digest_sent.get(p) != (mark, s.peer_inc)
            for p, s in self.senders.items()
        )

    # ------------------------------------------------------------- inspection
    def sizes(self) -> dict[str, int]:
        """Sizes of this layer's state that must stay bounded."""
        return {
            "dedup": self.dedup.size(),
            "custody": len(self._open),
            "holdback": sum(len(s.waiting) for s in self._streams.values()),
            "retained": sum(len(k.items) for k in self._retained.values()),
        }
