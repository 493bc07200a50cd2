"""The Lamport logical clock, with the seed's exact rules."""

from __future__ import annotations


class LamportClock:
    """Increment before a send; on receipt become ``max(local, received) + 1``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def tick_send(self) -> int:
        """Advance for a local send and return the timestamp to carry."""
        self.value += 1
        return self.value

    def tick_receive(self, received: int) -> int:
        """Merge a received timestamp and return the receipt's timestamp."""
        self.value = max(self.value, received) + 1
        return self.value
