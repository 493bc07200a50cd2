"""The narrow interface through which channel endpoints report to their node."""

from __future__ import annotations

from typing import Any, Protocol

from zmqcast.core.frames import Frame


class Recorder(Protocol):
    """Collects what a channel endpoint wants sent and noted.

    The node implements this and stamps every event with its id, incarnation,
    Lamport time and the current time, so channel code stays free of them.
    """

    def frame(self, frame: Frame) -> None:
        """Queue ``frame`` for transmission."""

    def event(self, kind: str, fields: dict[str, Any]) -> None:
        """Record a trace event of ``kind``."""
