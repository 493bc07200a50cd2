"""Real network partitions: one Linux network namespace per node, on two bridges.

When the harness runs as root and ``ip netns`` works, every node gets its own
namespace with one veth into a bridge in the harness's namespace, and its own
address on a private /24. A partition moves the veths of one side onto a second
bridge, so no frame passes between the sides any more: TCP connections between
them really stall and, given time, break, instead of only having their frames
discarded by the transport. The harness holds its address on both bridges, with
a /32 route to each node moved, so its admin requests cross any partition.
(Packet filters would be the usual tool, but neither iptables nor tc's drop
action can be counted on in containers; bridges only need ``ip``.)

The Pyre comparison of ``zmqcast bench pyre`` uses the same lab to keep Pyre's
UDP broadcast beacons off the host's real interfaces: each node's address has
its subnet's broadcast address, which only the lab's bridge carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

SUBNET_BASE = "10.213"


class NetnsError(RuntimeError):
    """A namespace command failed; the message names it and its error output."""


def _ip(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: {done.stderr.strip() or done.returncode}")


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or None if they can."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no ip command"
    probe = f"zcprobe{os.getpid() % 100000}"
    try:
        _ip("ip", "netns", "add", probe)
    except NetnsError as exc:
        return f"cannot create a namespace ({exc})"
    _ip("ip", "netns", "del", probe)
    return None


class NetnsLab:
    """The namespaces, veths and bridge of one run; :meth:`teardown` removes them."""

    def __init__(self, nodes: Sequence[str]) -> None:
        tag = os.getpid() % 100000
        self.prefix = f"zc{tag}"
        # Interface names must fit in 15 characters: zc<5 digits>h<2 digits>.
        self.subnet = f"{SUBNET_BASE}.{tag % 250}"
        self.bridge = f"{self.prefix}a"
        self.other_bridge = f"{self.prefix}b"
        """Where a partition moves its second side."""
        self.nodes = list(nodes)
        self.ns = {n: f"{self.prefix}-{i + 1}" for i, n in enumerate(nodes)}
        self.host_if = {n: f"{self.prefix}h{i + 1}" for i, n in enumerate(nodes)}
        self.address = {n: f"{self.subnet}.{i + 1}" for i, n in enumerate(nodes)}
        self.harness_address = f"{self.subnet}.254"
        self.mac = f"02:5a:{tag >> 16 & 0xFF:02x}:{tag >> 8 & 0xFF:02x}:{tag & 0xFF:02x}:fe"
        """Locally administered, one per run."""
        self._moved: list[str] = []

    def setup(self) -> Mapping[str, str]:
        """Create everything; return each node's address."""
        if len(self.nodes) > 250:
            raise NetnsError("at most 250 nodes fit the namespace subnet")
        try:
            # The second bridge gets the address as a /32: no route of its own
            # for the subnet, only the per-node /32 routes a partition adds, so
            # after a heal every path (and the reverse-path check) is the main
            # bridge again.
            for bridge, mask in ((self.bridge, 24), (self.other_bridge, 32)):
                _ip("ip", "link", "add", bridge, "type", "bridge")
                _ip("ip", "addr", "add", f"{self.harness_address}/{mask}", "dev", bridge)
                _ip("ip", "link", "set", bridge, "up")
            # One fixed MAC for both bridges. Fixed: a bridge left to itself
            # takes the smallest MAC of its ports and changes it as ports come
            # and go. Shared: a node's ARP entry for the harness stays right
            # when a partition moves it across and back.
            for bridge in (self.bridge, self.other_bridge):
                _ip("ip", "link", "set", bridge, "address", self.mac)
            for i, node in enumerate(self.nodes):
                ns, host = self.ns[node], self.host_if[node]
                inner = f"{self.prefix}n{i + 1}"
                _ip("ip", "netns", "add", ns)
                _ip("ip", "link", "add", host, "type", "veth", "peer", "name", inner)
                _ip("ip", "link", "set", inner, "netns", ns)
                _ip("ip", "link", "set", host, "master", self.bridge, "up")
                _ip(
                    "ip", "-n", ns, "addr", "add", f"{self.address[node]}/24", "brd", "+",
                    "dev", inner,
                )  # fmt: skip
                _ip("ip", "-n", ns, "link", "set", inner, "up")
                _ip("ip", "-n", ns, "link", "set", "lo", "up")
        except NetnsError:
            self.teardown()
            raise
        return dict(self.address)

    def wrap(self, node: str, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside ``node``'s namespace (``ip netns exec`` execs it)."""
        return ["ip", "netns", "exec", self.ns[node], *cmd]

    def partition(self, sides: Sequence[Sequence[str]]) -> None:
        """Move the second side's veths to the other bridge: the sides are cut."""
        self.heal()
        for node in sides[1]:
            _ip("ip", "link", "set", self.host_if[node], "master", self.other_bridge)
            self._moved.append(node)
            _ip(
                "ip", "route", "add", f"{self.address[node]}/32", "dev", self.other_bridge,
                "src", self.harness_address,
            )  # fmt: skip

    def heal(self) -> None:
        """Bring every moved veth back to the main bridge."""
        if not self._moved:
            return
        for node in self._moved:
            _ip("ip", "link", "set", self.host_if[node], "master", self.bridge)
            subprocess.run(
                ["ip", "route", "del", f"{self.address[node]}/32"], capture_output=True, check=False
            )
        self._moved.clear()
        # Address resolution that failed across the cut is cached as failed
        # for tens of seconds; forget it so traffic resumes at once.
        for ns in self.ns.values():
            subprocess.run(
                ["ip", "-n", ns, "neigh", "flush", "all"], capture_output=True, check=False
            )

    def teardown(self) -> None:
        """Remove namespaces (their veths go with them) and the bridge; never raises."""
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        for dev in self.host_if.values():
            subprocess.run(["ip", "link", "del", dev], capture_output=True, check=False)
        for bridge in (self.bridge, self.other_bridge):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
