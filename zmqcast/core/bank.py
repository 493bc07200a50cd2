"""The bank workload: balances moved between neighbours by transfers.

Each node holds a balance and keeps sending random amounts to its
out-neighbours as app messages. Money is only moved, never made, so in a
consistent snapshot the recorded balances plus the transfers recorded in
channels add up to the opening total. The bank is deterministic given its
random generator, like the rest of the core.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import orjson

OPENING_BALANCE = 1000
MAX_TRANSFER = 50


def transfer_body(amount: int) -> bytes:
    """The app-message payload of a transfer: ``{"amount": N}``."""
    return orjson.dumps({"amount": amount})


def transfer_amount(body: bytes) -> int | None:
    """The amount a transfer payload carries, or None if it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    amount = data.get("amount") if type(data) is dict else None
    return amount if type(amount) is int and amount > 0 else None


class Bank:
    """One node's account; implements the snapshot layer's ``App`` protocol."""

    def __init__(
        self,
        out_peers: Sequence[str],
        rng: random.Random,
        balance: int = OPENING_BALANCE,
        max_transfer: int = MAX_TRANSFER,
    ) -> None:
        self.out_peers = list(out_peers)
        self.rng = rng
        self.balance = balance
        self.max_transfer = max_transfer
        self.rejected = 0
        """Received payloads that were not transfers (counted, not applied)."""

    def next_transfer(self, can_send: Callable[[str], bool]) -> tuple[str, bytes] | None:
        """Debit a random amount for a random out-neighbour with room; None if none.

        The caller must hand the payload to the core at once: debit and send
        are one step, so no cut can fall between them.
        """
        if self.balance <= 0 or not self.out_peers:
            return None
        dst = self.rng.choice(self.out_peers)
        if not can_send(dst):
            return None
        amount = self.rng.randint(1, min(self.max_transfer, self.balance))
        self.balance -= amount
        return dst, transfer_body(amount)

    # ------------------------------------------------------------- App protocol
    def state(self) -> dict[str, Any]:
        return {"balance": self.balance}

    def on_message(self, src: str, body: bytes) -> None:
        amount = transfer_amount(body)
        if amount is None:
            self.rejected += 1
            return
        self.balance += amount

    def describe(self, body: bytes) -> dict[str, Any]:
        return {"amount": transfer_amount(body) or 0}

    def payload(self, body: bytes) -> Any:
        return {"amount": transfer_amount(body) or 0}
