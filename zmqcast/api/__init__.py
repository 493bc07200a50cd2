"""The public Python API: :class:`Node` (blocking) and :class:`AsyncNode` (asyncio)."""

from zmqcast.api.aio import AsyncNode
from zmqcast.api.node import Node, as_config
from zmqcast.api.types import (
    Backpressure,
    Message,
    MessageId,
    NodeClosed,
    NodeRecord,
    NodeStatus,
    RecordedMessage,
    Snapshot,
    SnapshotAborted,
)

__all__ = [
    "AsyncNode",
    "Backpressure",
    "Message",
    "MessageId",
    "Node",
    "NodeClosed",
    "NodeRecord",
    "NodeStatus",
    "RecordedMessage",
    "Snapshot",
    "SnapshotAborted",
    "as_config",
]
