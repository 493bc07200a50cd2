"""The bank workload of a real node: when to transfer, when to snapshot, when to stop.

A plan is the same for every node of a run. Each node starts its clock once
all its outgoing channels are connected, transfers at ``rate`` per second
(exponential gaps from a seeded generator) for ``duration`` seconds, and takes
its turn initiating snapshots: cluster-wide snapshot ``k`` is due
``snapshot_every * (k + 1)`` seconds in and is initiated by node ``k mod N``.
It then waits until it has been idle for a grace period, so peers' last
transfers and snapshot records still find it, and stops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zmqcast.core.snapshot import Variant


@dataclass(frozen=True, slots=True)
class BankPlan:
    """What ``zmqcast node --bank`` runs (``zmqcast bank`` gives every node the same)."""

    rate: float
    """Transfers per second from this node."""
    duration: float
    """Seconds of transfers, counted from when the node's channels connect."""
    snapshot_every: float
    """Seconds between two snapshots of the cluster; 0 for none."""
    variants: tuple[Variant, ...]
    """Snapshot variants, used in turn."""
    grace: float = 4.0
    """Idle seconds after the end before the node stops."""
    limit: float = 60.0
    """Seconds after the end by which the node gives up waiting to be idle."""


class BankSchedule:
    """The due times of one node's transfers and snapshot initiations."""

    def __init__(self, plan: BankPlan, index: int, nodes: int, rng: random.Random) -> None:
        self.plan = plan
        self.index = index
        self.nodes = nodes
        self.rng = rng
        self.started: float | None = None
        self._next_transfer = float("inf")
        self._turn = index
        """The cluster-wide number of this node's next snapshot."""

    def start(self, now: float) -> None:
        self.started = now
        self._next_transfer = now + self._gap()

    def _gap(self) -> float:
        return self.rng.expovariate(self.plan.rate) if self.plan.rate > 0 else float("inf")

    @property
    def end(self) -> float:
        return float("inf") if self.started is None else self.started + self.plan.duration

    def transfers_due(self, now: float) -> int:
        """How many transfers are due by ``now`` (their times are then consumed)."""
        count = 0
        while self._next_transfer <= now and self._next_transfer < self.end:
            count += 1
            self._next_transfer += self._gap()
        return count

    def snapshot_due(self, now: float) -> Variant | None:
        """The variant of this node's snapshot if one is due now, else None."""
        every = self.plan.snapshot_every
        if self.started is None or every <= 0 or not self.plan.variants:
            return None
        due = self.started + every * (self._turn + 1)
        if now < due or due >= self.end:
            return None
        variant = self.plan.variants[self._turn % len(self.plan.variants)]
        self._turn += self.nodes
        return variant

    def next_deadline(self) -> float:
        """When :meth:`transfers_due` or :meth:`snapshot_due` next has work."""
        if self.started is None:
            return float("inf")
        due = self._next_transfer if self._next_transfer < self.end else float("inf")
        every = self.plan.snapshot_every
        if every > 0:
            snap = self.started + every * (self._turn + 1)
            if snap < self.end:
                due = min(due, snap)
        return due
