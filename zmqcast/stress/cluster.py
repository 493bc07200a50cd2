"""The stress harness's hold on a real cluster: node processes and their admin lanes.

Each node is a ``zmqcast node`` process; its output is appended to
``RUN_DIR/logs/<node>.log`` across incarnations. Admin requests (status,
faults, workload, snapshot) go over one DEALER per node; see
:mod:`zmqcast.runtime.admin`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson
import zmq

from zmqcast.config import ClusterConfig
from zmqcast.runtime.admin import ADMIN_PREFIX
from zmqcast.runtime.spawn import spawn_node

RETRY = 0.2
"""Seconds between two attempts at an admin request a node has not answered."""


class Lane:
    """A DEALER to one node's admin lane that never queues for a dead peer.

    ``IMMEDIATE`` keeps a request meant for a killed incarnation from being
    delivered, much later, to its successor; a send that finds no connection
    is simply not made, and the caller retries.
    """

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], node: str, endpoint: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, f"{ADMIN_PREFIX}stress-{os.getpid()}-{node}".encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 50)
        self.sock.setsockopt(zmq.RECONNECT_IVL_MAX, 200)
        self.sock.setsockopt(zmq.CONNECT_TIMEOUT, 2000)
        self.sock.connect(endpoint)
        self.next_id = 0

    def send(self, op: str, **args: Any) -> int | None:
        """Send one request; its id, or None if the node is not connected."""
        self.next_id += 1
        msg = {"v": 1, "k": "admin", "id": self.next_id, "op": op, **args}
        try:
            self.sock.send(orjson.dumps(msg), zmq.NOBLOCK)
        except zmq.Again:
            return None
        return self.next_id

    def replies(self) -> list[dict[str, Any]]:
        """Every reply waiting on the socket, without blocking."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                raw = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return out
            try:
                reply = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if type(reply) is dict:
                out.append(reply)

    def call(self, op: str, timeout: float, **args: Any) -> dict[str, Any] | None:
        """Send ``op`` until the node answers it, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rid = self.send(op, **args)
            retry_at = min(deadline, time.monotonic() + RETRY)
            while rid is not None and time.monotonic() < retry_at:
                if self.sock.poll(max(1, int((retry_at - time.monotonic()) * 1000))):
                    for reply in self.replies():
                        if reply.get("id") == rid:
                            return reply
            if rid is None:
                self.sock.poll(int(RETRY * 1000))  # not connected yet: wait a little
        return None


class Cluster:
    """Starts, kills and restarts the node processes of one run."""

    def __init__(
        self,
        cfg: ClusterConfig,
        config_path: Path,
        run_dir: Path,
        node_args: Sequence[str],
        prefix: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``prefix`` maps a node to what its command runs under (a namespace)."""
        self.cfg = cfg
        self.config_path = config_path
        self.run_dir = run_dir
        self.node_args = list(node_args)
        self.prefix = dict(prefix or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()
        """Nodes down because the nemesis killed them (and not restarted yet)."""
        self.crashed: list[tuple[str, int]] = []
        """(node, exit status) of every process that ended without being killed."""
        self._logs: dict[str, IO[bytes]] = {}
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.lanes = {n: Lane(self.ctx, n, cfg.node(n).endpoint) for n in cfg.ids}
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, node: str) -> None:
        """Start (or restart) ``node`` as a new process, so a new incarnation."""
        self.killed.discard(node)
        log = self._logs.get(node)
        if log is None:
            log = self._logs[node] = (self.run_dir / "logs" / f"{node}.log").open("ab")
        self.procs[node] = spawn_node(
            self.config_path, node, self.run_dir, self.node_args, log, self.prefix.get(node, ())
        )

    def kill(self, node: str) -> None:
        """``kill -9``: no shutdown, no flush, no ``stop`` event."""
        proc = self.procs[node]
        proc.kill()
        proc.wait()
        self.killed.add(node)

    def check_exits(self) -> list[str]:
        """Note nodes that ended on their own (a crash); return them."""
        gone = []
        for node, proc in self.procs.items():
            code = proc.poll()
            if code is not None and node not in self.killed:
                self.crashed.append((node, code))
                self.killed.add(node)  # reported once; restarted at settle
                gone.append(node)
        return gone

    def up(self, node: str) -> bool:
        return self.procs[node].poll() is None

    def close(self) -> None:
        """Kill whatever still runs and release sockets and files."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for lane in self.lanes.values():
            lane.sock.close(linger=0)
        self.ctx.term()
        for log in self._logs.values():
            log.close()
