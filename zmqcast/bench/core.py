"""``zmqcast bench core``: the protocol core alone, with no sockets and no processes.

Every node's :class:`~zmqcast.core.node.NodeCore` of a fresh mesh runs in this
one process. The origin multicasts ``messages`` bodies of ``size`` bytes in
batches of up to ``max_batch`` (as a real node does under load); every frame
goes through the wire codec both ways and is handed to its destination in the
order it was sent, and the cores' timers fire every millisecond of a clock
that moves only as the loop decides. The time spent inside each core's calls
is measured apart from the codec's, so the report says what one multicast
costs the origin's core, each receiver's core, and the codec: the ceiling the
core puts on a real cluster, and the figures "Where the time goes" in README
quotes.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass

from zmqcast.core.config import CoreConfig, Relay
from zmqcast.core.events import Outputs
from zmqcast.core.frames import Frame
from zmqcast.core.node import NodeCore
from zmqcast.driver.placement import place_core
from zmqcast.topology import mesh, node_names
from zmqcast.wire import decode, encode

STEP = 0.001
"""Seconds of the loop's clock between two rounds of timers."""
CONNECT_ROUNDS = 200
"""Timer rounds the handshakes get before the run gives up on them."""
STALL_ROUNDS = 10_000
"""Timer rounds without a multicast or a delivery before the run gives up."""


@dataclass(frozen=True)
class CoreResult:
    """What :func:`run_core` measured, in seconds of this process's time."""

    throughput: float
    """Multicasts per second of everything together: every core and the codec."""
    origin: float
    """Seconds in the origin's core per multicast."""
    receiver: float
    """Seconds in one receiver's core per multicast (the mean over receivers)."""
    codec: float
    """Seconds encoding and decoding frames per multicast, all links together."""
    delivered: int
    """Deliveries at every receiver together (``messages * (nodes - 1)``)."""


class _CoreLab:
    """The cores of one mesh, wired through the codec, timed per core."""

    def __init__(self, nodes: int, cfg: CoreConfig) -> None:
        names = node_names(nodes)
        topology = mesh(names)
        self.origin = names[0]
        self.now = 0.0
        self.cores: dict[str, NodeCore] = {
            n: place_core(n, 1 + i, topology, cfg, 0.0, restarted=False)
            for i, n in enumerate(names)
        }
        self.spent = dict.fromkeys(names, 0.0)
        self.codec = 0.0
        self.delivered = 0
        self._wire: deque[tuple[str, list[bytes]]] = deque()

    def timed(self, node: str, call: float) -> None:
        """Charge ``node`` with the time since ``call`` (a perf_counter reading)."""
        self.spent[node] += time.perf_counter() - call

    def take(self, outputs: Outputs) -> None:
        """Queue the frames a core emitted, encoded; count its deliveries."""
        self.delivered += len(outputs.deliveries)
        started = time.perf_counter()
        self._wire.extend((f.dst, encode(f)) for f in outputs.frames)
        self.codec += time.perf_counter() - started

    def carry(self) -> None:
        """Deliver every queued frame, in order, until none is left.

        Frames that arrived together for one node are handed to it as one batch,
        as a real node's poll loop does.
        """
        while self._wire:
            batches: dict[str, list[Frame]] = {}
            started = time.perf_counter()
            while self._wire:
                dst, parts = self._wire.popleft()
                batches.setdefault(dst, []).append(decode(parts))
            self.codec += time.perf_counter() - started
            for dst, frames in batches.items():
                call = time.perf_counter()
                outputs = self.cores[dst].receive_many(frames, self.now)
                self.timed(dst, call)
                self.take(outputs)

    def tick(self) -> None:
        self.now = round(self.now + STEP, 6)
        for node, core in self.cores.items():
            call = time.perf_counter()  # asking for the deadline is the core's work too
            if self.now >= core.next_deadline():
                outputs = core.tick(self.now)
                self.timed(node, call)
                self.take(outputs)
            else:
                self.timed(node, call)
        self.carry()


def run_core(
    nodes: int, messages: int, size: int, relay: str = "tree", trace: str = "lean"
) -> CoreResult:
    """Multicast ``messages`` bodies from the first node of a mesh of ``nodes`` cores."""
    cfg = dataclasses.replace(CoreConfig(), relay=Relay(relay), trace_messages=trace == "full")
    lab = _CoreLab(nodes, cfg)
    for core in lab.cores.values():
        lab.take(core.start(0.0))
    lab.carry()
    for _ in range(CONNECT_ROUNDS):
        if all(core.connected() for core in lab.cores.values()):
            break
        lab.tick()
    else:
        raise RuntimeError(f"the {nodes} cores did not connect in {CONNECT_ROUNDS} rounds")
    lab.spent = dict.fromkeys(lab.spent, 0.0)
    lab.codec = 0.0
    lab.delivered = 0
    origin = lab.cores[lab.origin]
    body = bytes(size)
    batch = [body] * cfg.max_batch
    sent = 0
    started = time.perf_counter()
    idle = 0
    while sent < messages or lab.delivered < messages * (nodes - 1):
        progress = (sent, lab.delivered)
        if sent < messages:
            call = time.perf_counter()
            taken, outputs = origin.multicast_batch(batch[: messages - sent], lab.now)
            lab.timed(lab.origin, call)
            sent += taken
            lab.take(outputs)
            lab.carry()
        lab.tick()
        idle = 0 if (sent, lab.delivered) != progress else idle + 1
        if idle > STALL_ROUNDS:
            raise RuntimeError(f"the cores stalled after {sent} multicasts")
    elapsed = time.perf_counter() - started
    receivers = [t for n, t in lab.spent.items() if n != lab.origin]
    return CoreResult(
        throughput=messages / elapsed,
        origin=lab.spent[lab.origin] / messages,
        receiver=sum(receivers) / len(receivers) / messages,
        codec=lab.codec / messages,
        delivered=lab.delivered,
    )
