"""A run as lanes, events and messages: what a space-time diagram draws.

A *lane* is one incarnation of one node: a restart starts a new lane of the
same node. Its events are the node's log records of that incarnation, in log
order. A *message* joins a send event to a receipt event:

* a multicast copy: a receipt (``deliver``, ``held``, ``late`` or
  ``duplicate`` at B, ``from`` A) is joined to A's event that sent that copy,
  which is A's ``multicast`` of the message (A is its origin) or A's
  ``deliver`` of it (A relayed it on first receipt). Every copy on channel
  ``A>B`` of one message is the same copy, so the channel and the message id
  identify the send; a copy resent to a restarted B comes from A's ``replay``
  or ``peer_epoch`` event toward B;
* an app message: ``app_recv`` (and ``app_dup``) to ``app_send`` by the
  sender incarnation, the link and the per-link number ``n``, its channel
  sequence in the app layer;
* a frame the fault injector dropped (``inject_drop`` of a data frame): from
  the sender to a cross, since the log does not say which items it held.

These joins are exact and feed the vector clocks (:mod:`~zmqcast.viz.clocks`).
Snapshot control messages are placed by :mod:`~zmqcast.viz.control`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zmqcast.check.trace import SIM_NODE
from zmqcast.core.events import EventKind


class MessageKind(StrEnum):
    """What an arrow stands for; the ``data-kind`` of its SVG element."""

    MULTICAST = "multicast"
    """A multicast copy sent by its origin."""
    RELAY = "relay"
    """A multicast copy sent by a relay."""
    APP = "app"
    """A point-to-point app message (a bank transfer)."""
    MARKER = "marker"
    """A Chandy-Lamport marker."""
    LY_COUNT = "ly-count"
    """A Lai-Yang count on the control lane."""
    BACKWARD_MARKER = "backward-marker"
    """A sender-log backward marker on the control lane."""
    RECORD = "record"
    """A node's snapshot record, on its way to the initiator."""
    DROP = "drop"
    """A data frame the fault injector dropped."""


class Flag(StrEnum):
    """What else is known of one message; each is also a CSS class of its arrow."""

    DUPLICATE = "duplicate"
    """A copy received again (``duplicate``, ``app_dup``)."""
    RETRANSMITTED = "retransmitted"
    """The sender retransmitted this channel sequence number before the receipt."""
    REPLAYED = "replayed"
    """Resent to a restarted receiver (``replay``, ``peer_epoch``)."""
    UNRECEIVED = "unreceived"
    """Sent, and no receipt is in the trace."""
    INFERRED = "inferred"
    """The log has no event for the receipt: drawn at the earliest event where it fits."""
    ACAUSAL = "acausal"
    """Its send could not come before its receipt in any causal order (clocks
    of different hosts disagree): kept out of the vector clocks."""


_RECEIPT_KINDS = frozenset({EventKind.DELIVER, EventKind.HELD, EventKind.LATE, EventKind.DUPLICATE})
_NATURAL = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key putting ``P2`` before ``P10``."""
    return tuple(int(part) if part.isdigit() else part for part in _NATURAL.split(name))


@dataclass(slots=True, eq=False)
class Lane:
    """One node incarnation and its events."""

    index: int
    node: str
    inc: int
    ordinal: int
    """1 for the node's first incarnation in the trace, 2 for the next..."""
    host: str = ""
    """Its name in vector clocks and in ShiViz: the node, or ``node#inc`` for a
    node with several incarnations in the trace."""
    events: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    out: tuple[str, ...] = ()
    """Out-neighbours, from its ``start`` event."""
    ins: tuple[str, ...] = ()
    """In-neighbours, from its ``start`` event."""
    crashed: bool = False
    """A ``crash`` event names it, or a later incarnation of its node exists."""
    previous: int | None = None
    """The lane of the node's previous incarnation, if any."""

    def first_after(self, time: float) -> int:
        """Position in :attr:`events` of the first event strictly after ``time``
        (``len(events)`` if none): where a message sent at ``time`` can first be."""
        return bisect_right(self.times, time)


