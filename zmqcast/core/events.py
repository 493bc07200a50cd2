"""Trace events and the output bundle every core call returns.

An event is a flat JSON-serialisable dict. Every event has ``node``, ``inc``
(the node's incarnation), ``kind``, ``lamport`` and ``time``; the other fields
depend on the kind and are listed in README ("Event log"). The same records feed
the console, the JSONL event log and the checkers, so a real run and a simulated
run are checked by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeAlias

from zmqcast.core.frames import Frame

Event: TypeAlias = dict[str, Any]


class EventKind(StrEnum):
    """Every ``kind`` an event may have: the one vocabulary of writers and checkers.

    Members are strings, so a member equals the plain ``kind`` read back from
    a log, and is written to JSON as its value. README ("Event trace") gives
    each kind's fields.
    """

    # A node incarnation's life.
    START = "start"
    STOP = "stop"
    CRASH = "crash"
    CLOCK_BACK = "clock_back"
    # Multicast.
    MULTICAST = "multicast"
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    HELD = "held"
    LATE = "late"
    SKIP = "skip"
    REPLAY = "replay"
    REPAIR = "repair"
    PULL = "pull"
    # Channels and peers.
    RETRANSMIT = "retransmit"
    GAP = "gap"
    LOSS = "loss"
    PEER_EPOCH = "peer_epoch"
    SUSPECT = "suspect"
    ALIVE = "alive"
    BAD_FRAME = "bad_frame"
    # Faults: injected by a node's transport, or by the simulator.
    FAULTS_SET = "faults_set"
    INJECT_DROP = "inject_drop"
    INJECT_DUP = "inject_dup"
    INJECT_DELAY = "inject_delay"
    INJECT_REORDER = "inject_reorder"
    INJECT_BLOCK = "inject_block"
    PARTITION = "partition"
    HEAL = "heal"
    # Point-to-point application messages and the bank.
    APP_SEND = "app_send"
    APP_RECV = "app_recv"
    APP_DUP = "app_dup"
    BANK_OPEN = "bank_open"
    # Snapshots.
    SNAP_START = "snap_start"
    SNAP_CUT = "snap_cut"
    SNAP_RECORD = "snap_record"
    SNAP_DONE = "snap_done"
    SNAP_ABORT = "snap_abort"


TICKING_KINDS: frozenset[str] = frozenset(
    {
        EventKind.MULTICAST,
        EventKind.DELIVER,
        EventKind.DUPLICATE,
        EventKind.HELD,
        EventKind.APP_SEND,
        EventKind.APP_RECV,
    }
)
"""Kinds whose Lamport value is the result of a clock tick; the clock condition
requires these to be strictly increasing per node incarnation."""


class Delivery(NamedTuple):
    """A multicast message handed to the application, once per incarnation.

    A named tuple, not a frozen dataclass: one is made per delivery, and a
    tuple is built three times faster.
    """

    origin: str
    oepoch: int
    oseq: int
    lamport: int
    sender_lamport: int
    via: str
    body: bytes


@dataclass(slots=True)
class SnapshotFile:
    """A snapshot file for the driver to write: ``snapshots/<sid>/<name>.json``."""

    sid: str
    name: str
    content: dict[str, Any]


@dataclass(slots=True)
class Outputs:
    """What one call into the core asks the driver to do.

    ``frames`` are to be sent in order; ``deliveries`` go to the application;
    ``events`` go to the trace; ``files`` are snapshot records to write.
    """

    frames: list[Frame] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    files: list[SnapshotFile] = field(default_factory=list)

    def extend(self, other: Outputs) -> None:
        self.frames.extend(other.frames)
        self.deliveries.extend(other.deliveries)
        self.events.extend(other.events)
        self.files.extend(other.files)


def channel_name(src: str, dst: str, lane: int = 0) -> str:
    """The printed name of the directed channel ``src -> dst``: ``"A>B"``, or
    ``"A>B/c"`` on the control lane."""
    return f"{src}>{dst}/c" if lane else f"{src}>{dst}"
