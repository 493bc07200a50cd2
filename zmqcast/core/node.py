"""One node's protocol core: channels, Lamport clock, flooding multicast, liveness.

This is the sans-IO state machine that both drivers run. Every entry point takes
the current time and returns an :class:`Outputs` bundle: frames to send,
deliveries for the application, trace events. Nothing here touches a socket, a
clock or a global random generator.

Flooding with custody
---------------------
A node delivers a multicast on first receipt and relays it to every
out-neighbour except the one it came from. It *releases* the incoming item (so
its sender may free it) only once every relay of it has been released
downstream. Two things follow:

- No message is lost when a relaying node crashes: its upstream still holds
  the item and sends it again to the node's next incarnation.
- Memory is bounded: an origin may hold at most ``window`` unreleased messages,
  and a message stays unreleased at the origin until every copy of it has been
  released everywhere, so at most ``window`` messages per origin are alive in
  the whole cluster. Relays bypass the window (they never wait), which rules
  out the cyclic waits that bounded relay buffers would create.

An origin that crashes mid-multicast has no upstream to resend for it. Where
the topology lets a node reach every other node without passing through the
origin, its relays already spread the message. Where it does not (a line, two
rings joined by a bridge), the node also *echoes* a message received straight
from its origin back to that origin (``echo_to``). The origin holds each echo
unreleased until all of its own sends of that message were received, so if it
crashes first, the echo is resent to its next incarnation, which floods it on.
Holding depends only on receipts, never on releases, so no cyclic wait arises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import CoreConfig
from zmqcast.core.dedup import Deduplicator, DedupOutcome
from zmqcast.core.detector import FailureDetector
from zmqcast.core.events import Delivery, Outputs, channel_name
from zmqcast.core.frames import Ack, Data, Frame, Heartbeat, Item
from zmqcast.core.receiver import ReceiveChannel
from zmqcast.core.sender import SendChannel

MULTICAST = "mc"


class Backpressure(Exception):
    """The node cannot take a new multicast now: an outgoing window is full."""


@dataclass(slots=True)
class _Custody:
    """An incoming item whose relays are not all released downstream yet."""

    src: str
    inc: int
    seq: int
    pending: int


@dataclass(slots=True)
class _Own:
    """One of this node's own multicasts whose sends are not all received yet."""

    oseq: int
    unreceived: int
    held: list[tuple[str, int, int]] = field(default_factory=list)
    """Echoes of it that came back, each ``(src, inc, seq)``, released at 0."""


@dataclass(slots=True)
class NodeStats:
    multicasts: int = 0
    delivered: int = 0
    duplicates: int = 0
    relayed: int = 0
    stale_epoch: int = 0
    unknown_peer: int = 0
    bad_items: int = 0
    open_custody: int = 0


@dataclass(frozen=True, slots=True)
class Footprint:
    """The sizes of every structure that could grow with traffic."""

    retransmit: int
    reorder: int
    receive_sets: int
    dedup: int
    custody: int
    extra: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return self.retransmit + self.reorder + self.receive_sets + self.dedup + self.custody


