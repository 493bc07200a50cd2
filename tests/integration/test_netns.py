"""Network namespaces for the stress harness: a partition really cuts TCP."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.cluster import wait_until
from zmqcast.stress.netns import NetnsLab, unavailable

WHY = unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"namespaces unavailable: {WHY}")

LISTEN = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7411))
s.listen()
s.settimeout(20)
while True:
    c, _ = s.accept()
    c.sendall(b"ok")
    c.close()
"""

CONNECT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], 7411), timeout=1.5)
    print(c.recv(2).decode())
except OSError:
    print("cut")
"""


def _reach(lab: NetnsLab, src: str | None, dst: str) -> str:
    """``ok`` if ``src`` (a node, or None for the harness) can connect to ``dst``."""
    cmd = [sys.executable, "-c", CONNECT, lab.address[dst]]
    if src is not None:
        cmd = lab.wrap(src, cmd)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    return done.stdout.strip()


def _until_reached(lab: NetnsLab, src: str | None, dst: str) -> None:
    """Wait until ``src`` reaches ``dst`` (servers starting, ports moving bridges)."""
    wait_until(lambda: _reach(lab, src, dst) == "ok", 15, f"{src} to reach {dst}")


@pytest.mark.timeout(60)
def test_a_partition_cuts_the_sides_but_not_the_harness_and_heals() -> None:
    lab = NetnsLab(["P1", "P2", "P3"])
    lab.setup()
    servers = []
    try:
        for node in ("P1", "P2", "P3"):
            cmd = lab.wrap(node, [sys.executable, "-c", LISTEN, lab.address[node]])
            servers.append(subprocess.Popen(cmd))
        _until_reached(lab, "P1", "P3")
        _until_reached(lab, "P1", "P2")
        lab.partition((("P1", "P2"), ("P3",)))
        assert _reach(lab, "P1", "P3") == "cut"
        assert _reach(lab, "P3", "P2") == "cut"
        assert _reach(lab, "P1", "P2") == "ok"
        assert _reach(lab, None, "P3") == "ok"  # the admin lane crosses it
        lab.heal()
        _until_reached(lab, "P1", "P3")
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()
        lab.teardown()
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    assert lab.prefix not in listed
