"""The Lamport logical clock, with the seed's exact rules and one stamping rule.

Lamport's condition (Lamport 1978, "Time, Clocks, and the Ordering of Events in
a Distributed System", IR1/IR2) asks that two events of one process never share
a value. The seed ticks on every send and every receipt; a receipt that also
releases held-back deliveries, or a delivery released by a timer, is an event
with no tick of its own. :meth:`LamportClock.stamp` gives such events a value
strictly above the last event's, whatever layer stamped that one: the clock,
not each layer, remembers it, so a bank transfer and a timed-out holdback
delivery can never share a value.
"""

from __future__ import annotations


class LamportClock:
    """Increment before a send; on receipt become ``max(local, received) + 1``."""

    __slots__ = ("stamped", "value")

    def __init__(self) -> None:
        self.value = 0
        self.stamped = 0
        """The value of the last event stamped: the next must exceed it."""

    def tick_send(self) -> int:
        """Advance for a local send and return the timestamp to carry."""
        self.value += 1
        self.stamped = self.value
        return self.value

    def tick_receive(self, received: int) -> int:
        """Merge a received timestamp and return the receipt's timestamp."""
        self.merge(received)
        self.stamped = self.value
        return self.value

    def merge(self, received: int) -> None:
        """Tick for a receipt whose events are stamped next with :meth:`stamp`.

        The first of them takes the receipt's value; any further one (held-back
        messages the receipt releases) ticks past it.
        """
        self.value = max(self.value, received) + 1

    def stamp(self) -> int:
        """Value for an event that did not tick: the current one, if unused."""
        if self.value <= self.stamped:
            self.value = self.stamped + 1
        self.stamped = self.value
        return self.value