class NodeCore:
    """The protocol state of one incarnation ``inc`` of node ``node_id``."""

    def __init__(
        self,
        node_id: str,
        inc: int,
        out_peers: Sequence[str],
        in_peers: Sequence[str],
        cfg: CoreConfig,
        now: float,
        echo_to: Sequence[str] = (),
    ) -> None:
        """``echo_to`` lists the out-neighbours to which a message received
        straight from them as its origin is echoed back (see the module doc;
        :func:`zmqcast.topology.echo_neighbours` computes it)."""
        if inc < 1:
            raise ValueError("inc: an incarnation number starts at 1")
        self.id = node_id
        self.inc = inc
        self.cfg = cfg
        self.clock = LamportClock()
        self.senders = {p: SendChannel(node_id, p, inc, cfg, now) for p in out_peers}
        self.receivers = {p: ReceiveChannel(p, node_id, inc, cfg) for p in in_peers}
        peers = list(dict.fromkeys([*out_peers, *in_peers]))
        self.detector = FailureDetector(peers, cfg.suspect_after, now)
        self.dedup = Deduplicator(cfg.window, cfg.epochs_per_origin)
        self.stats = NodeStats()
        self._custody_enabled = cfg.mode.reliable
        self._echo_to = frozenset(p for p in echo_to if p in self.senders)
        self._own: dict[int, _Own] = {}
        self._own_seq = 0
        self._now = now
        self._out = Outputs()

    # ------------------------------------------------------------- recorder
    def frame(self, frame: Frame) -> None:
        self._out.frames.append(frame)

    def event(self, kind: str, fields: dict[str, Any]) -> None:
        ev: dict[str, Any] = {
            "node": self.id,
            "inc": self.inc,
            "kind": kind,
            "lamport": self.clock.value,
            "time": round(self._now, 6),
        }
        ev.update(fields)
        self._out.events.append(ev)

    # ------------------------------------------------------------- entry points
    def start(self, now: float) -> Outputs:
        """Announce this incarnation and open the handshakes with every peer."""
        self._now = now
        self.event(
            "start",
            {"out": list(self.senders), "in": list(self.receivers), "mode": self.cfg.mode.value},
        )
        return self._tick_body(now)

    def can_multicast(self) -> bool:
        """True if :meth:`multicast` would accept a message now."""
        return all(s.has_room() for s in self.senders.values())

    def multicast(self, body: bytes, now: float) -> Outputs:
        """Send ``body`` to the group; raise :class:`Backpressure` if a window is full."""
        if not self.can_multicast():
            raise Backpressure(self.id)
        self._now = now
        ts = self.clock.tick_send()
        self._own_seq += 1
        seq = self._own_seq
        meta = {"t": MULTICAST, "o": self.id, "oe": self.inc, "os": seq, "ts": ts}
        self.dedup.mark_own(self.id, self.inc, seq)
        self.stats.multicasts += 1
        self.event(
            "multicast", {"origin": self.id, "oepoch": self.inc, "oseq": seq, "size": len(body)}
        )
        if self._custody_enabled and self.senders:
            own = _Own(seq, len(self.senders))
            self._own[seq] = own
            for sender in self.senders.values():
                sender.send(meta, body, own, want_receipt=True)
        else:
            for sender in self.senders.values():
                sender.send(meta, body)
        return self._finish()

    def receive(self, frame: Frame, now: float) -> Outputs:
        """Process one frame from the network."""
        self._now = now
        self._dispatch(frame, now)
        return self._finish()

    def receive_many(self, frames: Sequence[Frame], now: float) -> Outputs:
        """Process several frames at once, so that replies and relays are batched."""
        self._now = now
        for frame in frames:
            self._dispatch(frame, now)
        return self._finish()

    def tick(self, now: float) -> Outputs:
        """Fire every timer that is due at ``now``."""
        self._now = now
        return self._tick_body(now)

    def next_deadline(self) -> float:
        """The earliest time at which :meth:`tick` has work to do."""
        due = self.detector.next_deadline()
        for s in self.senders.values():
            due = min(due, s.next_deadline())
        for r in self.receivers.values():
            due = min(due, r.next_deadline())
        return due

    # ------------------------------------------------------------- internals
    def _tick_body(self, now: float) -> Outputs:
        for s in self.senders.values():
            s.tick(now, self)
        for r in self.receivers.values():
            r.tick(now, self)
        for peer in self.detector.poll(now):
            self.event("suspect", {"peer": peer})
        return self._finish()

    def _finish(self) -> Outputs:
        now = self._now
        for s in self.senders.values():
            s.flush(now, self)
        for r in self.receivers.values():
            r.flush(self)
        out = self._out
        self._out = Outputs()
        return out

    def _dispatch(self, frame: Frame, now: float) -> None:
        if frame.dst != self.id:
            self.stats.unknown_peer += 1
            return
        if isinstance(frame, Ack):
            sender = self.senders.get(frame.src)
            if sender is None:
                self.stats.unknown_peer += 1
                return
            self._heard(frame.src, now)
            outcome = sender.on_ack(frame, now, self)
            for tag in outcome.received:
                self._own_received(tag, now)
            for tag in outcome.released:
                if type(tag) is _Custody:
                    self._relay_released(tag, now)
            return
        receiver = self.receivers.get(frame.src)
        if receiver is None:
            self.stats.unknown_peer += 1
            return
        self._heard(frame.src, now)
        if isinstance(frame, Heartbeat):
            receiver.on_heartbeat(frame, now, self)
            return
        assert isinstance(frame, Data)
        for item in receiver.on_data(frame, now, self):
            self._on_item(receiver, item, now)

    def _heard(self, peer: str, now: float) -> None:
        if self.detector.heard(peer, now):
            self.event("alive", {"peer": peer})

    def _on_item(self, receiver: ReceiveChannel, item: Item, now: float) -> None:
        meta = item.meta
        if meta.get("t") == MULTICAST:
            try:
                origin, oepoch, oseq, ts = meta["o"], meta["oe"], meta["os"], meta["ts"]
            except KeyError:
                origin = None
            valid = (
                isinstance(origin, str)
                and type(oepoch) is int
                and type(oseq) is int
                and type(ts) is int
                and oepoch >= 1
                and oseq >= 1
                and ts >= 1
            )
            if valid:
                self._on_multicast(receiver, item, origin, oepoch, oseq, ts, now)
                return
        self.stats.bad_items += 1
        receiver.release(receiver.peer_inc, item.seq, now)

    def _on_multicast(
        self,
        receiver: ReceiveChannel,
        item: Item,
        origin: str,
        oepoch: int,
        oseq: int,
        ts: int,
        now: float,
    ) -> None:
        src = receiver.src
        lamport = self.clock.tick_receive(ts)
        ids = {"origin": origin, "oepoch": oepoch, "oseq": oseq, "from": src}
        outcome = self.dedup.admit(origin, oepoch, oseq)
        if outcome != DedupOutcome.NEW:
            if outcome == DedupOutcome.STALE_EPOCH:
                self.stats.stale_epoch += 1
            self.stats.duplicates += 1
            self.event("duplicate", ids)
            own = self._own.get(oseq) if origin == self.id and oepoch == self.inc else None
            if own is not None:
                own.held.append((src, receiver.peer_inc, item.seq))
            else:
                receiver.release(receiver.peer_inc, item.seq, now)
            return
        self.stats.delivered += 1
        self.event(
            "deliver",
            {**ids, "ch": receiver.name, "cseq": item.seq, "ts": ts, "size": len(item.body)},
        )
        self._out.deliveries.append(Delivery(origin, oepoch, oseq, lamport, ts, src, item.body))
        targets = [p for p in self.senders if p != src or (p == origin and p in self._echo_to)]
        if not targets or not self._custody_enabled:
            receiver.release(receiver.peer_inc, item.seq, now)
            if not targets:
                return
            custody = None
        else:
            custody = _Custody(src, receiver.peer_inc, item.seq, len(targets))
            self.stats.open_custody += 1
        for peer in targets:
            self.senders[peer].send(item.meta, item.body, custody)
        self.stats.relayed += len(targets)

    def _own_received(self, tag: Any, now: float) -> None:
        own: _Own = tag
        own.unreceived -= 1
        if own.unreceived == 0:
            del self._own[own.oseq]
            for src, inc, seq in own.held:
                receiver = self.receivers.get(src)
                if receiver is not None:
                    receiver.release(inc, seq, now)

    def _relay_released(self, tag: Any, now: float) -> None:
        custody: _Custody = tag
        custody.pending -= 1
        if custody.pending == 0:
            self.stats.open_custody -= 1
            receiver = self.receivers.get(custody.src)
            if receiver is not None:
                receiver.release(custody.inc, custody.seq, now)

    # ------------------------------------------------------------- inspection
    def footprint(self) -> Footprint:
        """Current sizes of the buffers that must stay bounded."""
        return Footprint(
            retransmit=sum(s.unreleased for s in self.senders.values()),
            reorder=sum(r.buffered for r in self.receivers.values()),
            receive_sets=sum(len(r.received) + len(r.released) for r in self.receivers.values()),
            dedup=self.dedup.size(),
            custody=self.stats.open_custody + len(self._own),
        )

    def channel_name(self, peer: str, outgoing: bool) -> str:
        return channel_name(self.id, peer) if outgoing else channel_name(peer, self.id)
