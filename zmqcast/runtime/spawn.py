"""Starting ``zmqcast node`` child processes, as the launchers and the stress harness do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO


def free_ports(count: int) -> list[int]:
    """Local ports the OS just handed out, for a cluster on 127.0.0.1."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def node_command(config: Path, node_id: str, run_dir: Path, args: Sequence[str]) -> list[str]:
    """The command line of node ``node_id`` run with this interpreter."""
    cmd = [sys.executable, "-m", "zmqcast", "node", "--config", str(config), "--id", node_id]
    return [*cmd, "--run-dir", str(run_dir), *args]


def spawn_node(
    config: Path,
    node_id: str,
    run_dir: Path,
    args: Sequence[str],
    log: IO[bytes],
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start one node in its own session, its output going to ``log``.

    ``prefix`` goes before the command, e.g. ``ip netns exec NS`` to run the
    node in a network namespace of its own.

    Its own session keeps a terminal's Ctrl-C from reaching it directly: the
    parent forwards it, once, as SIGTERM (see :mod:`zmqcast.cli.procs`).
    """
    return subprocess.Popen(
        [*prefix, *node_command(config, node_id, run_dir, args)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
