"""One node's protocol core: channels, Lamport clock, flooding multicast, liveness.

This is the sans-IO state machine that both drivers run. Every entry point takes
the current time and returns an :class:`Outputs` bundle: frames to send,
deliveries for the application, trace events. Nothing here touches a socket, a
clock or a global random generator. The multicast rules live in
:mod:`zmqcast.core.flood`; this module wires them to the channels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import FRAME_HEADROOM, ChannelMode, CoreConfig
from zmqcast.core.detector import FailureDetector
from zmqcast.core.digest import DIGEST, PULL
from zmqcast.core.events import EventKind, Outputs
from zmqcast.core.flood import Flooding, Spread
from zmqcast.core.frames import (
    CONTROL_LANE,
    DATA_LANE,
    Ack,
    Data,
    Frame,
    Heartbeat,
    Meta,
    MulticastMeta,
)
from zmqcast.core.receiver import ReceiveChannel
from zmqcast.core.sender import SendChannel
from zmqcast.core.seqset import SeqSet
from zmqcast.core.snapshot import APP, MARKER, App, SnapshotLayer, Variant
from zmqcast.topology import RelayTree


class Backpressure(Exception):
    """The node cannot take a new multicast now: a window is full."""


@dataclass(frozen=True, slots=True)
class Footprint:
    """The sizes of every structure that could grow with traffic."""

    retransmit: int
    reorder: int
    receive_sets: int
    dedup: int
    custody: int
    holdback: int
    retained: int
    snapshot_log: int = 0
    snapshot_state: int = 0

    def total(self) -> int:
        return sum(dataclasses.astuple(self))


@dataclass(frozen=True, slots=True)
class CoreStatus:
    """What :meth:`NodeCore.status` reports."""

    lamport: int
    connected: bool
    unreleased: int
    """Items on outgoing data channels not yet released by their receivers."""
    ctl_unreleased: int
    """The same on the control lane (snapshot markers, counts, records)."""
    retransmits: int
    holdback: int
    snapshots_active: int
    lost: int = 0
    """Items the receivers declared lost (lossy channels only)."""
    items_sent: int = 0
    """Items queued on outgoing data channels (multicast copies, relays,
    repairs, app messages, markers); retransmissions are not counted."""


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
        restarted: bool = False,
        members: Sequence[str] = (),
        routes: Mapping[str, str] | None = None,
        tree: RelayTree | None = None,
    ) -> None:
        """``echo_to`` lists the out-neighbours to which copies received from them
        are echoed back (:func:`zmqcast.topology.echo_neighbours` computes it);
        ``restarted`` says this incarnation follows a crashed one, which allows
        it to skip holdback gaps its predecessor may have filled. ``members``
        (every node of the cluster) and ``routes`` (next hop to each,
        :func:`zmqcast.topology.next_hops`) are what snapshots need to collect
        records at their initiator. ``tree`` is this node's place in every
        origin's relay tree (:func:`zmqcast.topology.relay_tree`); without
        one, multicasts flood."""
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
        # The control lane: a fifo channel each way with every neighbour.
        ctl_cfg = dataclasses.replace(cfg, mode=ChannelMode.FIFO)
        self.ctl_senders = {
            p: SendChannel(node_id, p, inc, ctl_cfg, now, CONTROL_LANE, idle_heartbeats=False)
            for p in peers
        }
        self.ctl_receivers = {
            p: ReceiveChannel(p, node_id, inc, ctl_cfg, CONTROL_LANE) for p in peers
        }
        self._peer_incs: dict[str, int] = {}
        self.flood = Flooding(
            node_id,
            inc,
            cfg,
            self.senders,
            self.receivers,
            self.clock,
            self.event,
            frozenset(p for p in echo_to if p in self.senders),
            restarted,
            tree,
            self._send_ctl_item,
        )
        self.snapshots = SnapshotLayer(
            node_id,
            inc,
            out_peers,
            in_peers,
            members or [node_id, *peers],
            routes if routes is not None else {p: p for p in peers},
            cfg,
            self.clock,
            self.event,
            self._send_data_item,
            self._send_ctl_item,
        )
        self.snapshots.peer_incs = self._peer_incs
        self.snapshots.restarted = restarted
        self.unknown_frames = 0
        self.max_body = cfg.max_frame_bytes - FRAME_HEADROOM
        """The largest body a message may have: one alone in a frame must fit."""
        self._now = now
        self._out = Outputs()
        self._deadline: float | None = None
        """The cached answer of :meth:`next_deadline`; None once an input came."""

    def _send_data_item(self, peer: str, meta: Meta, body: bytes) -> None:
        self.senders[peer].send(meta, body)

    def _send_ctl_item(self, peer: str, meta: Meta, body: bytes) -> None:
        self.ctl_senders[peer].send(meta, body)

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
            EventKind.START,
            {
                "out": list(self.senders),
                "in": list(self.receivers),
                "mode": self.cfg.mode.value,
                "trace": "full" if self.cfg.trace_messages else "lean",
            },
        )
        return self._tick_body(now)

    def can_multicast(self) -> bool:
        """True if :meth:`multicast` would accept a message now.

        No outgoing channel may hold ``window`` items or more, and the origin
        window slides: message ``n`` may not be sent while message
        ``n - window`` of this node is still unreleased anywhere.
        """
        return self.flood.can_multicast()

    def _check_size(self, body: bytes) -> None:
        """Refuse a body that no frame could carry: it would be resent forever."""
        if len(body) > self.max_body:
            raise ValueError(f"body: {len(body)} bytes, more than a frame carries: {self.max_body}")

    def multicast(self, body: bytes, now: float) -> Outputs:
        """Send ``body`` to the group; raise :class:`Backpressure` if a window is full,
        ``ValueError`` if the body is larger than ``max_body``."""
        self._check_size(body)
        if not self.flood.can_multicast():
            raise Backpressure(self.id)
        self._now = now
        self.flood.multicast(body)
        return self._finish()

    @property
    def last_multicast(self) -> tuple[str, int, int]:
        """The id ``(origin, epoch, seq)`` of this incarnation's latest multicast."""
        return (self.id, self.inc, self.flood.own_seq)

    @property
    def lamport(self) -> int:
        """The Lamport clock's current value."""
        return self.clock.value

    @property
    def out_peers(self) -> tuple[str, ...]:
        """The out-neighbours: where multicasts go and :meth:`send_app` may send."""
        return tuple(self.senders)

    def connected(self) -> bool:
        """True once every outgoing data channel knows its peer's incarnation."""
        return all(s.connected for s in self.senders.values())

    def idle(self) -> bool:
        """True when nothing this node sent on a data channel is unreleased."""
        return all(s.unreleased == 0 for s in self.senders.values())

    def settled(self) -> bool:
        """Idle, no snapshot under way here, and no control item unreleased."""
        return (
            self.idle()
            and not self.snapshots.active
            and not any(s.unreleased for s in self.ctl_senders.values())
        )

    def suspects(self) -> list[str]:
        """The peers this node currently suspects (silent past ``suspect_after``)."""
        return sorted(p for p, suspected in self.detector.suspected.items() if suspected)

    def waiting_on(self) -> list[str]:
        """The out-neighbours holding items of ours (data or control) not yet released."""
        waiting = {p for p, s in self.senders.items() if s.unreleased}
        waiting.update(p for p, s in self.ctl_senders.items() if s.unreleased)
        return sorted(waiting)

    def status(self) -> CoreStatus:
        """Counters a driver reports (admin ``status``, ``stop`` events, the API)."""
        senders = self.senders.values()
        return CoreStatus(
            lamport=self.clock.value,
            connected=self.connected(),
            unreleased=sum(s.unreleased for s in senders),
            ctl_unreleased=sum(s.unreleased for s in self.ctl_senders.values()),
            retransmits=sum(s.stats.retransmits for s in senders),
            holdback=self.flood.sizes()["holdback"],
            snapshots_active=self.snapshots.active,
            lost=sum(r.stats.lost for r in self.receivers.values()),
            items_sent=sum(s.stats.items for s in senders),
        )

    def quiescent(self) -> bool:
        """Nothing left here to send, repair or report.

        Connected and :meth:`settled`, nothing buffered at a receiver, and on
        lossy channels no receiver still waiting out a gap or an ack (a loss
        there is declared, not repaired, so it is news until then).
        """
        if not (self.connected() and self.settled()) or self.flood.busy():
            return False
        lossy = self.cfg.mode is ChannelMode.LOSSY
        for r in self.receivers.values():
            if r.buffered or (lossy and r.next_deadline() < float("inf")):
                return False
        return True

    def multicast_batch(self, bodies: Sequence[bytes], now: float) -> tuple[int, Outputs]:
        """Multicast the leading ``bodies`` that fit the windows; return how many.

        They are queued first and flushed once, so they share data frames (up
        to ``max_batch`` items each): this is how batching happens under load,
        while a lone message still leaves at once.
        """
        for body in bodies:  # all or none: a refused batch leaves nothing queued
            self._check_size(body)
        self._now = now
        flood = self.flood
        taken = min(len(bodies), flood.room())
        flood.multicast_many(bodies[:taken])
        return taken, self._finish()

    def attach(self, app: App, received: Mapping[tuple[str, int], SeqSet] | None = None) -> None:
        """Give the snapshot layer the application whose state it records.

        ``received`` names the app messages earlier incarnations already
        applied (see :mod:`zmqcast.runtime.ledger`); copies of them are
        acknowledged but not applied again.
        """
        self.snapshots.app = app
        if received is not None:
            self.snapshots.prior_received = received

    def can_send_app(self, dst: str) -> bool:
        """True if :meth:`send_app` to ``dst`` fits the channel window now."""
        return self.senders[dst].has_room()

    def send_app(self, dst: str, body: bytes, now: float) -> Outputs:
        """Send one app message to out-neighbour ``dst``; raise Backpressure if full."""
        self._check_size(body)
        if not self.senders[dst].has_room():
            raise Backpressure(self.id)
        self._now = now
        self.snapshots.send_app(dst, body)
        return self._finish()

    def snapshot(self, variant: Variant, now: float) -> tuple[str, Outputs]:
        """Initiate a snapshot here; return its id and what to do."""
        if not variant.supports(self.cfg.mode):
            raise ValueError(f"{variant.value} does not work over {self.cfg.mode.value} channels")
        if variant is Variant.SENDER_LOG and not self.cfg.sender_log:
            raise ValueError(
                "sender-log needs nodes that keep sender logs "
                "(lossy channels, or started with --variant sender-log or all)"
            )
        self._now = now
        sid = self.snapshots.initiate(variant, now)
        return sid, self._finish()

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
        """The earliest time at which :meth:`tick` has work to do.

        Timers move only when an input moves them (this is a state machine:
        frames, calls and ``now`` in), so the answer is kept until the next
        input. A poll loop asks once for its timeout and once to see whether
        to tick; at 32 nodes each answer walks 124 channels (about 28 µs).
        """
        due = self._deadline
        if due is None:
            due = self._deadline = self._earliest_timer()
        return due

    def _earliest_timer(self) -> float:
        due = min(
            self.detector.next_deadline(),
            self.flood.next_deadline(),
            self.snapshots.next_deadline(),
        )
        for s in self.senders.values():
            due = min(due, s.next_deadline())
        for r in self.receivers.values():
            due = min(due, r.next_deadline())
        for s in self.ctl_senders.values():
            due = min(due, s.next_deadline())
        for r in self.ctl_receivers.values():
            due = min(due, r.next_deadline())
        return due

    # ------------------------------------------------------------- internals
    def _tick_body(self, now: float) -> Outputs:
        for s in self.senders.values():
            s.tick(now, self)
        for r in self.receivers.values():
            r.tick(now, self)
        for s in self.ctl_senders.values():
            s.tick(now, self)
        for r in self.ctl_receivers.values():
            r.tick(now, self)
        self.flood.tick(now)
        self.snapshots.tick(now)
        for peer in self.detector.poll(now):
            self.event(EventKind.SUSPECT, {"peer": peer})
            self.flood.peer_failed(peer)
        return self._finish()

    def _finish(self) -> Outputs:
        now = self._now
        for s in self.senders.values():
            s.flush(now, self)
        for r in self.receivers.values():
            r.flush(self)
        for s in self.ctl_senders.values():
            s.flush(now, self)
        for r in self.ctl_receivers.values():
            r.flush(self)
        out = self._out
        senders = self.senders
        for f in out.frames:
            # What another channel sent a peer stands in for an idle heartbeat.
            if f.lane != DATA_LANE or type(f) is Ack:
                sender = senders.get(f.dst)
                if sender is not None:
                    sender.note_contact(now, f.dinc)
        snapshots = self.snapshots
        if snapshots.files:
            out.files = snapshots.files
            snapshots.files = []
        flood = self.flood
        if flood.deliveries:
            out.deliveries = flood.deliveries
            flood.deliveries = []
        self._out = Outputs()
        self._deadline = None  # an input just moved the timers
        return out

    def _dispatch(self, frame: Frame, now: float) -> None:
        if frame.dst != self.id:
            self.unknown_frames += 1
            return
        known = self._peer_incs.get(frame.src, 0)
        if frame.inc > known:
            self._peer_incs[frame.src] = frame.inc
            if known:
                self.snapshots.peer_restarted(frame.src, now)
                self.flood.peer_failed(frame.src)
        if frame.lane == CONTROL_LANE:
            self._dispatch_control(frame, now)
            return
        if isinstance(frame, Ack):
            sender = self.senders.get(frame.src)
            if sender is None:
                self.unknown_frames += 1
                return
            self._heard(frame.src, now)
            outcome = sender.on_ack(frame, now, self)
            flood = self.flood
            if outcome.new_peer_epoch:
                flood.saw_epoch(frame.src, frame.inc)
                if outcome.peer_restarted:
                    flood.replay_to(frame.src)
            for tag, index, count in outcome.received:
                flood.on_received(tag, index, count, now)
            for tag, index, count in outcome.released:
                if type(tag) is Spread:
                    flood.on_released(tag, index, count, now)
            return
        receiver = self.receivers.get(frame.src)
        if receiver is None:
            self.unknown_frames += 1
            return
        self._heard(frame.src, now)
        self.flood.saw_epoch(frame.src, frame.inc)
        if isinstance(frame, Heartbeat):
            receiver.on_heartbeat(frame, now, self)
            return
        assert isinstance(frame, Data)
        items = receiver.on_data(frame, now, self)
        if not items:
            return
        flood = self.flood
        # Multicasts go to the flood layer a stretch at a time, so that runs
        # survive an app message or a marker between them; the order of
        # everything stays the channel's.
        start = 0
        for i, item in enumerate(items):
            meta = item.meta
            if isinstance(meta, MulticastMeta):
                continue
            if start < i:
                flood.on_items(receiver, items[start:i], now)
            start = i + 1
            kind = meta.get("t")
            if kind == APP:
                if not self.snapshots.on_app(
                    frame.src, receiver.peer_inc, item, receiver.name, now
                ):
                    self.snapshots.bad_items += 1
                receiver.release(receiver.peer_inc, item.seq, now)
            elif kind == MARKER:
                if not self.snapshots.on_marker(frame.src, item, now):
                    self.snapshots.bad_items += 1
                receiver.release(receiver.peer_inc, item.seq, now)
            else:
                flood.on_item(receiver, item, now)
        if start < len(items):
            flood.on_items(receiver, items[start:] if start else items, now)

    def _dispatch_control(self, frame: Frame, now: float) -> None:
        """Frames of the control lane: snapshot markers, counts and records."""
        if isinstance(frame, Ack):
            sender = self.ctl_senders.get(frame.src)
            if sender is None:
                self.unknown_frames += 1
                return
            sender.on_ack(frame, now, self)
            return
        receiver = self.ctl_receivers.get(frame.src)
        if receiver is None:
            self.unknown_frames += 1
            return
        if isinstance(frame, Heartbeat):
            receiver.on_heartbeat(frame, now, self)
            return
        flood = self.flood
        for item in receiver.on_data(frame, now, self):
            meta = item.meta
            kind = meta.get("t") if isinstance(meta, dict) else None
            if kind == DIGEST and isinstance(meta, dict):
                if not flood.on_digest(frame.src, meta, now):
                    flood.stats.bad_items += 1
            elif kind == PULL and isinstance(meta, dict):
                if not flood.on_pull(frame.src, meta):
                    flood.stats.bad_items += 1
            elif not self.snapshots.on_control(frame.src, item, now):
                self.snapshots.bad_items += 1
            receiver.release(receiver.peer_inc, item.seq, now)

    def _heard(self, peer: str, now: float) -> None:
        if self.detector.heard(peer, now):
            self.event(EventKind.ALIVE, {"peer": peer})

    # ------------------------------------------------------------- inspection
    def footprint(self) -> Footprint:
        """Current sizes of the buffers that must stay bounded."""
        sizes = self.flood.sizes()
        return Footprint(
            retransmit=sum(s.unreleased for s in self.senders.values()),
            reorder=sum(r.buffered for r in self.receivers.values()),
            receive_sets=sum(len(r.received) + len(r.released) for r in self.receivers.values()),
            dedup=sizes["dedup"],
            custody=sizes["custody"],
            holdback=sizes["holdback"],
            retained=sizes["retained"],
            **self.snapshots.sizes(),
        )
