"""One Pyre (ZRE) node of the ``pyre`` bench scenario, run as a child process.

``python -m zmqcast.bench.pyre_node --netns NS --port P --group G --nodes N
[--send M] --size S --expect E``, run by the parent inside the network
namespace ``NS`` (``ip netns exec NS ...``). Before it starts Pyre, the node
checks that it really is in ``NS``: Pyre beacons by UDP broadcast on the first
non-loopback interface it sees, and outside the namespace that would be a real
one, so anywhere else it prints ``ERROR ...`` and exits 1. It then joins group
``G`` with its UDP beacon on port ``P`` and talks to the parent through lines
on stdin and stdout:

* it prints ``READY`` once ``N - 1`` peers are in the group, so that a SHOUT
  reaches them all (Pyre drops a SHOUT to a group it knows no peer of), with
  its endpoint, its namespace and the interfaces it sees;
* an origin (``--send M``) waits for ``GO``, SHOUTs ``M`` bodies as fast as
  its node thread takes them, and prints ``SENT {json}``;
* a receiver counts SHOUTs until it has ``E``, or until it was told ``DRAIN``
  (the origin is done) and nothing arrived for ``--idle`` seconds: Pyre does
  not repair loss, so what is missing then never comes. It prints
  ``RESULT {json}``;
* every node then waits for ``STOP`` (or end of input) and exits.

Bodies carry their send time on the host's monotonic clock, as the zmqcast
bench workload does, so latencies are comparable. Every wait is bounded: a
node past ``--limit`` seconds prints ``ERROR ...`` and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
import traceback
from typing import Any

import orjson
import pyre
import zmq

from zmqcast.runtime.benchload import BenchLoad

POLL_MS = 100
BATCH = 1000
"""Events handled per poll at most, so that commands and deadlines are seen in a flood."""
STOP_GRACE = 5.0
"""Seconds given to Pyre's polite stop before the process exits regardless."""


