"""Consistent global snapshots: Chandy-Lamport, Lai-Yang and sender-side logging.

The snapshotted application exchanges *app messages*: point-to-point messages
on one data channel, numbered per link and sender incarnation by ``n``. This
layer sends and receives them for the application, and runs any number of
snapshots over them at once. Each snapshot has an id ``<initiator>-<inc>-<k>``
and a variant:

``chandy-lamport`` (``fifo`` channels)
    Markers travel in the data stream. A node cuts (records its state) at
    initiation or at its first marker, then sends a marker on every outgoing
    channel before anything else. It records what arrives on each incoming
    channel between its cut and that channel's marker.

``lai-yang`` (reliable channels, in any order)
    App messages carry the snapshots their sender has cut (their colour). A
    message coloured with a snapshot the receiver has not cut makes it cut
    first. At its cut a node tells each out-neighbour, on the control lane, how
    many app messages it had sent on that channel; that message is coloured
    too, so neighbours turn red even if the node never sends again. A red node
    records the white messages it receives; an incoming channel is complete
    once the white messages received before and after the cut reach the count.

``sender-log`` (any channels, made for ``lossy``)
    Messages carry colours as above, and each node logs what it sends. At its
    cut a node freezes its log and sends every in-neighbour a backward marker
    on the control lane, listing the ``n`` it received from that neighbour
    before the cut. A marker for an uncut snapshot makes its receiver cut
    first. The state of channel ``A -> B`` is A's frozen log minus B's list.
    The control lane is in order, so by the time a marker arrives every
    earlier cut of its sender has reached this node too; entries the marker
    acknowledges can then leave the live log for good.

Every node sends its finished record to the initiator over the control lane,
hop by hop; the initiator assembles the global snapshot and tells every node
the snapshot is over (``fin``), after which nobody colours with it any more.
A peer restart or a timeout aborts a snapshot.

The layer is sans-IO like the rest of the core: it calls ``send_data`` and
``send_ctl`` to queue items on channels, ``event`` to trace, and returns
records for the driver to write.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.events import SnapshotFile, channel_name
from zmqcast.core.frames import Item, Meta
from zmqcast.core.seqset import SeqSet

APP = "ap"
"""``meta.t`` of an app message on a data channel."""
MARKER = "mk"
"""``meta.t`` of a Chandy-Lamport marker on a data channel."""
CONTROL = "sc"
"""``meta.t`` of a snapshot control item on the control lane."""
_NEVER = float("inf")


class Variant(StrEnum):
    CHANDY_LAMPORT = "chandy-lamport"
    LAI_YANG = "lai-yang"
    SENDER_LOG = "sender-log"

    def supports(self, mode: ChannelMode) -> bool:
        """Whether this variant is correct over channels of ``mode``."""
        if self is Variant.CHANDY_LAMPORT:
            return mode is ChannelMode.FIFO
        if self is Variant.LAI_YANG:
            return mode.reliable
        return True


DEFAULT_VARIANT = {
    ChannelMode.FIFO: Variant.CHANDY_LAMPORT,
    ChannelMode.UNORDERED: Variant.LAI_YANG,
    ChannelMode.LOSSY: Variant.SENDER_LOG,
}


class App(Protocol):
    """The application whose state is snapshotted."""

    def state(self) -> dict[str, Any]:
        """The local state to record at a cut (JSON-serialisable)."""
        ...

    def on_message(self, src: str, body: bytes) -> None:
        """Apply one app message received from ``src``."""
        ...

    def describe(self, body: bytes) -> dict[str, Any]:
        """Event fields for a message (the bank adds its ``amount``)."""
        ...

    def payload(self, body: bytes) -> Any:
        """The message as it appears in a record's channel state."""
        ...


@dataclass(frozen=True, slots=True)
class AppMessage:
    """One app message, as logged by its sender or recorded by its receiver."""

    src: str
    sinc: int
    dst: str
    n: int
    lamport: int
    body: bytes


