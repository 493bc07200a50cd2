"""The benchmark's node, on the :class:`zmqcast.Node` API (``zmqcast node --bench-send``).

A sender multicasts its messages at ``--bench-rate`` a second (light load),
or as fast as the windows take them, with
:meth:`~zmqcast.Node.multicast_stream`: the node pulls each body from a
generator, stamped with the time it goes out, as its window has room, and
sends them in shared frames; every
node counts its deliveries and their latencies on the node's thread
(:class:`~zmqcast.runtime.benchload.BenchLoad`). A node prints ``BENCH-DONE``
once it has sent, had released and received everything, keeps relaying until
it is stopped (its peers may still need it), then prints ``BENCH {json}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TextIO

import orjson

from zmqcast.api import Application, Message, Node, NodeClosed
from zmqcast.runtime.benchload import BenchLoad

POLL = 0.05
"""Seconds between two looks at a sender's node while its last messages are released.
The figures come from the timestamps the node notes, not from this wait; a
short poll would only take the interpreter away from the node's thread."""


class BenchApp(Application):
    """Counts deliveries and samples their latencies, on the node's thread."""

    def __init__(self, load: BenchLoad) -> None:
        self.load = load
        self.released: float | None = None
        """When everything this node sent was released (a sender only)."""
        self.received_all = threading.Event()
        """Set once every expected delivery has come."""
        if load.received_all:
            self.received_all.set()

    def on_message(self, message: Message) -> None:
        if not message.direct:
            load = self.load
            load.note_delivery(message.payload, time.monotonic())
            if load.received_all:
                self.received_all.set()


def run_bench(node: Node, app: BenchApp, out: TextIO, stop: threading.Event) -> int:
    """Send, wait for everything, say ``BENCH-DONE``, and relay until ``stop``."""
    load = app.load
    while not node.status().connected:
        if stop.wait(POLL):
            return 0

    def bodies() -> Iterator[bytes]:
        # Pulled on the node's thread as the window has room: each body is
        # stamped with the time it goes out.
        while load.sending:
            t = time.monotonic()
            load.note_send(t)
            yield load.body(t)

    try:
        if load.rate:
            _paced(node, load, stop)
        else:
            node.multicast_stream(bodies()).result()
    except NodeClosed:
        return 0
    while load.send and app.released is None and not stop.is_set():
        if not node.status().unreleased:
            app.released = time.monotonic()
        else:
            stop.wait(POLL)
    while not app.received_all.wait(POLL):
        if stop.is_set():
            return 0
    if not stop.is_set():
        out.write("BENCH-DONE\n")
        out.flush()
        stop.wait()
    return 0


def _paced(node: Node, load: BenchLoad, stop: threading.Event) -> None:
    """Light load: one message every ``1 / rate`` seconds, each stamped as it is handed over."""
    interval = 1.0 / load.rate
    due = time.monotonic()
    while load.sending and not stop.is_set():
        t = time.monotonic()
        load.note_send(t)
        node.multicast(load.body(t))
        due += interval
        stop.wait(max(0.0, due - time.monotonic()))


def report(node: Node, app: BenchApp, out: TextIO) -> None:
    """Print the ``BENCH`` record once the node has stopped."""
    status = node.status()
    record = app.load.summary(node.id, status.frames_sent, status.items_sent, app.released)
    out.write("BENCH " + orjson.dumps(record).decode() + "\n")
    out.flush()
