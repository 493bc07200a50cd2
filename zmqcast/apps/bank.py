"""The bank, on the :class:`zmqcast.Node` API: money moved between neighbours, snapshotted.

Each node holds a balance and sends random amounts to its out-neighbours as
point-to-point messages; snapshots record the balances and the transfers in
flight, which must add up to the opening total (README, "Snapshots"). The
account itself is :class:`zmqcast.core.bank.Bank`, which the simulator runs
too; this module is what a real node adds around it:

- :class:`BankApp`: the node's :class:`~zmqcast.Application`. It reopens the
  account from the event log after a restart (the log is the ledger, see
  :mod:`zmqcast.core.ledger`) and credits transfers on the node's thread.
- :func:`run_bank`: the plan (:class:`~zmqcast.runtime.workload.BankPlan`):
  transfers at a rate for a while, snapshots in turn, then a quiet end. A
  transfer's debit and its send are one :meth:`~zmqcast.Node.atomically`
  step, so no cut falls between them and no money goes missing.
"""

from __future__ import annotations

import random
import threading
import time
from functools import partial
from typing import Any

from zmqcast.api import Application, Message, Node, NodeClosed, NodeStart, Transaction
from zmqcast.apps.console import Console
from zmqcast.core.bank import OPENING_BALANCE, Bank
from zmqcast.core.events import EventKind
from zmqcast.runtime.ledger import read_ledger
from zmqcast.runtime.workload import BankPlan, BankSchedule

POLL = 0.05
"""Seconds between two looks at the node while the run settles."""


class BankApp(Application):
    """One node's account as the node's application."""

    def __init__(self, out_peers: list[str], seed: str, console: Console | None = None) -> None:
        """``seed`` names the run; with the node and its incarnation it seeds the amounts.
        ``console`` prints the multicasts the node delivers (a chat beside the bank)."""
        self.console = console
        self.out_peers = out_peers
        self.seed = seed
        self.bank = Bank(out_peers, random.Random(seed))

    def on_start(self, start: NodeStart) -> None:
        """Reopen the account: at the opening balance, or where the log left it."""
        ledger = read_ledger(start.log_path, start.node_id) if start.restarted else None
        restored = ledger is not None and ledger.balance is not None
        balance = ledger.balance if ledger is not None and ledger.balance is not None else None
        self.bank.balance = OPENING_BALANCE if balance is None else balance
        self.bank.rng = random.Random(f"bank:{self.seed}:{start.node_id}:{start.inc}")
        self.applied = ledger.received if ledger is not None else None
        start.event(EventKind.BANK_OPEN, {"balance": self.bank.balance, "restored": restored})

    @property
    def balance(self) -> int:
        return self.bank.balance

    def state(self) -> dict[str, Any]:
        return self.bank.state()

    def status_fields(self) -> dict[str, Any]:
        return {"balance": self.bank.balance}

    def on_message(self, message: Message) -> None:
        if message.direct:
            self.bank.on_message(message.origin, message.payload)
        elif self.console is not None:
            self.console.delivered(message.lamport, message.payload, message.origin)

    def describe(self, payload: bytes) -> dict[str, Any]:
        return self.bank.describe(payload)

    def recorded(self, payload: bytes) -> Any:
        return self.bank.payload(payload)

    def transfer(self, tx: Transaction) -> bool:
        """Debit a random amount and send it to a random out-neighbour with room, as one step."""
        chosen = self.bank.next_transfer(tx.can_send)
        if chosen is None:
            return False
        tx.send(*chosen)
        return True


def _transfers(app: BankApp, count: int, tx: Transaction) -> int:
    """Make up to ``count`` transfers in one step; how many went out."""
    return sum(app.transfer(tx) for _ in range(count))


def run_bank(
    node: Node, app: BankApp, plan: BankPlan, console: Console, stop: threading.Event, seed: str
) -> int:
    """Run ``plan`` on ``node``; 0 once it settled, 1 if it did not in time.

    The node's clock for the plan starts once all its outgoing channels are
    connected. It then transfers and takes its turns initiating snapshots
    until the plan's end, and stops once it is finished (see
    :attr:`NodeStatus.finished`) and has been quiet (no transfer or snapshot
    step here, no data frame from a peer) for the plan's grace period.
    """
    ids = list(node.config.ids)
    schedule = BankSchedule(
        plan, ids.index(node.id), len(ids), random.Random(f"schedule:{seed}:{node.id}:{node.inc}")
    )
    while not node.status().connected:
        if stop.wait(POLL):
            return 0
    schedule.start(time.monotonic())
    while not stop.is_set() and not node.closed:
        now = time.monotonic()
        if now >= schedule.end:
            break
        if not node.paused:
            count = schedule.transfers_due(now)
            variant = schedule.snapshot_due(now)
            try:
                if count:
                    node.atomically(partial(_transfers, app, count))
                if variant is not None:
                    node.snapshot_future(variant)
            except NodeClosed:  # the node is stopping
                return 0
        wait = min(schedule.next_deadline(), schedule.end) - time.monotonic()
        stop.wait(max(0.0, min(wait, POLL)))
    # Settle: peers' last transfers and snapshot records must still find us,
    # and a peer still retransmitting to us needs our acks, so a node ends
    # only once no peer has sent it data for the grace period too. What waits
    # on a peer that already stopped is given up once that peer is suspected.
    while not stop.is_set() and not node.closed:
        now = time.monotonic()
        status = node.status()
        quiet = min(now - node.last_activity, status.quiet)
        if status.finished and quiet >= plan.grace:
            return 0
        if now - schedule.end > plan.limit:
            console.write(f"[{node.id}] error: the bank run did not settle in time")
            return 1
        stop.wait(POLL)
    return 0