@dataclass(slots=True)
class _Snap:
    """What one node knows and holds for one snapshot."""

    sid: str
    variant: Variant
    initiator: str
    deadline: float
    cut: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, list[AppMessage]] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    """Chandy-Lamport and Lai-Yang: in-neighbours whose channel is still open.
    Sender-log: out-neighbours whose backward marker has not come back."""
    expected: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Lai-Yang: in-neighbour -> (its incarnation, the white count it announced)."""
    white: dict[tuple[str, int], int] = field(default_factory=dict)
    """Lai-Yang: white messages received per in-neighbour incarnation, before
    (this incarnation's receipts, taken at the cut) and after the cut. Counts are
    per sender incarnation: a restarted sender numbers its messages afresh."""
    frozen: dict[str, dict[int, AppMessage]] = field(default_factory=dict)
    """Sender-log: the log per out-neighbour, as it was at the cut."""
    done: bool = False
    # Initiator only.
    started: float = 0.0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


STALE = "stale"
"""Abort reason: a restarted node joined a snapshot that had already ended."""


def parse_sid(sid: str) -> tuple[str, int, int] | None:
    """``(initiator, inc, k)`` of a snapshot id, or None if it is malformed."""
    head, sep, k = sid.rpartition("-")
    initiator, sep2, inc = head.rpartition("-")
    if not (sep and sep2 and initiator and inc.isdigit() and k.isdigit()):
        return None
    return initiator, int(inc), int(k)


SendItem = Callable[[str, Meta, bytes], None]
EventSink = Callable[[str, dict[str, Any]], None]


class SnapshotLayer:
    """App messages and snapshots for one node incarnation."""

    def __init__(
        self,
        node_id: str,
        inc: int,
        out_peers: Sequence[str],
        in_peers: Sequence[str],
        members: Sequence[str],
        routes: Mapping[str, str],
        cfg: CoreConfig,
        clock: LamportClock,
        event: EventSink,
        send_data: SendItem,
        send_ctl: SendItem,
    ) -> None:
        self.id = node_id
        self.inc = inc
        self.out_peers = list(out_peers)
        self.in_peers = list(in_peers)
        self.members = list(members)
        self.routes = dict(routes)
        self.cfg = cfg
        self.clock = clock
        self.event = event
        self._send_data = send_data
        self._send_ctl = send_ctl
        self.app: App | None = None
        self.restarted = False
        """This incarnation follows a crashed one (set by NodeCore)."""
        self.peer_incs: Mapping[str, int] = {}
        """Latest incarnation of each neighbour the channels have seen (set by NodeCore)."""
        self.prior_received: Mapping[tuple[str, int], SeqSet] = {}
        """App messages that earlier incarnations of this node received (by
        sender incarnation, the per-link numbers): taken once, not applied again."""
        self.files: list[SnapshotFile] = []
        self._sent_n = dict.fromkeys(self.out_peers, 0)
        self._peer_inc: dict[str, int] = {}
        self._received = {p: 0 for p in self.in_peers}
        self._received_n: dict[str, SeqSet] = {p: SeqSet() for p in self.in_peers}
        self._log: dict[str, dict[int, AppMessage]] = {p: {} for p in self.out_peers}
        self._active: dict[str, _Snap] = {}
        self._seen: dict[tuple[str, int], SeqSet] = {}
        """Per initiator incarnation, the ``k`` of every snapshot met so far."""
        self._next_k = 0
        self.bad_items = 0

    # ------------------------------------------------------------- app messages
    def send_app(self, dst: str, body: bytes) -> None:
        """Send one app message to out-neighbour ``dst``."""
        n = self._sent_n[dst] + 1
        self._sent_n[dst] = n
        ts = self.clock.tick_send()
        meta: Meta = {"t": APP, "n": n, "ts": ts}
        colour = {
            s.sid: s.variant.value for s in self._active.values() if s.cut and self._coloured(s)
        }
        if colour:
            meta["c"] = colour
        if self.cfg.sender_log:
            self._log[dst][n] = AppMessage(self.id, self.inc, dst, n, ts, body)
        self._send_data(dst, meta, body)
        self.event("app_send", {"dst": dst, "n": n, **self._describe(body)})

    def on_app(self, src: str, peer_inc: int, item: Item, channel: str, now: float) -> bool:
        """Take an app message from a data channel; False if it is malformed."""
        meta = item.meta
        n, ts, colour = meta.get("n"), meta.get("ts"), meta.get("c", {})
        if (
            type(n) is not int
            or type(ts) is not int
            or n < 1
            or ts < 1
            or type(colour) is not dict
            or not all(type(v) is str for v in colour.values())
        ):
            return False
        prior = self.prior_received.get((src, peer_inc))
        if prior is not None and n in prior:
            # A predecessor of ours took it and died before acknowledging it.
            self.event("app_dup", {"from": src, "finc": peer_inc, "n": n})
            return True
        self._saw_peer(src, peer_inc)
        for sid, variant in colour.items():
            self._colour_seen(sid, variant, now)
        self.clock.tick_receive(ts)
        msg = AppMessage(src, peer_inc, self.id, n, ts, item.body)
        for snap in list(self._active.values()):
            if not snap.cut or snap.done:
                continue
            if snap.variant is Variant.CHANDY_LAMPORT:
                if src in snap.waiting:
                    snap.channels[channel_name(src, self.id)].append(msg)
            elif snap.variant is Variant.LAI_YANG and snap.sid not in colour:
                snap.white[(src, peer_inc)] = snap.white.get((src, peer_inc), 0) + 1
                if src in snap.waiting:
                    snap.channels[channel_name(src, self.id)].append(msg)
                    self._ly_check(snap, src, now)
        self._received[src] = self._received.get(src, 0) + 1
        if self.cfg.sender_log:
            self._received_n.setdefault(src, SeqSet()).add(n)
        if self.app is not None:
            self.app.on_message(src, item.body)
        self.event(
            "app_recv",
            {
                "from": src,
                "finc": peer_inc,
                "n": n,
                "ts": ts,
                "ch": channel,
                "cseq": item.seq,
                **self._describe(item.body),
            },
        )
        return True

    def _describe(self, body: bytes) -> dict[str, Any]:
        return self.app.describe(body) if self.app is not None else {"size": len(body)}

    def _saw_peer(self, peer: str, peer_inc: int) -> None:
        known = self._peer_inc.get(peer)
        if known != peer_inc:
            # A new incarnation on the other end: per-link counts start afresh.
            self._peer_inc[peer] = peer_inc
            self._received[peer] = 0
            self._received_n[peer] = SeqSet()

    @staticmethod
    def _coloured(snap: _Snap) -> bool:
        return snap.variant is not Variant.CHANDY_LAMPORT

    # ------------------------------------------------------------- initiation
    def initiate(self, variant: Variant, now: float) -> str:
        """Start a snapshot of ``variant`` here; return its id."""
        self._next_k += 1
        sid = f"{self.id}-{self.inc}-{self._next_k}"
        snap = self._open(sid, variant, self.id, now)
        snap.started = now
        self.event("snap_start", {"sid": sid, "variant": variant.value})
        self._cut(snap, now)
        return sid

    def _open(self, sid: str, variant: Variant, initiator: str, now: float) -> _Snap:
        snap = _Snap(sid, variant, initiator, now + self.cfg.snapshot_timeout)
        self._active[sid] = snap
        self._mark_seen(sid)
        if self.restarted and initiator != self.id:
            # Our predecessor's unreleased items are resent to us with the
            # colours and markers of their day: the snapshot may be long over.
            # Ask its initiator, which aborts it here if so.
            self._route(initiator, {"k": "jn", "sid": sid, "from": self.id, "inc": self.inc})
        return snap

    def _mark_seen(self, sid: str) -> None:
        parsed = parse_sid(sid)
        if parsed is None:
            return
        initiator, inc, k = parsed
        self._seen.setdefault((initiator, inc), SeqSet()).add(k)

    def _is_seen(self, sid: str) -> bool:
        parsed = parse_sid(sid)
        if parsed is None:
            return True  # never start anything for a malformed id
        initiator, inc, k = parsed
        if initiator == self.id and inc != self.inc:
            # Started by an earlier incarnation of ours, which died with it:
            # its items were only resent to us.
            return True
        seen = self._seen.get((initiator, inc))
        return seen is not None and k in seen

    def _colour_seen(self, sid: str, variant: str, now: float) -> None:
        """A coloured message or marker names ``sid``: cut first if still white."""
        snap = self._active.get(sid)
        if snap is None:
            if self._is_seen(sid):
                return  # over here already (finished or aborted)
            try:
                kind = Variant(variant)
            except ValueError:
                return
            parsed = parse_sid(sid)
            assert parsed is not None
            snap = self._open(sid, kind, parsed[0], now)
        if not snap.cut:
            self._cut(snap, now)

    def _cut(self, snap: _Snap, now: float) -> None:
        """Record the local state and do what the variant does at a cut."""
        snap.cut = True
        state = self.app.state() if self.app is not None else {}
        snap.record = {
            "sid": snap.sid,
            "variant": snap.variant.value,
            "initiator": snap.initiator,
            "node": self.id,
            "inc": self.inc,
            "lamport": self.clock.value,
            "time": round(now, 6),
            "state": state,
            "side": "sender" if snap.variant is Variant.SENDER_LOG else "receiver",
        }
        self.event(
            "snap_cut",
            {
                "sid": snap.sid,
                "initiator": snap.initiator,
                "variant": snap.variant.value,
                "state": state,
            },
        )
        if snap.variant is Variant.CHANDY_LAMPORT:
            snap.waiting = set(self.in_peers)
            snap.channels = {channel_name(p, self.id): [] for p in self.in_peers}
            for peer in self.out_peers:
                self._send_data(peer, {"t": MARKER, "sid": snap.sid}, b"")
        elif snap.variant is Variant.LAI_YANG:
            snap.waiting = set(self.in_peers)
            snap.channels = {channel_name(p, self.id): [] for p in self.in_peers}
            for p in self.in_peers:
                if p in self._peer_inc:
                    key = (p, self._peer_inc[p])
                    snap.white[key] = snap.white.get(key, 0) + self._received.get(p, 0)
            for peer in self.out_peers:
                count = self._sent_n[peer]
                self._control(peer, {"k": "ly", "sid": snap.sid, "count": count, "inc": self.inc})
            for p in list(snap.waiting):
                self._ly_check(snap, p, now)
        else:
            snap.waiting = set(self.out_peers)
            snap.channels = {channel_name(self.id, p): [] for p in self.out_peers}
            snap.frozen = {p: dict(log) for p, log in self._log.items()}
            for peer in self.in_peers:
                inc, prior = self._prior(peer)
                got = [self._received_n.get(peer, SeqSet())]
                if prior is not None:
                    got.append(prior)
                ranges = [list(r) for r in _merged(got)]
                self._control(peer, {"k": "sl", "sid": snap.sid, "recv": ranges, "inc": inc})
        self._maybe_done(snap, now)

    def _prior(self, peer: str) -> tuple[int, SeqSet | None]:
        """The incarnation of ``peer`` our receive counts refer to, and what an
        earlier incarnation of ours already received from it.

        Receipts of a predecessor of ours still count on a link: the sender's
        numbering ``n`` did not restart with us, and its messages that our
        predecessor took are no longer in flight.
        """
        inc = self._peer_inc.get(peer) or self.peer_incs.get(peer, 0)
        if not inc:
            # Not heard from it yet: our predecessor's view is the best guess.
            # If the peer restarted since, the sender sees the mismatch and
            # takes the ranges as acknowledging nothing, which is then right.
            inc = max((i for (p, i) in self.prior_received if p == peer), default=0)
        return inc, self.prior_received.get((peer, inc))

    # ------------------------------------------------------------- markers
    def on_marker(self, src: str, item: Item, now: float) -> bool:
        """A Chandy-Lamport marker arrived on the data channel from ``src``."""
        sid = item.meta.get("sid")
        if type(sid) is not str:
            return False
        snap = self._active.get(sid)
        if snap is None:
            if self._is_seen(sid):
                return True
            parsed = parse_sid(sid)
            if parsed is None:
                return False
            snap = self._open(sid, Variant.CHANDY_LAMPORT, parsed[0], now)
        if not snap.cut:
            self._cut(snap, now)
        snap.waiting.discard(src)
        self._maybe_done(snap, now)
        return True

    def _ly_check(self, snap: _Snap, src: str, now: float) -> None:
        announced = snap.expected.get(src)
        if announced is None:
            return
        inc, count = announced
        # What our predecessors received of that sender incarnation counts too.
        prior = self.prior_received.get((src, inc))
        white = snap.white.get((src, inc), 0) + (_size(prior) if prior is not None else 0)
        if white >= count:
            snap.waiting.discard(src)
            self._maybe_done(snap, now)

    # ------------------------------------------------------------- control lane
    def _control(self, peer: str, fields: dict[str, Any], body: bytes = b"") -> None:
        self._send_ctl(peer, {"t": CONTROL, **fields}, body)

    def on_control(self, src: str, item: Item, now: float) -> bool:
        """A snapshot control item from neighbour ``src``; False if malformed."""
        meta = item.meta
        kind, sid = meta.get("k"), meta.get("sid")
        if type(sid) is not str or parse_sid(sid) is None:
            return False
        if kind == "ly":
            count, inc = meta.get("count"), meta.get("inc", 0)
            if type(count) is not int or count < 0 or type(inc) is not int or inc < 0:
                return False
            self._colour_seen(sid, Variant.LAI_YANG.value, now)
            snap = self._active.get(sid)
            if snap is not None and not snap.done:
                snap.expected[src] = (inc or self._prior(src)[0], count)
                self._ly_check(snap, src, now)
            return True
        if kind == "sl":
            recv = meta.get("recv")
            if type(recv) is not list or not all(_is_range(r) for r in recv):
                return False
            self._colour_seen(sid, Variant.SENDER_LOG.value, now)
            snap = self._active.get(sid)
            if snap is not None and not snap.done and src in snap.waiting:
                # Ranges about an earlier incarnation of ours acknowledge nothing.
                mine = meta.get("inc") in (0, self.inc)
                ranges = [(r[0], r[1]) for r in recv] if mine else []
                self._sl_marker(snap, src, ranges, now)
            return True
        if kind in ("rec", "fin", "abort", "jn"):
            to = meta.get("to")
            if type(to) is not str:
                return False
            if to != self.id:
                hop = self.routes.get(to)
                if hop is not None:
                    self._send_ctl(hop, meta, item.body)
                return True
            if kind == "rec":
                return self._on_record(sid, item.body, now)
            if kind == "fin":
                self._finish(sid)
                return True
            if kind == "jn":
                joiner = meta.get("from")
                if type(joiner) is not str:
                    return False
                snap = self._active.get(sid)
                if snap is None:
                    self._route(joiner, {"k": "abort", "sid": sid, "why": STALE})
                elif self._recorded_other(snap, joiner, meta.get("inc")):
                    self._abort_here(sid, "peer_restart", now)
                return True
            self._abort_here(sid, str(meta.get("why", "aborted")), now, relay=False)
            return True
        return False

    def _sl_marker(
        self, snap: _Snap, peer: str, received: list[tuple[int, int]], now: float
    ) -> None:
        """Channel ``self -> peer`` for ``snap``: the frozen log minus what ``peer`` got."""
        got = _Ranges(received)
        frozen = snap.frozen.get(peer, {})
        snap.channels[channel_name(self.id, peer)] = [
            m for n, m in sorted(frozen.items()) if n not in got
        ]
        log = self._log.get(peer, {})
        for n in [n for n in log if n in got]:
            del log[n]
        snap.waiting.discard(peer)
        self._maybe_done(snap, now)

    # ------------------------------------------------------------- completion
    def _maybe_done(self, snap: _Snap, now: float) -> None:
        if snap.done or not snap.cut or snap.waiting:
            return
        snap.done = True
        record = snap.record
        record["channels"] = {
            ch: [self._message_json(m) for m in msgs] for ch, msgs in snap.channels.items()
        }
        snap.frozen = {}
        count = sum(len(msgs) for msgs in snap.channels.values())
        self.event("snap_record", {"sid": snap.sid, "messages": count})
        self.files.append(SnapshotFile(snap.sid, self.id, record))
        if snap.initiator == self.id:
            self._collect(snap, record, now)
        else:
            self._route(snap.initiator, {"k": "rec", "sid": snap.sid}, orjson.dumps(record))

    def _message_json(self, m: AppMessage) -> dict[str, Any]:
        body = self.app.payload(m.body) if self.app is not None else m.body.hex()
        return {
            "src": m.src,
            "sinc": m.sinc,
            "dst": m.dst,
            "n": m.n,
            "lamport": m.lamport,
            "body": body,
        }

    def _route(self, to: str, fields: dict[str, Any], body: bytes = b"") -> None:
        hop = self.routes.get(to)
        if hop is not None:
            self._control(hop, {**fields, "to": to}, body)

    def _on_record(self, sid: str, body: bytes, now: float) -> bool:
        snap = self._active.get(sid)
        if snap is None or snap.initiator != self.id:
            return True  # aborted or already complete: a late record is dropped
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if type(record) is not dict or type(record.get("node")) is not str:
            return False
        self._collect(snap, record, now)
        return True

    @staticmethod
    def _recorded_other(snap: _Snap, node: str, inc: object) -> bool:
        """Whether ``snap`` holds a record of ``node`` from an incarnation other than ``inc``."""
        held = snap.records.get(node)
        return held is not None and held.get("inc") != inc

    def _collect(self, snap: _Snap, record: dict[str, Any], now: float) -> None:
        if self._recorded_other(snap, record["node"], record.get("inc")):
            # Two incarnations of one node cut: a member restarted during the
            # snapshot, and its two records need not agree with one cut.
            self._abort_here(snap.sid, "peer_restart", now)
            return
        snap.records[record["node"]] = record
        if len(snap.records) < len(self.members) or not snap.done:
            return
        duration = round(now - snap.started, 6)
        self.files.append(
            SnapshotFile(
                snap.sid,
                "global",
                {
                    "sid": snap.sid,
                    "variant": snap.variant.value,
                    "initiator": self.id,
                    "started": round(snap.started, 6),
                    "completed": round(now, 6),
                    "duration": duration,
                    "records": {n: snap.records[n] for n in sorted(snap.records)},
                },
            )
        )
        self.event("snap_done", {"sid": snap.sid, "duration": duration, "nodes": len(snap.records)})
        for node in self.members:
            if node != self.id:
                self._route(node, {"k": "fin", "sid": snap.sid})
        self._finish(snap.sid)

    def _finish(self, sid: str) -> None:
        """The snapshot is over everywhere: stop colouring with it, free its state."""
        self._active.pop(sid, None)
        self._mark_seen(sid)

    # ------------------------------------------------------------- aborts
    def _abort_here(self, sid: str, why: str, now: float, relay: bool = True) -> None:
        """Give up ``sid`` here; the node that detected why tells every other node.

        Everyone is told, not just the initiator: the initiator may be the
        node whose crash caused the abort, and nodes waiting on it would
        otherwise hold the snapshot until their own timeout.
        """
        snap = self._active.pop(sid, None)
        self._mark_seen(sid)
        if snap is None:
            return
        self.event("snap_abort", {"sid": sid, "reason": why})
        if relay:
            for node in self.members:
                if node != self.id:
                    self._route(node, {"k": "abort", "sid": sid, "why": why})

    def peer_restarted(self, peer: str, now: float) -> None:
        """A neighbour came back as a new incarnation: what it held is gone."""
        for sid in list(self._active):
            self._abort_here(sid, "peer_restart", now)
        # The log to ``peer`` is kept: what its predecessor had not released is
        # resent to the new incarnation, so still in flight, and the new
        # incarnation acknowledges its predecessor's receipts from its ledger.

    def tick(self, now: float) -> None:
        for sid, snap in list(self._active.items()):
            if now >= snap.deadline:
                self._abort_here(sid, "timeout", now)

    def next_deadline(self) -> float:
        return min((s.deadline for s in self._active.values()), default=_NEVER)

    # ------------------------------------------------------------- inspection
    @property
    def active(self) -> int:
        return len(self._active)

    def sizes(self) -> dict[str, int]:
        """Entries held, for the memory footprint."""
        return {
            "snapshot_log": sum(len(log) for log in self._log.values()),
            "snapshot_state": sum(
                sum(len(m) for m in s.channels.values()) + sum(len(f) for f in s.frozen.values())
                for s in self._active.values()
            ),
        }


def _is_range(r: Any) -> bool:
    return (
        type(r) is list
        and len(r) == 2
        and type(r[0]) is int
        and type(r[1]) is int
        and 1 <= r[0] <= r[1]
    )


class _Ranges:
    """Membership in sorted, disjoint inclusive ranges, by bisection."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self._ranges = sorted(ranges)
        self._los = [lo for lo, _ in self._ranges]

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self._los, n) - 1
        return i >= 0 and n <= self._ranges[i][1]


def _size(seen: SeqSet) -> int:
    return seen.floor + len(seen.extra)


def _merged(sets: Sequence[SeqSet]) -> list[tuple[int, int]]:
    """The union of ``sets`` as sorted, disjoint inclusive runs."""
    runs: list[tuple[int, int]] = []
    for seen in sets:
        if seen.floor:
            runs.append((1, seen.floor))
        runs.extend(_runs(sorted(seen.extra)))
    runs.sort()
    out: list[tuple[int, int]] = []
    for lo, hi in runs:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted integers as inclusive ``(lo, hi)`` runs."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] + 1 == v:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs
