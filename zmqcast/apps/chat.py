"""The seed's chat, on the :class:`zmqcast.Node` API: what ``zmqcast node`` runs.

Three ways to feed it, one per function:

- :func:`run_typed`: every line typed on standard input is multicast
  (``/snapshot [VARIANT]`` starts a snapshot instead). At the end of the input
  the node finishes: it multicasts what is left and stops once all of it is
  released, or once the work left has stopped shrinking.
- :func:`run_script`: the seed's automatic mode. Node ``i`` multicasts line
  ``i`` of :data:`SEED_SCRIPT` once it has delivered the lines of the nodes
  before it, and stops once it has every line and nothing is unreleased.
- :func:`run_rate`: generated lines at a rate (``--chat-rate``), for stress runs.

Deliveries are printed by :class:`ChatApp`, on the node's thread, in the
seed's shape; "Sent" lines are printed as each message goes out, before its
own delivery.
"""

from __future__ import annotations

import os
import random
import select
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import TextIO

from zmqcast.api import (
    Application,
    Message,
    MessageId,
    Node,
    NodeClosed,
    NodeStatus,
    Transaction,
)
from zmqcast.apps.console import Console
from zmqcast.core.snapshot import Variant

SEED_SCRIPT = ("Hello everyone!", "How are you?", "Final message from P3")
"""The seed's automatic mode, in English: node ``i`` sends line ``i``."""
SCRIPT_TIMEOUT = 60.0
"""Seconds the automatic mode may take before it gives up (exit status 1)."""
FINISH_MIN = 1.0
"""Seconds a finishing node waits at least for its work left to shrink."""
POLL = 0.05
"""Seconds between two looks at the node's status while waiting for a condition."""


def script_line(index: int, node_id: str) -> str:
    """The message node number ``index`` (0-based) sends in ``--auto`` mode."""
    return SEED_SCRIPT[index] if index < len(SEED_SCRIPT) else f"Message from {node_id}"


class ChatApp(Application):
    """Prints every delivery; remembers whom it has heard from (for the script)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.heard: set[str] = set()
        self._changed = threading.Condition()

    def on_message(self, message: Message) -> None:
        if not message.direct:
            self.console.delivered(message.lamport, message.payload, message.origin)
            with self._changed:
                self.heard.add(message.origin)
                self._changed.notify_all()

    def wait_heard(self, origins: set[str], until: float, stop: threading.Event) -> bool:
        """Wait until every node of ``origins`` has been heard from; False at ``until``."""
        with self._changed:
            while not origins <= self.heard:
                left = until - time.monotonic()
                if left <= 0 or stop.is_set():
                    return False
                self._changed.wait(min(left, POLL))
        return True


def _waiting_text(node_id: str, status: NodeStatus, text: str) -> str:
    waiting = status.waiting_on
    if waiting:
        verb = "has" if len(waiting) == 1 else "have"
        text += f" ({', '.join(waiting)} {verb} not acknowledged)"
    return f"[{node_id}] {text}"


def _count(n: int, noun: str) -> str:
    """``1 line``, ``6 lines``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ----------------------------------------------------------------- typed input
def finish_bound(node: Node) -> float:
    """How long a node whose input ended waits while nothing moves:
    ``max(1 s, 2 * rto_max)``, time for a retransmission at the longest
    backoff to be answered."""
    return max(FINISH_MIN, 2 * node.config.core.rto_max)


def linger_for(node: Node) -> float:
    """How long a node that is done waits for peers to go quiet: ``2 * rto_max``,
    time for a retransmission at the longest backoff to reach it."""
    return 2 * node.config.core.rto_max


def has_input(stream: TextIO | None) -> bool:
    """Whether standard input can bring lines to multicast.

    ``/dev/null`` (a service manager's default, or ``< /dev/null``) brings
    none, and its end is no request to stop: such a node relays until it is
    signalled. A pipe, a file or a terminal is read, and its end finishes the
    node.
    """
    if stream is None or stream.closed:
        return False
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISCHR(mode) and not os.isatty(stream.fileno()))


