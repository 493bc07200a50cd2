"""The public Python API: :class:`Node` (blocking) and :class:`AsyncNode` (asyncio)."""

from zmqcast.api.aio import AsyncNode
from zmqcast.api.app import Application, NodeStart, Transaction
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
    "Application",
    "AsyncNode",
    "Backpressure",
    "Message",
    "MessageId",
    "Node",
    "NodeClosed",
    "NodeRecord",
    "NodeStart",
    "NodeStatus",
    "RecordedMessage",
    "Snapshot",
    "SnapshotAborted",
    "Transaction",
    "as_config",
]
