"""What an application gives a node, and what it may do on the node's own thread.

An :class:`Application` is called on the node's thread: ``state`` at each
snapshot cut, ``on_message`` for every message in delivery order. Nothing
else runs on that thread in between, so ``state`` sees exactly the messages
handled before the cut: the condition for a consistent snapshot of your
state. Work done on your own threads reaches the node later, so state it
changes is only consistent if it changes inside :meth:`zmqcast.Node.atomically`
(for example a debit and the transfer that carries it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zmqcast.api.types import Backpressure, Message, MessageId
from zmqcast.core.events import Outputs
from zmqcast.core.node import NodeCore
from zmqcast.core.payload import payload_fields
from zmqcast.core.seqset import SeqSet


@dataclass(frozen=True, slots=True)
class NodeStart:
    """What :meth:`Application.on_start` learns about the incarnation it runs in."""

    node_id: str
    inc: int
    """This incarnation's number (README, "Incarnations")."""
    restarted: bool
    """The node's event log already held records: an earlier incarnation ran."""
    log_path: Path
    """The node's event log (README, "Event log"), to restore state from."""
    event: Callable[[str, dict[str, Any]], None]
    """Log an event of the application's own (a kind of ``EventKind``) before
    the incarnation's first message."""


class Application:
    """Base class of an application a node runs on its own thread; override what you need."""

    applied: Mapping[tuple[str, int], SeqSet] | None = None
    """Point-to-point messages an earlier incarnation of this node already
    applied, by ``(src, sender incarnation)``: copies of them are acknowledged
    but not handed over again. An application that restores its state after
    a restart (the bank, from its event log) sets it; others leave it None."""

    def on_start(self, start: NodeStart) -> None:
        """Called once, before the node's first message: restore state, log an opening."""

    def state(self) -> Any:
        """The JSON-serialisable state a snapshot records at this node's cut."""
        return None

    def on_message(self, message: Message) -> None:
        """Handle one multicast delivery or point-to-point message."""

    def status_fields(self) -> dict[str, Any]:
        """Fields the application adds to the node's ``status`` (the bank's ``balance``)."""
        return {}

    def describe(self, payload: bytes) -> dict[str, Any]:
        """Fields for the ``app_send``/``app_recv`` events of a point-to-point message."""
        return {"size": len(payload)}

    def recorded(self, payload: bytes) -> Any:
        """How a point-to-point message appears in a snapshot's channel state
        (README, "Files"): by default its payload as text or base64."""
        return payload_fields(payload)


class Transaction:
    """What :meth:`zmqcast.Node.atomically` hands your function, on the node's thread.

    Sends are taken at once (or refused with :class:`~zmqcast.Backpressure`),
    and their effects, deliveries included, are carried out after your
    function returns. No snapshot cut falls inside the function.
    """

    def __init__(self, core: NodeCore, now: float) -> None:
        self._core = core
        self._now = now
        self.outputs = Outputs()
        self.multicasts = 0

    @property
    def node_id(self) -> str:
        return self._core.id

    @property
    def lamport(self) -> int:
        """The node's Lamport clock now (after the sends made so far)."""
        return self._core.lamport

    def can_multicast(self) -> bool:
        return self._core.can_multicast()

    def can_send(self, dst: str) -> bool:
        return dst in self._core.out_peers and self._core.can_send_app(dst)

    def multicast(self, payload: bytes) -> MessageId:
        """Multicast ``payload``; :class:`Backpressure` if the window is full."""
        if not self._core.can_multicast():
            raise Backpressure(self._core.id)
        self.outputs.extend(self._core.multicast(bytes(payload), self._now))
        self.multicasts += 1
        return MessageId(*self._core.last_multicast)

    def multicast_many(self, payloads: list[bytes]) -> list[MessageId]:
        """Multicast as many of ``payloads`` as the window takes now, in order,
        sharing frames; return the ids of those sent (maybe none)."""
        taken, outputs = self._core.multicast_batch([bytes(p) for p in payloads], self._now)
        self.outputs.extend(outputs)
        self.multicasts += taken
        if not taken:
            return []
        origin, epoch, last = self._core.last_multicast
        return [MessageId(origin, epoch, n) for n in range(last - taken + 1, last + 1)]

    def send(self, dst: str, payload: bytes) -> None:
        """Send ``payload`` to out-neighbour ``dst``; :class:`Backpressure` if its window
        is full."""
        if dst not in self._core.out_peers:
            raise ValueError(f"dst: {dst!r} is not an out-neighbour of {self._core.id}")
        self.outputs.extend(self._core.send_app(dst, bytes(payload), self._now))