class Lines:
    """Lines from a raw file descriptor, read without blocking once it polls readable."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def read(self) -> list[str]:
        """The complete lines that arrived; end of input marks ``closed``."""
        chunk = os.read(self.fd, 4096)
        if not chunk:
            self.closed = True
        self.buffer += chunk
        *done, self.buffer = self.buffer.split(b"\n")
        return [line.decode().strip() for line in done]


NETNS_DIR = "/run/netns"
"""Where ``ip netns`` keeps a handle on each named namespace."""


def namespace_problem(name: str, netns_dir: str = NETNS_DIR) -> str | None:
    """Why this process is not in network namespace ``name``, or None if it is.

    The test ``ip netns identify`` makes: the handle ``ip netns add`` left in
    ``netns_dir`` and this process's own namespace are the same kernel object.
    """
    try:
        want = os.stat(os.path.join(netns_dir, name))
    except OSError as e:
        return f"no network namespace {name} ({e.strerror})"
    mine = os.stat("/proc/self/ns/net")
    if (mine.st_dev, mine.st_ino) != (want.st_dev, want.st_ino):
        return f"not running in network namespace {name}"
    return None


class PyreBench:
    """A Pyre node with the bench workload and a bounded event loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        problem = namespace_problem(args.netns)
        if problem is not None:
            say("ERROR", {"error": f"{problem}: refusing to beacon on the host's interfaces"})
            raise SystemExit(1)
        self.deadline = time.monotonic() + args.limit
        self.load = BenchLoad(send=args.send, size=args.size, expect=args.expect)
        self.node: Any = pyre.Pyre(f"bench-{os.getpid()}")
        self.node.set_port(str(args.port).encode())
        self.node.join(args.group)
        self.node.start()
        self.inbox: zmq.Socket[bytes] = self.node.socket()
        self.stdin = Lines(sys.stdin.fileno())
        self.poller = zmq.Poller()
        self.poller.register(self.inbox, zmq.POLLIN)
        self.poller.register(self.stdin.fd, zmq.POLLIN)
        self.commands: list[str] = []
        self.group = str(args.group).encode()

    def poll(self, timeout_ms: int) -> None:
        """Handle what is ready within ``timeout_ms``: node events and parent commands."""
        ready = dict(self.poller.poll(timeout_ms))
        if self.stdin.fd in ready:
            self.commands += self.stdin.read()
            if self.stdin.closed:
                self.commands.append("STOP")
        if self.inbox in ready:
            for _ in range(BATCH):
                try:
                    frames = self.inbox.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.on_event(frames)

    def on_event(self, frames: list[bytes]) -> None:
        """Count a SHOUT to our group (frames: type, peer, name, group, body)."""
        if frames[0] == b"SHOUT" and frames[3] == self.group:
            self.load.note_delivery(frames[4], time.monotonic())

    def wait_for(self, command: str) -> None:
        """Keep handling events until the parent sends ``command``."""
        while command not in self.commands:
            self.check(f"waiting for {command}")
            self.poll(POLL_MS)

    def check(self, doing: str) -> None:
        """End the process if the parent said ``STOP`` or the time is up."""
        if "STOP" in self.commands:
            raise SystemExit(0)
        if time.monotonic() > self.deadline:
            say("ERROR", {"error": f"gave up {doing} after {self.args.limit:g} s"})
            raise SystemExit(1)

    def discover(self) -> None:
        """Wait until every other node is in the group, then say ``READY``."""
        want = self.args.nodes - 1
        while len(self.node.peers_by_group(self.args.group)) < want:
            self.check(f"discovering {want} peers in group {self.args.group}")
            self.poll(POLL_MS)
        say(
            "READY",
            {
                "endpoint": self.node.endpoint(),
                "netns": self.args.netns,
                "interfaces": sorted(name for _, name in socket.if_nameindex()),
            },
        )

    def send(self) -> None:
        """SHOUT every body; ``shout`` blocks while Pyre's node thread is behind."""
        self.wait_for("GO")
        group = self.args.group
        for _ in range(self.load.send):
            now = time.monotonic()
            self.node.shout(group, self.load.body(now))
            self.load.note_send(now)
        # Pyre drops a peer's connection for good when its send queue is full.
        cut = [p for p in self.node.peers() if not self.node.peer_address(p)]
        say(
            "SENT",
            {
                "sent": self.load.sent,
                "first_send": self.load.first_send,
                "last_send": self.load.last_send,
                "disconnected": len(cut),
            },
        )

    def receive(self) -> None:
        """Count SHOUTs until all arrived, or the origin is done and the flow stopped."""
        quiet_since = time.monotonic()
        seen = 0
        while not self.load.received_all:
            self.check(f"receiving ({self.load.delivered} of {self.load.expect})")
            self.poll(POLL_MS)
            now = time.monotonic()
            if self.load.delivered != seen:
                seen, quiet_since = self.load.delivered, now
            elif "DRAIN" in self.commands and now - quiet_since > self.args.idle:
                break
        say(
            "RESULT",
            {
                "delivered": self.load.delivered,
                "first_delivery": self.load.first_delivery,
                "last_delivery": self.load.last_delivery,
                "latencies": [round(x, 7) for x in self.load.latencies],
            },
        )

    def stop(self) -> None:
        """Stop the node politely, but never wait on it for long.

        Pyre's node thread is not a daemon and blocks while its pipe to us is
        full, so a stop it cannot hear would keep the process alive forever.
        """
        stopper = threading.Thread(target=self._stop_quietly, daemon=True)
        stopper.start()
        stopper.join(STOP_GRACE)

    def _stop_quietly(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.node.stop()


def say(tag: str, record: dict[str, Any]) -> None:
    """One ``TAG {json}`` line to the parent."""
    sys.stdout.write(f"{tag} {orjson.dumps(record).decode()}\n")
    sys.stdout.flush()


def parse(argv: list[str]) -> argparse.Namespace:
    """The child's command line (the parent writes it; no user sees it)."""
    p = argparse.ArgumentParser(prog="python -m zmqcast.bench.pyre_node")
    p.add_argument("--netns", required=True, help="the network namespace it must run in")
    p.add_argument("--port", type=int, required=True, help="UDP beacon port")
    p.add_argument("--group", required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--idle", type=float, default=2.0)
    p.add_argument("--limit", type=float, default=300.0)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run one node to the end of its part; the exit status says whether it got there."""
    bench = PyreBench(parse(argv))
    try:
        bench.discover()
        if bench.load.send:
            bench.send()
        else:
            bench.receive()
        bench.wait_for("STOP")
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    # Exit without joining Pyre's threads, which are no daemons (see ``stop``).
    status = 1
    try:
        status = main(sys.argv[1:])
    except SystemExit as e:  # a bad command line or namespace: the node has said why
        status = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
