"""The benchmark's node, on the :class:`zmqcast.Node` API (``zmqcast node --bench-send``).

A sender multicasts its messages as fast as the windows take them: each
:meth:`~zmqcast.Node.atomically` step sends as many as fit, sharing frames
(:meth:`~zmqcast.Transaction.multicast_many`), stamped with the time they go
out, and a full window is waited out with one blocking multicast; every
node counts its deliveries and their latencies on the node's thread
(:class:`~zmqcast.runtime.benchload.BenchLoad`). A node prints ``BENCH-DONE``
once it has sent, had released and received everything, keeps relaying until
it is stopped (its peers may still need it), then prints ``BENCH {json}``.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

import orjson

from zmqcast.api import Application, Message, Node, NodeClosed, Transaction
from zmqcast.runtime.benchload import BenchLoad

POLL = 0.002
"""Seconds between two looks at the node while waiting for the end (a measurement)."""


class BenchApp(Application):
    """Counts deliveries and samples their latencies, on the node's thread."""

    def __init__(self, load: BenchLoad) -> None:
        self.load = load
        self.released: float | None = None
        """When everything this node sent was released (a sender only)."""

    def on_message(self, message: Message) -> None:
        if not message.direct:
            self.load.note_delivery(message.payload, time.monotonic())


def run_bench(node: Node, app: BenchApp, out: TextIO, stop: threading.Event) -> int:
    """Send, wait for everything, say ``BENCH-DONE``, and relay until ``stop``."""
    load = app.load
    while not node.status().connected:
        if stop.wait(POLL):
            return 0
    batch = node.config.core.max_batch

    def fill(tx: Transaction) -> int:
        # As many as the window takes now, each stamped as it goes out.
        t = time.monotonic()
        taken = len(tx.multicast_many([load.body(t)] * min(load.send - load.sent, batch)))
        for _ in range(taken):
            load.note_send(t)
        return taken

    while load.sending and not stop.is_set():
        if node.atomically(fill):
            continue
        # The window is full: wait for room with one message, then fill again.
        t = time.monotonic()
        try:
            node.multicast(load.body(t))
        except NodeClosed:
            return 0
        load.note_send(t)
    while not stop.is_set():
        if load.send and app.released is None and not node.status().unreleased:
            app.released = time.monotonic()
        if (not load.send or app.released is not None) and load.received_all:
            out.write("BENCH-DONE\n")
            out.flush()
            stop.wait()
            break
        stop.wait(POLL)
    return 0


def report(node: Node, app: BenchApp, out: TextIO) -> None:
    """Print the ``BENCH`` record once the node has stopped."""
    status = node.status()
    record = app.load.summary(node.id, status.frames_sent, app.released)
    out.write("BENCH " + orjson.dumps(record).decode() + "\n")
    out.flush()