@dataclass(slots=True, eq=False)
class Event:
    """One log record, placed in its lane."""

    index: int
    lane: int
    seq: int
    """Its position in the lane, from 0."""
    raw: Mapping[str, Any]
    level: int = 0
    """Its happened-before level (see :mod:`~zmqcast.viz.clocks`)."""
    vc: dict[int, int] = field(default_factory=dict)
    """Vector clock: lane index -> events of that lane that happened before or at it."""

    @property
    def kind(self) -> str:
        return str(self.raw["kind"])

    @property
    def time(self) -> float:
        return float(self.raw["time"])

    @property
    def wall(self) -> float:
        """Unix time in real runs; the (virtual) ``time`` where there is none."""
        wall = self.raw.get("wall")
        return float(wall) if isinstance(wall, int | float) else self.time


@dataclass(slots=True, eq=False)
class Message:
    """An arrow: from a send event to a receipt event (either may be missing)."""

    index: int
    kind: MessageKind
    src: str
    dst: str
    ident: str
    """Its identity: ``origin:oepoch:oseq`` (multicast), ``src#sinc>dst:n``
    (app), ``sid`` (snapshot control), ``src>dst`` (a dropped frame)."""
    send: int | None
    recv: int | None
    causal: bool = True
    """Joined exactly: it takes part in the vector clocks."""
    sid: str | None = None
    """The snapshot a control message belongs to."""
    flags: set[Flag] = field(default_factory=set)
    note: str = ""
    """What the hover says about how it was placed."""


@dataclass(slots=True)
class RunModel:
    """Lanes, events and messages of one run (driver events kept apart)."""

    lanes: list[Lane]
    events: list[Event]
    messages: list[Message] = field(default_factory=list)
    driver: list[Mapping[str, Any]] = field(default_factory=list)
    """Events of node ``sim`` (partitions and heals)."""
    lean: bool = False
    """Some node ran with ``trace: lean``: multicast traffic is not in its log."""

    def add(
        self,
        kind: MessageKind,
        src: str,
        dst: str,
        ident: str,
        send: int | None,
        recv: int | None,
        *,
        causal: bool = True,
        sid: str | None = None,
        flags: set[Flag] | None = None,
        note: str = "",
    ) -> Message:
        """Add a message from event ``send`` to event ``recv`` (indexes; None: not logged)."""
        msg = Message(
            len(self.messages), kind, src, dst, ident, send, recv, causal, sid, flags or set(), note
        )
        self.messages.append(msg)
        return msg

    @property
    def nodes(self) -> list[str]:
        """Node names in natural order."""
        return sorted({lane.node for lane in self.lanes}, key=natural_key)


def build_model(raw_events: Iterable[Mapping[str, Any]]) -> RunModel:
    """Lanes and events of a trace, with every exactly joined message."""
    model = _lanes(raw_events)
    _link_multicast(model)
    _link_app(model)
    _link_drops(model)
    return model


def _lanes(raw_events: Iterable[Mapping[str, Any]]) -> RunModel:
    by_key: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    crashed: set[tuple[str, int]] = set()
    driver: list[Mapping[str, Any]] = []
    for ev in raw_events:
        node = ev["node"]
        if node == SIM_NODE:
            driver.append(ev)
            continue
        key = (str(node), int(ev["inc"]))
        by_key.setdefault(key, []).append(ev)
        if ev["kind"] == EventKind.CRASH:
            crashed.add(key)
    keys = sorted(by_key, key=lambda k: (natural_key(k[0]), k[1]))
    counts: dict[str, int] = {}
    for node, _ in keys:
        counts[node] = counts.get(node, 0) + 1
    lanes: list[Lane] = []
    events: list[Event] = []
    lean = False
    last_of: dict[str, int] = {}
    for node, inc in keys:
        ordinal = 1 if node not in last_of else lanes[last_of[node]].ordinal + 1
        host = node if counts[node] == 1 else f"{node}#{inc}"
        lane = Lane(len(lanes), node, inc, ordinal, host, previous=last_of.get(node))
        if lane.previous is not None:
            lanes[lane.previous].crashed = True
        lane.crashed = lane.crashed or (node, inc) in crashed
        for raw in by_key[(node, inc)]:
            event = Event(len(events), lane.index, len(lane.events), raw)
            events.append(event)
            lane.events.append(event.index)
            lane.times.append(event.time)
            if raw["kind"] == EventKind.START:
                lane.out = tuple(str(p) for p in raw.get("out", ()))
                lane.ins = tuple(str(p) for p in raw.get("in", ()))
                lean = lean or raw.get("trace") == "lean"
        lanes.append(lane)
        last_of[node] = lane.index
    return RunModel(lanes, events, driver=driver, lean=lean)


