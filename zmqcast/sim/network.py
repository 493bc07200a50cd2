"""The simulated network: per-frame loss, duplication, delay and partitions.

Every decision is drawn from the random generator handed in, in a fixed order,
so a seed fixes the whole run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FaultModel:
    """Per-frame fault probabilities and the delay distribution."""

    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    """Probability that a frame gets an extra delay uniform in ``[0, jitter]``,
    which lets later frames overtake earlier ones. At 1 every frame gets one,
    and no draw decides it (so a run with 1 replays the runs of the former
    on/off switch exactly)."""
    latency: float = 0.001
    """Fixed one-way delay, in virtual seconds."""
    jitter: float = 0.02
    """The largest extra delay of a reordered frame."""

    def __post_init__(self) -> None:
        for name in ("loss", "dup"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: must be in [0, 1), got {value}")
        if not 0.0 <= self.reorder <= 1.0:
            raise ValueError(f"reorder: must be in [0, 1], got {self.reorder}")
        if self.latency <= 0 or self.jitter < 0:
            raise ValueError("latency: must be positive (and jitter non-negative)")


@dataclass(slots=True)
class FaultCounts:
    """What the network did to the frames it carried."""

    frames: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    partitioned: int = 0
    to_down_node: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class SimNetwork:
    """Decides the fate of each frame: when (and how many times) it arrives."""

    def __init__(self, faults: FaultModel, rng: random.Random) -> None:
        self.faults = faults
        self.rng = rng
        self.counts = FaultCounts()
        self._blocked: set[tuple[str, str]] = set()
        # Latest arrival time per link, to count frames that overtake others.
        self._last_arrival: dict[tuple[str, str], float] = {}

    def partition(self, side_a: list[str], side_b: list[str]) -> None:
        """Block every link between the two sides, both ways."""
        for a in side_a:
            for b in side_b:
                self._blocked.add((a, b))
                self._blocked.add((b, a))

    def heal(self) -> None:
        self._blocked.clear()

    @property
    def partitioned(self) -> bool:
        return bool(self._blocked)

    def arrivals(self, src: str, dst: str, kind: str, now: float) -> list[float]:
        """The arrival times of one frame sent now: none if lost, two if duplicated."""
        counts = self.counts
        counts.frames += 1
        counts.by_kind[kind] = counts.by_kind.get(kind, 0) + 1
        if (src, dst) in self._blocked:
            counts.partitioned += 1
            return []
        faults = self.faults
        rng = self.rng
        if faults.loss and rng.random() < faults.loss:
            counts.dropped += 1
            return []
        copies = 2 if faults.dup and rng.random() < faults.dup else 1
        if copies == 2:
            counts.duplicated += 1
        times: list[float] = []
        link = (src, dst)
        for _ in range(copies):
            delay = faults.latency
            if faults.reorder and (faults.reorder >= 1.0 or rng.random() < faults.reorder):
                delay += rng.uniform(0.0, faults.jitter)
            at = now + delay
            last = self._last_arrival.get(link, 0.0)
            if at < last:
                counts.reordered += 1
            else:
                self._last_arrival[link] = at
            times.append(at)
        return times
