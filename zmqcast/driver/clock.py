"""The clocks a driver can run on: the system's, or the simulator's virtual time.

The core never reads a clock; the driver passes it the time. Which clock the
driver reads is injected, so the same driver code runs a real node (monotonic
seconds for timers, Unix time for the log's ``wall`` field) and a simulated one
(virtual seconds the simulator advances event by event).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where a driver reads the time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back: what the core's timers run on."""
        ...

    def wall(self) -> float:
        """Unix time in seconds: stamped on log records for people to read."""
        ...


class SystemClock:
    """The host's clocks (``time.monotonic`` and ``time.time``)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class VirtualClock:
    """Time that moves only when the simulator sets :attr:`now`.

    ``wall`` is ``now`` after :attr:`epoch`, so a trace reads like a real run
    that began at that Unix time.
    """

    def __init__(self, now: float = 0.0, epoch: float = 0.0) -> None:
        self.now = now
        self.epoch = epoch

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now