class _Lines:
    """Complete lines read from a file descriptor without blocking past ``POLL``.

    Reads the descriptor directly: a buffered ``readline`` would pull several
    lines into Python's buffer, where ``select`` no longer sees them.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending: list[bytes] = []
        self.ended = False
        self._partial = b""

    def read(self) -> None:
        ready, _, _ = select.select([self.fd], [], [], POLL)
        if not ready:
            return
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.ended = True
            if self._partial:
                self.pending.append(self._partial)
                self._partial = b""
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        self.pending.extend(t for line in lines if (t := line.rstrip(b"\r")))


def run_typed(
    node: Node,
    console: Console,
    stdin: TextIO,
    stop: threading.Event,
    err: TextIO,
    *,
    finish: bool = True,
) -> int:
    """Multicast the lines of ``stdin`` until ``stop`` is set; return the exit status.

    One line is in the node's hands at a time; while it waits for window
    space the node says so once, naming the peers that hold the window, and
    input is still read. ``finish``: the end of the input finishes the node
    (see :class:`_Finish`); otherwise it relays on until ``stop``. A
    ``stdin`` that can bring no input (``/dev/null``) just waits for ``stop``.
    """
    if not has_input(stdin):
        stop.wait()
        return 0
    lines = _Lines(stdin.fileno())
    limit = node.max_payload
    sending: Future[MessageId] | None = None
    since = 0.0
    stalled = False
    finishing: _Finish | None = None
    while not stop.is_set() and not node.closed:
        if sending is None and lines.pending:
            text = lines.pending[0].decode("utf-8", "replace")
            body = text.encode()
            if text.startswith("/"):
                lines.pending.pop(0)
                _command(node, console, text)
            elif len(body) > limit:
                lines.pending.pop(0)
                console.write(
                    f"[{node.id}] error: line of {len(body)} bytes not sent: "
                    f"a message carries at most {limit}"
                )
            else:
                sending = node.multicast_future(body, on_sent=partial(_sent, console, body))
                since = time.monotonic()
            continue
        if sending is not None and sending.done():
            if sending.exception() is not None:  # the node closed under us
                return 0
            lines.pending.pop(0)
            sending, stalled = None, False
            continue
        if sending is not None and not stalled and time.monotonic() - since >= POLL:
            stalled = True
            text = f"[{node.id}] waiting for window space"
            waiting = node.status().waiting_on
            if waiting:
                verb = "has" if len(waiting) == 1 else "have"
                text += f": {', '.join(waiting)} {verb} not acknowledged"
            err.write(text + "\n")
            err.flush()
        if not lines.ended:
            lines.read()
            continue
        if not finish:
            stop.wait()
            return 0
        finishing = finishing or _Finish(node, err)
        if finishing.done(len(lines.pending)):
            return 0
        stop.wait(POLL)
    return 0


def _sent(console: Console, body: bytes, _id: MessageId, lamport: int) -> None:
    console.sent(lamport, body)


class _Finish:
    """Decides when a node whose input ended may stop.

    That is once every line is multicast and everything it sent is released
    (and no snapshot it takes part in is under way), and no peer has sent it
    data for ``2 * rto_max`` (or :func:`finish_bound` seconds passed since); or once
    :func:`finish_bound` seconds passed in which the work left (lines not
    sent, items unreleased) reached no new low. So a long input is sent in
    full as long as peers keep acknowledging, and peers that are gone cost a
    few seconds, not the node's life.
    """

    def __init__(self, node: Node, err: TextIO) -> None:
        self.node = node
        self.err = err
        self.bound = finish_bound(node)
        self.linger = linger_for(node)
        self.best = float("inf")
        self.deadline = time.monotonic() + self.bound
        self.settled_at: float | None = None

    def done(self, unsent: int) -> bool:
        status = self.node.status()
        now = time.monotonic()
        if not unsent and status.settled:
            # Our part is done. Linger while peers still send to us: their last
            # lines may be on their way (with relay trees nobody else relays
            # them to us), and a peer still retransmitting needs our acks.
            if self.settled_at is None:
                self.settled_at = now
            return status.quiet >= self.linger or now - self.settled_at >= self.bound
        self.settled_at = None
        left = unsent + status.unreleased + status.ctl_unreleased
        if left < self.best:
            self.best, self.deadline = left, now + self.bound
        if now < self.deadline:
            return False
        text = "end of input: stopping with "
        if unsent:
            text += f"{_count(unsent, 'line')} not sent and "
        text += f"{_count(status.unreleased, 'item')} unreleased"
        self.err.write(_waiting_text(self.node.id, status, text) + "\n")
        self.err.flush()
        return True


def _command(node: Node, console: Console, text: str) -> None:
    """Interactive commands: ``/snapshot [VARIANT]``."""
    name, _, arg = text[1:].partition(" ")
    if name != "snapshot":
        console.write(f"[{node.id}] unknown command /{name} (try /snapshot [variant])")
        return
    wanted = arg.strip()
    if wanted and wanted not in {v.value for v in Variant}:
        names = ", ".join(v.value for v in Variant)
        console.write(f"[{node.id}] cannot snapshot: no variant {wanted!r} (try {names})")
        return
    started = node.snapshot_future(wanted or None)
    # The console prints the milestones; a snapshot that cannot start says why.
    started.add_done_callback(lambda f: _say_failed(node, console, f.exception()))


def _say_failed(node: Node, console: Console, exc: BaseException | None) -> None:
    if isinstance(exc, ValueError):
        console.write(f"[{node.id}] cannot snapshot: {exc}")


# ----------------------------------------------------------------- the seed's script
def run_script(node: Node, app: ChatApp, console: Console, stop: threading.Event) -> int:
    """The seed's automatic mode; 0 once done, 1 if it took too long."""
    ids = list(node.config.ids)
    index = ids.index(node.id)
    until = time.monotonic() + SCRIPT_TIMEOUT
    linger = linger_for(node)

    def failed() -> int:
        if stop.is_set():
            return 0
        console.write(f"[{node.id}] error: auto mode did not finish in time")
        return 1

    if not app.wait_heard(set(ids[:index]), until, stop):
        return failed()
    body = script_line(index, node.id).encode()
    future = node.multicast_future(body, on_sent=lambda _id, lamport: console.sent(lamport, body))
    if not _await(future.done, until, stop):
        return failed()
    if not app.wait_heard(set(ids) - {node.id}, until, stop):
        return failed()
    # Done once nothing of ours is unreleased, or every peer still holding
    # some has gone silent (a peer that finished may stop before our last
    # retransmission reaches it). Then linger while peers still send to us:
    # they may need our acks.
    done_at: float | None = None
    while time.monotonic() < until:
        if stop.is_set():
            return 0
        status = node.status()
        if done_at is None and status.finished:
            done_at = time.monotonic()
        if done_at is not None and min(time.monotonic() - done_at, status.quiet) >= linger:
            return 0
        stop.wait(POLL)
    return failed()


