"""The values the public API hands to applications: messages, snapshots, status, errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from zmqcast.core.node import Backpressure
from zmqcast.core.payload import payload_bytes

__all__ = [
    "Backpressure",
    "Message",
    "MessageId",
    "NodeClosed",
    "NodeRecord",
    "NodeStatus",
    "Snapshot",
    "SnapshotAborted",
]


class MessageId(NamedTuple):
    """A multicast's id: its origin, the origin's incarnation (epoch) and sequence number."""

    origin: str
    epoch: int
    seq: int


class Message(NamedTuple):
    """One message handed to the application.

    A multicast delivery (``direct`` False, ``id`` its :class:`MessageId`) or a
    point-to-point message from an in-neighbour (``direct`` True, ``id``
    None). ``lamport`` is the receiving node's clock at the delivery.
    Immutable; a named tuple, because one is made per delivery and a tuple is
    built three times faster than a frozen dataclass.
    """

    origin: str
    payload: bytes
    lamport: int
    direct: bool = False
    id: MessageId | None = None


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """A point-to-point message a snapshot recorded in flight on a channel."""

    src: str
    dst: str
    n: int
    """Its number on the link from ``src`` to ``dst`` (per sender incarnation)."""
    lamport: int
    """The sender's clock when it sent it."""
    payload: bytes


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node's part of a snapshot: its state at the cut and its channels' contents."""

    node: str
    inc: int
    lamport: int
    state: Any
    side: str
    """``receiver``: ``channels`` are this node's incoming links; ``sender``
    (sender-log variant): its outgoing ones."""
    channels: dict[str, list[RecordedMessage]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A completed global snapshot, as the initiator's ``global.json`` holds it."""

    sid: str
    variant: str
    initiator: str
    duration: float
    records: dict[str, NodeRecord]

    @classmethod
    def from_global(cls, content: dict[str, Any]) -> Snapshot:
        """Build from the content of ``global.json`` (see README, "Files")."""
        records: dict[str, NodeRecord] = {}
        for node, rec in content["records"].items():
            channels = {
                ch: [
                    RecordedMessage(
                        m["src"], m["dst"], m["n"], m["lamport"], _recorded_payload(m["body"])
                    )
                    for m in msgs
                ]
                for ch, msgs in rec["channels"].items()
            }
            records[node] = NodeRecord(
                node, rec["inc"], rec["lamport"], rec["state"], rec["side"], channels
            )
        return cls(
            content["sid"], content["variant"], content["initiator"], content["duration"], records
        )


def _recorded_payload(body: Any) -> bytes:
    """The bytes of a recorded message; a bank transfer's body is kept as its JSON text."""
    try:
        return payload_bytes(body)
    except ValueError:  # an application's own description of the payload
        return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What a running node reports about itself (the admin lane's ``status``)."""

    node: str
    inc: int
    lamport: int
    multicasts: int
    delivered: int
    connected: bool
    """Every outgoing channel has completed its handshake."""
    unreleased: int
    """Items this node sent (or relays) that are not yet released by every peer."""
    retransmits: int
    frames_sent: int
    snapshots_active: int
    ctl_unreleased: int = 0
    """Snapshot control messages not yet acknowledged."""
    holdback: int = 0
    """Deliveries held back for FIFO order."""
    waiting_on: tuple[str, ...] = ()
    """Out-neighbours that hold this node's unreleased items."""
    suspects: tuple[str, ...] = ()
    """Peers the failure detector suspects."""
    quiet: float = 0.0
    """Seconds since a peer last sent this node data."""
    items_sent: int = 0
    """Items queued on outgoing data channels (multicast copies, relays,
    repairs, app messages, markers), retransmissions not counted."""

    @property
    def settled(self) -> bool:
        """Nothing of this node's is unreleased and no snapshot runs here."""
        return not (self.unreleased or self.ctl_unreleased or self.snapshots_active)

    @property
    def finished(self) -> bool:
        """Settled, except for items held by peers the failure detector suspects.

        A peer that finished may stop before our last retransmission (or its
        ack) gets through; it is then silent, suspected, and waiting for it
        would never end. Applications that end a run use this, then linger
        until :attr:`quiet` shows that no peer still needs our acks.
        """
        if self.snapshots_active:
            return False
        if not (self.unreleased or self.ctl_unreleased):
            return True
        return set(self.waiting_on) <= set(self.suspects)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> NodeStatus:
        return cls(
            fields["node"],
            fields["inc"],
            fields["lamport"],
            fields["multicasts"],
            fields["delivered"],
            fields["connected"],
            fields["unreleased"],
            fields["retransmits"],
            fields["frames_sent"],
            fields["snapshots_active"],
            fields.get("ctl_unreleased", 0),
            fields.get("holdback", 0),
            tuple(fields.get("waiting_on", ())),
            tuple(fields.get("suspects", ())),
            fields.get("quiet", 0.0),
            fields.get("items_sent", 0),
        )


class SnapshotAborted(Exception):
    """The snapshot this node started was aborted (a peer restarted, or it timed out)."""

    def __init__(self, sid: str, reason: str) -> None:
        super().__init__(f"snapshot {sid} aborted: {reason}")
        self.sid = sid
        self.reason = reason


class NodeClosed(RuntimeError):
    """The node is closed (or its loop stopped): it takes no more work."""
