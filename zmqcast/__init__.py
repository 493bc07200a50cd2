"""zmqcast: reliable group messaging and consistent snapshots over ZeroMQ.

Start with :class:`Node` (or :class:`AsyncNode`) and :func:`load_config`; README's
"Python API" section shows both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from zmqcast.api import (
    Application,
    AsyncNode,
    Backpressure,
    Message,
    MessageId,
    Node,
    NodeClosed,
    NodeRecord,
    NodeStart,
    NodeStatus,
    RecordedMessage,
    Snapshot,
    SnapshotAborted,
    Transaction,
    as_config,
)
from zmqcast.config import ClusterConfig, ConfigError

try:
    __version__ = version("zmqcast")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"


def load_config(config: Mapping[str, Any] | str | os.PathLike[str]) -> ClusterConfig:
    """Read and validate a cluster config from a file path or a dict.

    Raises :class:`ConfigError`, whose ``field`` names the field path at fault
    (``nodes[1].port``) and whose message says what is wrong.
    """
    return as_config(config)


__all__ = [
    "Application",
    "AsyncNode",
    "Backpressure",
    "ClusterConfig",
    "ConfigError",
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
    "__version__",
    "load_config",
]
