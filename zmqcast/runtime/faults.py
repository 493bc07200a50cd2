"""Loss injection between a node's core and its sockets.

The injector sees every frame the core asks to send and decides its fate:
dropped, duplicated, delayed by a random time, or reordered behind the next
frame on the same link. It also holds the set of blocked peers, which cuts links
both ways to stage a partition. It never reads a clock or a global generator:
the runtime passes the time, and the generator is seeded by the config's
``faults.seed``, the node and its incarnation, so a run's faults can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from zmqcast.config import FaultConfig, LinkFaults
from zmqcast.core.events import EventKind
from zmqcast.core.frames import Frame


@dataclass(slots=True)
class Injected:
    """What one call decided: frames to send now, and the faults to log."""

    frames: list[Frame] = field(default_factory=list)
    faults: list[tuple[str, Frame]] = field(default_factory=list)


class FaultInjector:
    """Applies ``faults`` to the outgoing frames of node ``node_id``."""

    def __init__(self, faults: FaultConfig, node_id: str, rng: random.Random) -> None:
        self.config = faults
        self.node_id = node_id
        self.rng = rng
        self.blocked: set[str] = set()
        self._rates: dict[str, LinkFaults] = {}
        self._delayed: list[tuple[float, int, Frame]] = []
        self._held: dict[str, tuple[float, int, Frame]] = {}
        self._order = 0

    @property
    def active(self) -> bool:
        """Whether any frame could be touched at all (the fast path skips us)."""
        return self.config.active or bool(self.blocked) or bool(self._delayed or self._held)

    def update(self, config: FaultConfig, blocked: set[str]) -> None:
        """Replace the probabilities and the blocked peers (the nemesis, at run time).

        Frames already delayed or held keep their release times.
        """
        self.config = config
        self.blocked = set(blocked)
        self._rates.clear()

    def rates(self, peer: str) -> LinkFaults:
        """The fault probabilities of the link between this node and ``peer``."""
        rates = self._rates.get(peer)
        if rates is None:
            rates = self._rates[peer] = self.config.for_link(self.node_id, peer)
        return rates

    def send(self, frame: Frame, now: float) -> Injected:
        """Decide the fate of one outgoing frame."""
        out = Injected()
        peer = frame.dst
        if peer in self.blocked:
            out.faults.append((EventKind.INJECT_BLOCK, frame))
            return out
        rates = self.rates(peer)
        rng = self.rng
        if rates.loss and rng.random() < rates.loss:
            out.faults.append((EventKind.INJECT_DROP, frame))
            return out
        copies = 1
        if rates.dup and rng.random() < rates.dup:
            copies = 2
            out.faults.append((EventKind.INJECT_DUP, frame))
        for _ in range(copies):
            if rates.delay and rng.random() < rates.delay:
                out.faults.append((EventKind.INJECT_DELAY, frame))
                self._order += 1
                due = now + rng.uniform(0.0, self.config.max_delay)
                self._delayed.append((due, self._order, frame))
            elif rates.reorder and peer not in self._held and rng.random() < rates.reorder:
                # Held until the link's next frame has gone out, so the two swap.
                out.faults.append((EventKind.INJECT_REORDER, frame))
                self._order += 1
                self._held[peer] = (now + self.config.max_delay, self._order, frame)
            else:
                out.frames.append(frame)
                held = self._held.pop(peer, None)
                if held is not None:
                    out.frames.append(held[2])
        return out

    def admit(self, src: str) -> bool:
        """Whether a frame arriving from ``src`` may reach the core."""
        return src not in self.blocked

    def next_deadline(self) -> float:
        """When :meth:`due` next has something to release."""
        times = [d[0] for d in self._delayed]
        times.extend(h[0] for h in self._held.values())
        return min(times, default=float("inf"))

    def due(self, now: float) -> list[Frame]:
        """Delayed and held frames whose time has come, oldest first."""
        ready = [d for d in self._delayed if d[0] <= now]
        if ready:
            self._delayed = [d for d in self._delayed if d[0] > now]
        for peer, held in list(self._held.items()):
            if held[0] <= now:
                ready.append(held)
                del self._held[peer]
        ready.sort()
        return [frame for _, _, frame in ready if frame.dst not in self.blocked]