# ------------------------------------------------------------------ multicast
def _link_multicast(model: RunModel) -> None:
    """One message per multicast copy received, from the event that sent it."""
    sends: dict[tuple[str, str, int, int], list[int]] = {}
    resends: dict[tuple[int, str], list[int]] = {}
    """(sender lane, receiver node) -> its replay/peer_epoch events toward it."""
    for ev in model.events:
        raw = ev.raw
        kind = raw["kind"]
        if kind in (EventKind.MULTICAST, EventKind.DELIVER):
            key = (model.lanes[ev.lane].node, raw["origin"], raw["oepoch"], raw["oseq"])
            sends.setdefault(key, []).append(ev.index)
        elif kind == EventKind.REPLAY or (kind == EventKind.PEER_EPOCH and "resent" in raw):
            resends.setdefault((ev.lane, str(raw.get("peer"))), []).append(ev.index)
    retransmits = _retransmits(model)
    for lane in model.lanes:
        arrived: set[tuple[str, str, int, int]] = set()
        for index in lane.events:
            ev = model.events[index]
            raw = ev.raw
            kind = raw["kind"]
            if kind not in _RECEIPT_KINDS:
                continue
            src = str(raw["from"])
            key = (src, raw["origin"], raw["oepoch"], raw["oseq"])
            if kind == EventKind.DELIVER and key in arrived:
                continue  # released from the holdback queue: it arrived at ``held``
            if kind in (EventKind.HELD, EventKind.LATE):
                arrived.add(key)
            send = _pick_send(model, sends.get(key, ()), ev, lane)
            ident = f"{raw['origin']}:{raw['oepoch']}:{raw['oseq']}"
            flags: set[Flag] = set()
            note = ""
            if send is not None:
                resend = _resend(model, resends, send, ev, lane)
                if resend is not None:
                    send = resend
                    flags.add(Flag.REPLAYED)
                    note = "resent to this incarnation after it restarted"
            if kind == EventKind.DUPLICATE:
                flags.add(Flag.DUPLICATE)
            cseq = raw.get("cseq")
            if (
                send is not None
                and isinstance(cseq, int)
                and _retransmitted(
                    retransmits, model.events[send].lane, str(raw.get("ch")), cseq, ev.time
                )
            ):
                flags.add(Flag.RETRANSMITTED)
            kind_of = MessageKind.MULTICAST if src == raw["origin"] else MessageKind.RELAY
            model.add(kind_of, src, lane.node, ident, send, index, flags=flags, note=note)


def _pick_send(
    model: RunModel, candidates: Iterable[int], receipt: Event, lane: Lane
) -> int | None:
    """The send event of a copy: the latest candidate no later than the receipt.

    Candidates are the sender's events that sent the message, one per
    incarnation of the sender. Times are compared on the host's clock, which
    all processes on one host share (and the simulator's virtual time).
    """
    best: int | None = None
    earliest: int | None = None
    for c in candidates:
        if model.events[c].lane == lane.index:
            continue
        t = model.events[c].time
        if earliest is None or t < model.events[earliest].time:
            earliest = c
        if t <= receipt.time + 1e-9 and (best is None or t >= model.events[best].time):
            best = c
    return best if best is not None else earliest


def _resend(
    model: RunModel,
    resends: Mapping[tuple[int, str], list[int]],
    send: int,
    receipt: Event,
    lane: Lane,
) -> int | None:
    """A later resend toward a receiver that started after the first send, if any."""
    sent = model.events[send]
    if not lane.times or sent.time >= lane.times[0]:
        return None
    found: int | None = None
    for index in resends.get((sent.lane, lane.node), ()):
        t = model.events[index].time
        if lane.times[0] - 1e-9 <= t <= receipt.time + 1e-9 and index > send:
            found = index
    return found