def _await(done: Callable[[], bool], until: float, stop: threading.Event) -> bool:
    while not done():
        if stop.is_set() or time.monotonic() >= until:
            return False
        stop.wait(POLL)
    return True


# ----------------------------------------------------------------- generated lines
def run_rate(
    node: Node, console: Console, rate: float, stop: threading.Event, rng: random.Random
) -> int:
    """Multicast ``chat N from P1#INC`` at ``rate`` per second until ``stop``.

    Gaps are exponential, drawn from ``rng``. While a window is full the line
    waits; the time lost is not made up in a burst later. A paused workload
    (``zmqcast stress`` settling the cluster) sends nothing.
    """
    while not node.status().connected:
        if stop.wait(POLL):
            return 0
    count = 0
    due = time.monotonic() + rng.expovariate(rate)

    def burst(tx: Transaction) -> int:
        nonlocal due, count
        sent = 0
        now = time.monotonic()
        while due <= now and tx.can_multicast():
            count += 1
            body = f"chat {count} from {tx.node_id}#{node.inc}".encode()
            tx.multicast(body)
            console.sent(tx.lamport, body)
            due += rng.expovariate(rate)
            sent += 1
        return sent

    while not stop.is_set() and not node.closed:
        now = time.monotonic()
        if not node.paused and due <= now:
            try:
                node.atomically(burst)
            except NodeClosed:  # the node is stopping
                return 0
        # Backpressure or a pause: the skipped time is not made up later.
        due = max(due, time.monotonic())
        stop.wait(max(0.0, min(due - time.monotonic(), POLL)))
    return 0
