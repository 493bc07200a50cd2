"""A restarted bank node's account, rebuilt from its own event log.

Balances are not volatile state: the event log is the ledger. Every transfer a
node sends or receives is logged before the frame that sends or acknowledges it
leaves the process, so after ``kill -9`` the log holds every transfer the rest
of the cluster can know about. The new incarnation reopens its account at the
balance the log gives, and remembers which transfers it already received, so a
transfer its predecessor took but had not acknowledged, which the sender
retransmits to the new incarnation, is not credited twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from zmqcast.core.seqset import SeqSet


@dataclass(slots=True)
class Ledger:
    """What an event log says about one node's account."""

    balance: int | None = None
    """The balance at the end of the log; None if the log never opened an account."""
    received: dict[tuple[str, int], SeqSet] = field(default_factory=dict)
    """(sender, sender incarnation) -> per-link numbers ``n`` of transfers received."""


def read_ledger(path: Path, node_id: str) -> Ledger:
    """Replay ``bank_open``, ``app_send`` and ``app_recv`` of ``node_id`` from ``path``.

    Lines that do not parse (a torn tail is cut before this runs) are skipped.
    """
    ledger = Ledger()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ledger
    for line in raw.splitlines():
        # Cheap pre-filter: most lines of a bank log are not about the account.
        if b'"bank_open"' not in line and b'"app_' not in line:
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(ev) is not dict or ev.get("node") != node_id:
            continue
        kind = ev.get("kind")
        amount = ev.get("amount")
        if kind == "bank_open" and type(ev.get("balance")) is int:
            ledger.balance = ev["balance"]
        elif ledger.balance is None or type(amount) is not int:
            continue
        elif kind == "app_send":
            ledger.balance -= amount
        elif kind == "app_recv":
            ledger.balance += amount
            src, finc, n = ev.get("from"), ev.get("finc"), ev.get("n")
            if type(src) is str and type(finc) is int and type(n) is int:
                ledger.received.setdefault((src, finc), SeqSet()).add(n)
    return ledger
