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


@dataclass(frozen=True, slots=True)
class Message:
    """One message handed to the application.

    A multicast delivery (``direct`` False, ``id`` its :class:`MessageId`) or a
    point-to-point message from an in-neighbour (``direct`` True, ``id``
    None). ``lamport`` is the receiving node's clock at the delivery.
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
    unreleased: int
    retransmits: int
    frames_sent: int
    snapshots_active: int

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
        )


class SnapshotAborted(Exception):
    """The snapshot this node started was aborted (a peer restarted, or it timed out)."""

    def __init__(self, sid: str, reason: str) -> None:
        super().__init__(f"snapshot {sid} aborted: {reason}")
        self.sid = sid
        self.reason = reason


class NodeClosed(RuntimeError):
    """The node is closed (or its loop stopped): it takes no more work."""
