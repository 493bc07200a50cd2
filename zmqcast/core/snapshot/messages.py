"""App messages: what the snapshotted application sends, and what it must provide.

The application exchanges point-to-point *app messages* on the data channels,
numbered per link and sender incarnation by ``n``; a message's identity is
``(src, sinc, dst, n)``. Multicast traffic shares the channels but is not part
of the snapshotted state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

APP = "ap"
"""``meta.t`` of an app message on a data channel."""


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


def message_json(m: AppMessage, app: App | None) -> dict[str, Any]:
    """``m`` as it appears in a record's channel state (README, "Files")."""
    body = app.payload(m.body) if app is not None else m.body.hex()
    return {
        "src": m.src,
        "sinc": m.sinc,
        "dst": m.dst,
        "n": m.n,
        "lamport": m.lamport,
        "body": body,
    }
