"""The benchmark workload of a real node (``zmqcast node --bench-send/--bench-expect``).

An origin multicasts ``send`` messages of ``size`` bytes as fast as its windows
allow, or at ``rate`` a second (light load, for latency); each body starts
with the send time on the host's monotonic clock, which every process on the
host shares. A receiver counts deliveries until it has
``expect``, keeping the send-to-deliver latency of each. A node prints
``BENCH-DONE`` once it has sent, had released and received everything, and
``BENCH {json}`` when it is stopped; ``zmqcast bench`` reads both.
"""

from __future__ import annotations

import random
import resource
import struct
from dataclasses import dataclass, field
from typing import Any

STAMP = struct.Struct("<d")
LATENCY_SAMPLES = 4000
"""Latencies kept per receiver (a uniform reservoir)."""


def peak_rss_kb() -> int:
    """This process's peak resident set size so far, in KiB (Linux units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class BenchLoad:
    """What one node sends or expects, and what it saw."""

    send: int = 0
    size: int = 64
    expect: int = 0
    rate: float = 0.0
    """Messages per second to send at; 0: as fast as the windows allow."""
    sent: int = 0
    delivered: int = 0
    first_send: float | None = None
    last_send: float | None = None
    first_delivery: float | None = None
    last_delivery: float | None = None
    latencies: list[float] = field(default_factory=list)
    checkpoint: int = 0
    """Record peak RSS when this many messages were sent or delivered (0: never)."""
    rss_checkpoint_kb: int | None = None
    done: bool = False
    """Announced ``BENCH-DONE``: sent, released and received all."""
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def body(self, now: float) -> bytes:
        """The next message: its send time, padded to ``size`` bytes."""
        stamp = STAMP.pack(now)
        return stamp + b"." * max(0, self.size - len(stamp))

    def _maybe_checkpoint(self, count: int) -> None:
        if count == self.checkpoint and self.rss_checkpoint_kb is None:
            self.rss_checkpoint_kb = peak_rss_kb()

    def note_send(self, now: float) -> None:
        self.sent += 1
        self._maybe_checkpoint(self.sent)
        if self.first_send is None:
            self.first_send = now
        self.last_send = now

    def note_delivery(self, body: bytes, now: float) -> None:
        """Count one delivery and sample its latency."""
        self.delivered += 1
        self._maybe_checkpoint(self.delivered)
        if self.first_delivery is None:
            self.first_delivery = now
        self.last_delivery = now
        if len(body) >= STAMP.size:
            latency = now - STAMP.unpack_from(body)[0]
            if len(self.latencies) < LATENCY_SAMPLES:
                self.latencies.append(latency)
            else:
                # random() and a product: a fifth of randrange's cost, per delivery.
                slot = int(self._rng.random() * self.delivered)
                if slot < LATENCY_SAMPLES:
                    self.latencies[slot] = latency

    @property
    def sending(self) -> bool:
        return self.sent < self.send

    @property
    def received_all(self) -> bool:
        return self.delivered >= self.expect

    def summary(
        self, node: str, frames_sent: int, items_sent: int, released: float | None
    ) -> dict[str, Any]:
        """The ``BENCH`` record of this node."""
        return {
            "node": node,
            "sent": self.sent,
            "delivered": self.delivered,
            "first_send": self.first_send,
            "last_send": self.last_send,
            "released": released,
            "first_delivery": self.first_delivery,
            "last_delivery": self.last_delivery,
            "latencies": [round(x, 7) for x in self.latencies],
            "frames_sent": frames_sent,
            "items_sent": items_sent,
            "rss_checkpoint_kb": self.rss_checkpoint_kb,
            "rss_end_kb": peak_rss_kb(),
        }
