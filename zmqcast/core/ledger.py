"""A bank node's account replayed from its own events, for a restarted incarnation.

Balances are not volatile state: the event log is the ledger. Every transfer a
node sends or receives is logged before the frame that sends or acknowledges it
leaves the node, so after a crash the log holds every transfer the rest of the
cluster can know about. The new incarnation reopens its account at the balance
the log gives, and remembers which transfers it already received, so a
transfer its predecessor took but had not acknowledged, which the sender
retransmits to the new incarnation, is not credited twice. The runtime replays
the log file (:mod:`zmqcast.runtime.ledger`); the simulator replays its trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zmqcast.core.events import EventKind
from zmqcast.core.seqset import SeqSet


@dataclass(slots=True)
class Ledger:
    """What a node's events say about its account."""

    balance: int | None = None
    """The balance after the last event; None if no account was ever opened."""
    received: dict[tuple[str, int], SeqSet] = field(default_factory=dict)
    """(sender, sender incarnation) -> per-link numbers ``n`` of transfers received."""

    def apply(self, ev: Mapping[str, Any]) -> None:
        """Account for one event of this node (others are ignored)."""
        kind = ev.get("kind")
        amount = ev.get("amount")
        if kind == EventKind.BANK_OPEN and type(ev.get("balance")) is int:
            self.balance = ev["balance"]
        elif self.balance is None or type(amount) is not int:
            return
        elif kind == EventKind.APP_SEND:
            self.balance -= amount
        elif kind == EventKind.APP_RECV:
            self.balance += amount
            src, finc, n = ev.get("from"), ev.get("finc"), ev.get("n")
            if type(src) is str and type(finc) is int and type(n) is int:
                self.received.setdefault((src, finc), SeqSet()).add(n)


def replay(events: Iterable[Mapping[str, Any]], node_id: str) -> Ledger:
    """The ledger of ``node_id`` after ``events`` (every incarnation of it)."""
    ledger = Ledger()
    for ev in events:
        if ev.get("node") == node_id:
            ledger.apply(ev)
    return ledger
