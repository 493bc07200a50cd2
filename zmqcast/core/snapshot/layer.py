"""The part of snapshots every variant shares, and the app messages they run over.

:class:`SnapshotLayer` is what :class:`~zmqcast.core.node.NodeCore` talks to. It
sends and receives app messages for the application and colours them; it opens
a snapshot when the node first meets it (initiation, a marker, a coloured
message or control item) and records the local state at the cut; it hands each
variant (:mod:`~zmqcast.core.snapshot.chandy_lamport`,
:mod:`~zmqcast.core.snapshot.lai_yang`, :mod:`~zmqcast.core.snapshot.sender_log`)
what that algorithm reacts to. When a node's record is complete the layer
writes it and routes it to the initiator over the control lane, hop by hop; the
initiator assembles the global snapshot and tells every node it is over
(``fin``), after which nobody colours with it any more. A peer restart or a
timeout aborts a snapshot.

The layer is sans-IO like the rest of the core: it calls ``send_data`` and
``send_ctl`` to queue items on channels, ``event`` to trace, and returns
records for the driver to write (:attr:`SnapshotLayer.files`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import CoreConfig
from zmqcast.core.events import EventKind, SnapshotFile
from zmqcast.core.frames import Item, Meta
from zmqcast.core.seqset import SeqSet
from zmqcast.core.snapshot.base import VariantSnapshot
from zmqcast.core.snapshot.chandy_lamport import ChandyLamportSnapshot
from zmqcast.core.snapshot.ids import SeenIds, make_sid, parse_sid
from zmqcast.core.snapshot.lai_yang import COUNT, LaiYangSnapshot, parse_count
from zmqcast.core.snapshot.messages import APP, App, AppMessage, message_json
from zmqcast.core.snapshot.sender_log import (
    BACKWARD_MARKER,
    LinkLog,
    SenderLogSnapshot,
    parse_backward_marker,
)
from zmqcast.core.snapshot.variant import Variant

CONTROL = "sc"
"""``meta.t`` of a snapshot control item on the control lane."""
STALE = "stale"
"""Abort reason: a restarted node joined a snapshot that had already ended."""

# Control items addressed to one node (``to``) and relayed hop by hop on the way.
_RECORD = "rec"  # a node's finished record, to the initiator
_FIN = "fin"  # the initiator has every record: the snapshot is over
_ABORT = "abort"  # give the snapshot up
_JOIN = "jn"  # a restarted node asks the initiator whether a snapshot still runs
_ROUTED = (_RECORD, _FIN, _ABORT, _JOIN)

_NEVER = float("inf")

ALGORITHMS: dict[Variant, type[VariantSnapshot]] = {
    cls.variant: cls for cls in (ChandyLamportSnapshot, LaiYangSnapshot, SenderLogSnapshot)
}
"""The class that runs each variant."""

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
        self.sent_n = dict.fromkeys(self.out_peers, 0)
        """Out-neighbour -> the number ``n`` of the last app message sent to it."""
        self.heard_inc: dict[str, int] = {}
        """In-neighbour -> the incarnation its app messages last came from."""
        self.received_count = {p: 0 for p in self.in_peers}
        """In-neighbour -> app messages received from incarnation ``heard_inc``."""
        self.link_log = LinkLog(self.out_peers, self.in_peers, cfg.sender_log)
        self._active: dict[str, VariantSnapshot] = {}
        self._seen = SeenIds(node_id, inc)
        """Every snapshot met so far, running or over."""
        self._next_k = 0
        self.bad_items = 0

    # ------------------------------------------------------------- app messages
    def send_app(self, dst: str, body: bytes) -> None:
        """Send one app message to out-neighbour ``dst``, coloured with every
        snapshot of a coloured variant this node has cut."""
        n = self.sent_n[dst] + 1
        self.sent_n[dst] = n
        ts = self.clock.tick_send()
        meta: Meta = {"t": APP, "n": n, "ts": ts}
        colour = {s.sid: s.variant.value for s in self._active.values() if s.cut and s.coloured}
        if colour:
            meta["c"] = colour
        self.link_log.sent(AppMessage(self.id, self.inc, dst, n, ts, body))
        self._send_data(dst, meta, body)
        self.event(EventKind.APP_SEND, {"dst": dst, "n": n, **self._describe(body)})

    def on_app(self, src: str, peer_inc: int, item: Item, channel: str, now: float) -> bool:
        """Take an app message from a data channel; False if it is malformed.

        Its colours make this node cut first; then every snapshot cut here sees
        it, before the application applies it.
        """
        meta = item.meta
        if type(meta) is not dict:
            return False
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
            self.event(EventKind.APP_DUP, {"from": src, "finc": peer_inc, "n": n})
            return True
        self._saw_peer(src, peer_inc)
        for sid, variant in colour.items():
            self._colour_seen(sid, variant, now)
        self.clock.tick_receive(ts)
        msg = AppMessage(src, peer_inc, self.id, n, ts, item.body)
        for snap in list(self._active.values()):
            if snap.cut and not snap.done:
                snap.on_app(msg, colour, now)
        self.received_count[src] = self.received_count.get(src, 0) + 1
        self.link_log.received(src, n)
        if self.app is not None:
            self.app.on_message(src, item.body)
        self.event(
            EventKind.APP_RECV,
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
        if self.heard_inc.get(peer) != peer_inc:
            # A new incarnation on the other end: per-link counts start afresh.
            self.heard_inc[peer] = peer_inc
            self.received_count[peer] = 0
            self.link_log.new_peer_incarnation(peer)

    def prior(self, peer: str) -> tuple[int, SeqSet | None]:
        """The incarnation of ``peer`` our receive counts refer to, and what an
        earlier incarnation of ours already received from it.

        Receipts of a predecessor of ours still count on a link: the sender's
        numbering ``n`` did not restart with us, and its messages that our
        predecessor took are no longer in flight.
        """
        inc = self.heard_inc.get(peer) or self.peer_incs.get(peer, 0)
        if not inc:
            # Not heard from it yet: our predecessor's view is the best guess.
            # If the peer restarted since, the sender sees the mismatch and
            # takes the ranges as acknowledging nothing, which is then right.
            inc = max((i for (p, i) in self.prior_received if p == peer), default=0)
        return inc, self.prior_received.get((peer, inc))

    # ------------------------------------------------------------- sending, for the variants
    def send_data(self, peer: str, meta: Meta, body: bytes = b"") -> None:
        """Queue an item on the data channel to ``peer``, behind the app messages."""
        self._send_data(peer, meta, body)

    def control(self, peer: str, fields: dict[str, Any], body: bytes = b"") -> None:
        """Queue a snapshot control item on the control lane to neighbour ``peer``."""
        self._send_ctl(peer, {"t": CONTROL, **fields}, body)

    # ------------------------------------------------------------- initiation and the cut
    def initiate(self, variant: Variant, now: float) -> str:
        """Start a snapshot of ``variant`` here; return its id."""
        self._next_k += 1
        sid = make_sid(self.id, self.inc, self._next_k)
        snap = self._open(sid, variant, self.id, now)
        snap.started = now
        self.event(EventKind.SNAP_START, {"sid": sid, "variant": variant.value})
        self._cut(snap, now)
        return sid

    def _open(self, sid: str, variant: Variant, initiator: str, now: float) -> VariantSnapshot:
        snap = ALGORITHMS[variant](self, sid, initiator, now + self.cfg.snapshot_timeout)
        self._active[sid] = snap
        self._seen.add(sid)
        if self.restarted and initiator != self.id:
            # Our predecessor's unreleased items are resent to us with the
            # colours and markers of their day: the snapshot may be long over.
            # Ask its initiator, which aborts it here if so.
            self._route(initiator, {"k": _JOIN, "sid": sid, "from": self.id, "inc": self.inc})
        return snap

    def _colour_seen(self, sid: str, variant: str, now: float) -> None:
        """A coloured message or control item names ``sid``: cut first if still white."""
        snap = self._active.get(sid)
        if snap is None:
            if sid in self._seen:
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

    def _cut(self, snap: VariantSnapshot, now: float) -> None:
        """Record the local state, then let the variant do what it does at a cut."""
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
            "side": snap.side,
        }
        self.event(
            EventKind.SNAP_CUT,
            {
                "sid": snap.sid,
                "initiator": snap.initiator,
                "variant": snap.variant.value,
                "state": state,
            },
        )
        snap.on_cut(now)
        self.maybe_done(snap, now)

    # ------------------------------------------------------------- markers
    def on_marker(self, src: str, item: Item, now: float) -> bool:
        """A Chandy-Lamport marker arrived on the data channel from ``src``."""
        meta = item.meta
        sid = meta.get("sid") if type(meta) is dict else None
        if type(sid) is not str:
            return False
        snap = self._active.get(sid)
        if snap is None:
            if sid in self._seen:
                return True
            parsed = parse_sid(sid)
            if parsed is None:
                return False
            snap = self._open(sid, Variant.CHANDY_LAMPORT, parsed[0], now)
        if not snap.cut:
            self._cut(snap, now)
        snap.on_marker(src, now)
        return True

    # ------------------------------------------------------------- control lane
    def on_control(self, src: str, item: Item, now: float) -> bool:
        """A snapshot control item from neighbour ``src``; False if malformed."""
        meta = item.meta
        if type(meta) is not dict:
            return False
        kind, sid = meta.get("k"), meta.get("sid")
        if type(sid) is not str or parse_sid(sid) is None:
            return False
        if kind == COUNT:
            count = parse_count(meta)
            if count is None:
                return False
            self._colour_seen(sid, Variant.LAI_YANG.value, now)
            snap = self._active.get(sid)
            if snap is not None and not snap.done:
                snap.on_count(src, *count, now)
            return True
        if kind == BACKWARD_MARKER:
            received = parse_backward_marker(meta)
            if received is None:
                return False
            self._colour_seen(sid, Variant.SENDER_LOG.value, now)
            snap = self._active.get(sid)
            if snap is not None and not snap.done:
                snap.on_backward_marker(src, meta.get("inc"), received, now)
            return True
        if kind in _ROUTED:
            to = meta.get("to")
            if type(to) is not str:
                return False
            if to != self.id:
                hop = self.routes.get(to)
                if hop is not None:
                    self._send_ctl(hop, meta, item.body)
                return True
            if kind == _RECORD:
                return self._on_record(sid, item.body, now)
            if kind == _FIN:
                self._finish(sid)
                return True
            if kind == _JOIN:
                joiner = meta.get("from")
                if type(joiner) is not str:
                    return False
                snap = self._active.get(sid)
                if snap is None:
                    self._route(joiner, {"k": _ABORT, "sid": sid, "why": STALE})
                elif self._recorded_other(snap, joiner, meta.get("inc")):
                    self._abort_here(sid, "peer_restart", now)
                return True
            self._abort_here(sid, str(meta.get("why", "aborted")), now, relay=False)
            return True
        return False

    # ------------------------------------------------------------- completion
    def maybe_done(self, snap: VariantSnapshot, now: float) -> None:
        """If ``snap`` has no open channel left here, finish the local record:
        write it, and hand it to the initiator (which may be this node)."""
        if snap.done or not snap.cut or snap.waiting:
            return
        snap.done = True
        record = snap.record
        record["channels"] = {
            ch: [message_json(m, self.app) for m in msgs] for ch, msgs in snap.channels.items()
        }
        snap.on_complete()
        count = sum(len(msgs) for msgs in snap.channels.values())
        self.event(EventKind.SNAP_RECORD, {"sid": snap.sid, "messages": count})
        self.files.append(SnapshotFile(snap.sid, self.id, record))
        if snap.initiator == self.id:
            self._collect(snap, record, now)
        else:
            self._route(snap.initiator, {"k": _RECORD, "sid": snap.sid}, orjson.dumps(record))

    def _route(self, to: str, fields: dict[str, Any], body: bytes = b"") -> None:
        """Send a control item to any member, via the next hop towards it."""
        hop = self.routes.get(to)
        if hop is not None:
            self.control(hop, {**fields, "to": to}, body)

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
    def _recorded_other(snap: VariantSnapshot, node: str, inc: object) -> bool:
        """Whether ``snap`` holds a record of ``node`` from an incarnation other than ``inc``."""
        held = snap.records.get(node)
        return held is not None and held.get("inc") != inc

    def _collect(self, snap: VariantSnapshot, record: dict[str, Any], now: float) -> None:
        """At the initiator: keep one node's record; with all of them, write the
        global snapshot and tell everyone it is over."""
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
        self.event(
            EventKind.SNAP_DONE, {"sid": snap.sid, "duration": duration, "nodes": len(snap.records)}
        )
        for node in self.members:
            if node != self.id:
                self._route(node, {"k": _FIN, "sid": snap.sid})
        self._finish(snap.sid)

    def _finish(self, sid: str) -> None:
        """The snapshot is over everywhere: stop colouring with it, free its state."""
        self._active.pop(sid, None)
        self._seen.add(sid)

    # ------------------------------------------------------------- aborts
    def _abort_here(self, sid: str, why: str, now: float, relay: bool = True) -> None:
        """Give up ``sid`` here; the node that detected why tells every other node.

        Everyone is told, not just the initiator: the initiator may be the
        node whose crash caused the abort, and nodes waiting on it would
        otherwise hold the snapshot until their own timeout.
        """
        snap = self._active.pop(sid, None)
        self._seen.add(sid)
        if snap is None:
            return
        self.event(EventKind.SNAP_ABORT, {"sid": sid, "reason": why})
        if relay:
            for node in self.members:
                if node != self.id:
                    self._route(node, {"k": _ABORT, "sid": sid, "why": why})

    def peer_restarted(self, peer: str, now: float) -> None:
        """A neighbour came back as a new incarnation: what it held is gone."""
        for sid in list(self._active):
            self._abort_here(sid, "peer_restart", now)
        # The sender log to ``peer`` is kept: what its predecessor had not
        # released is resent to the new incarnation, so still in flight, and the
        # new incarnation acknowledges its predecessor's receipts from its ledger.

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
            "snapshot_log": self.link_log.size(),
            "snapshot_state": sum(s.held() for s in self._active.values()),
        }
