"""The stress harness's hold on a real cluster: node processes and their admin lanes.

Each node is a ``zmqcast node`` process; its output is appended to
``RUN_DIR/logs/<node>.log`` across incarnations. Admin requests (status,
faults, workload, snapshot) go over one DEALER per node; see
:mod:`zmqcast.runtime.admin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import zmq

from zmqcast.config import ClusterConfig
from zmqcast.runtime.admin import AdminClient
from zmqcast.runtime.spawn import NodeFlags, Proc, kill, kill_all, spawn_node


class Cluster:
    """Starts, kills and restarts the node processes of one run."""

    def __init__(
        self,
        cfg: ClusterConfig,
        config_path: Path,
        run_dir: Path,
        flags: NodeFlags,
        prefix: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``prefix`` maps a node to what its command runs under (a namespace)."""
        self.cfg = cfg
        self.config_path = config_path
        self.run_dir = run_dir
        self.flags = flags
        self.prefix = dict(prefix or {})
        self.procs: dict[str, Proc] = {}
        self.killed: set[str] = set()
        """Nodes down because the nemesis killed them (and not restarted yet)."""
        self.crashed: list[tuple[str, int]] = []
        """(node, exit status) of every process that ended without being killed."""
        self._logs: dict[str, IO[bytes]] = {}
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.lanes = {
            n: AdminClient.for_node(cfg, n, self.ctx, immediate=True) for n in cfg.ids
        }
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, node: str) -> None:
        """Start (or restart) ``node`` as a new process, so a new incarnation."""
        self.killed.discard(node)
        log = self._logs.get(node)
        if log is None:
            log = self._logs[node] = (self.run_dir / "logs" / f"{node}.log").open("ab")
        self.procs[node] = spawn_node(
            self.config_path,
            node,
            self.run_dir,
            self.flags,
            stdout=log,
            wrapper=self.prefix.get(node, ()),
        )

    def kill(self, node: str) -> None:
        """``kill -9``: no shutdown, no flush, no ``stop`` event."""
        kill(self.procs[node])
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
        kill_all(self.procs.values())
        for lane in self.lanes.values():
            lane.close()
        self.ctx.term()
        for log in self._logs.values():
            log.close()