def _retransmits(model: RunModel) -> dict[tuple[int, str], list[tuple[float, int, int]]]:
    """(sender lane, channel) -> (time, first, last) of each ``retransmit`` event."""
    found: dict[tuple[int, str], list[tuple[float, int, int]]] = {}
    for ev in model.events:
        raw = ev.raw
        if raw["kind"] == EventKind.RETRANSMIT:
            first, count = raw.get("first"), raw.get("count")
            if isinstance(first, int) and isinstance(count, int):
                item = (ev.time, first, first + count - 1)
                found.setdefault((ev.lane, str(raw.get("ch"))), []).append(item)
    return found


def _retransmitted(
    retransmits: Mapping[tuple[int, str], list[tuple[float, int, int]]],
    sender: int,
    channel: str,
    cseq: int,
    before: float,
) -> bool:
    """Whether a retransmission on ``channel`` that may have held ``cseq`` came first.

    A ``retransmit`` event gives the first sequence number and how many items
    went again; taking them as consecutive is the best the log allows.
    """
    return any(
        t <= before and first <= cseq <= last
        for t, first, last in retransmits.get((sender, channel), ())
    )


# ------------------------------------------------------------------ app messages
def app_ident(src: str, sinc: int, dst: str, n: int) -> str:
    """An app message's identity as the diagram writes it (``data-id``): ``src#sinc>dst:n``."""
    return f"{src}#{sinc}>{dst}:{n}"


def _link_app(model: RunModel) -> None:
    """One message per app message sent, and one per duplicate receipt."""
    sends: dict[tuple[str, int, str, int], int] = {}
    for ev in model.events:
        raw = ev.raw
        if raw["kind"] == EventKind.APP_SEND:
            lane = model.lanes[ev.lane]
            sends.setdefault((lane.node, lane.inc, str(raw["dst"]), int(raw["n"])), ev.index)
    received: dict[tuple[str, int, str, int], int] = {}
    duplicates: list[tuple[tuple[str, int, str, int], int]] = []
    for ev in model.events:
        raw = ev.raw
        kind = raw["kind"]
        if kind in (EventKind.APP_RECV, EventKind.APP_DUP):
            lane = model.lanes[ev.lane]
            key = (str(raw["from"]), int(raw["finc"]), lane.node, int(raw["n"]))
            if kind == EventKind.APP_RECV and key not in received:
                received[key] = ev.index
            else:
                duplicates.append((key, ev.index))
    retransmits = _retransmits(model)
    for key, send in sorted(sends.items(), key=lambda item: item[1]):
        src, _, dst, _ = key
        recv = received.get(key)
        flags: set[Flag] = set()
        if recv is None:
            flags.add(Flag.UNRECEIVED)
        else:
            raw = model.events[recv].raw
            cseq = raw.get("cseq")
            if isinstance(cseq, int) and _retransmitted(
                retransmits,
                model.events[send].lane,
                str(raw.get("ch")),
                cseq,
                model.events[recv].time,
            ):
                flags.add(Flag.RETRANSMITTED)
        model.add(MessageKind.APP, src, dst, app_ident(*key), send, recv, flags=flags)
    for key, recv in duplicates:
        model.add(
            MessageKind.APP,
            key[0],
            key[2],
            app_ident(*key),
            sends.get(key),
            recv,
            flags={Flag.DUPLICATE},
        )
    # Receipts of messages whose send is not in the trace (a log that is missing).
    for key, recv in received.items():
        if key not in sends:
            model.add(MessageKind.APP, key[0], key[2], app_ident(*key), None, recv)


# ------------------------------------------------------------------ faults
def _link_drops(model: RunModel) -> None:
    """A stub arrow for every data frame the fault injector dropped."""
    for ev in model.events:
        raw = ev.raw
        if raw["kind"] == EventKind.INJECT_DROP and raw.get("frame") == "data":
            channel = str(raw.get("ch", ""))
            src, _, dst = channel.partition(">")
            model.add(
                MessageKind.DROP,
                src,
                dst,
                channel,
                ev.index,
                None,
                causal=False,
                note="a data frame dropped by the fault injector; the log does not say "
                "which items it held (the channel resends them)",
            )
