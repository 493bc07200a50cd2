"""A hand-cranked network of protocol cores, for the core's unit tests."""

from __future__ import annotations

from collections.abc import Callable

from zmqcast.core.config import CoreConfig
from zmqcast.core.events import Delivery, Event, Outputs
from zmqcast.core.frames import Frame
from zmqcast.core.node import NodeCore
from zmqcast.driver.placement import place_core
from zmqcast.topology import Topology

STEP = 0.01
"""Seconds between two ticks of every core in :meth:`CoreNet.run`."""


class CoreNet:
    """Cores on one clock; every frame is carried at once unless ``drop`` says no."""

    def __init__(self, topology: Topology, cfg: CoreConfig) -> None:
        self.topology = topology
        self.cfg = cfg
        self.now = 0.0
        self.down: set[str] = set()
        self.drop: Callable[[Frame], bool] = lambda f: False
        self.queue: list[Frame] = []
        self.delivered: dict[str, list[Delivery]] = {n: [] for n in topology}
        self.events: list[Event] = []
        self.cores: dict[str, NodeCore] = {
            n: place_core(n, 1, topology, cfg, 0.0, restarted=False) for n in topology
        }
        for node, core in self.cores.items():
            self.absorb(node, core.start(0.0))
        self.pump()

    def boot(self, node: str, inc: int) -> None:
        """Restart ``node`` as incarnation ``inc``, with empty volatile state."""
        core = place_core(node, inc, self.topology, self.cfg, self.now, restarted=True)
        self.cores[node] = core
        self.down.discard(node)
        self.absorb(node, core.start(self.now))
        self.pump()

    def absorb(self, node: str, out: Outputs) -> None:
        self.queue.extend(out.frames)
        self.delivered[node].extend(out.deliveries)
        self.events.extend(out.events)

    def pump(self) -> None:
        while self.queue:
            frame = self.queue.pop(0)
            if frame.dst in self.down or frame.src in self.down or self.drop(frame):
                continue
            self.absorb(frame.dst, self.cores[frame.dst].receive(frame, self.now))

    def multicast(self, node: str, body: bytes) -> None:
        self.absorb(node, self.cores[node].multicast(body, self.now))
        self.pump()

    def run(self, seconds: float, *, interleave: bool = False) -> None:
        """Tick every core each ``STEP``; ``interleave`` carries each core's
        frames before the next one ticks, so the nodes' timers do not fire in
        lockstep (as a network's delays would see to)."""
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + STEP, 6)
            for name, core in self.cores.items():
                if name not in self.down:
                    self.absorb(name, core.tick(self.now))
                    if interleave:
                        self.pump()
            self.pump()

    def got(self, node: str, body: bytes) -> bool:
        return any(d.body == body for d in self.delivered[node])
