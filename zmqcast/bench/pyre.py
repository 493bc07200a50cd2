"""The ``multicast`` shape through Pyre (zeromq-pyre, the Python ZRE implementation).

``nodes`` real processes each run a Pyre node (:mod:`zmqcast.bench.pyre_node`)
in a group of their own; once all of them see each other, the first SHOUTs
``messages`` bodies of ``size`` bytes and the others count them. Figures are
taken as in :func:`zmqcast.bench.nodes.run_cluster`: throughput at the slowest
receiver from the first send, send-to-deliver latency from the monotonic send
time in each body, which every process on the host shares.

Discovery is Pyre's own: UDP beacons, on a port picked afresh for every run.
Pyre 0.3.4 beacons by broadcast on the first non-loopback IPv4 interface it
finds and cannot be told another (its ``set_interface`` is a stub); on the
host that is a real interface such as ``eth0``. So every Pyre node runs in a
network namespace of its own, built by :class:`zmqcast.stress.netns.NetnsLab`
for the run and removed after it: one veth into a private bridge, an address
on a private /24, and no route out. The beacons then go to that subnet's
broadcast address on the lab's bridge and nowhere else. Where namespaces
cannot be made (not root, no ``ip``), the comparison is skipped
(:class:`PyreSkipped`); it never falls back to the host's interfaces. Each
node also checks that it runs in the namespace it was given before it starts
Pyre, and reports the endpoint Pyre chose, which must lie in the lab's subnet.

Pyre does not repair loss: a peer whose send queue overflows is disconnected
and gets nothing more. So a receiver stops when it has everything or when the
flow has stopped after the origin finished, and the result says how much
arrived instead of waiting for the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import orjson

from zmqcast.bench.stats import percentile
from zmqcast.stress.netns import NetnsError, NetnsLab, unavailable

DISCOVERY_LIMIT = 30.0
"""Seconds for all nodes to see each other (beacons go out once a second)."""
RUN_LIMIT = 300.0
"""Seconds for the origin to send, or the receivers to finish, before the run fails."""
IDLE = 2.0
"""Seconds without a delivery, after the origin is done, before a receiver stops waiting."""
STOP_LIMIT = 10.0
"""Seconds a node has to exit once told to stop, before it is killed."""


class PyreDiscoveryError(RuntimeError):
    """The Pyre nodes did not find each other: a property of the host's network."""


class PyreSkipped(RuntimeError):
    """Pyre cannot be kept off the host's real interfaces here: no comparison is run."""


@dataclass(frozen=True)
class PyreResult:
    """One Pyre run, reduced like a zmqcast ``ClusterResult``."""

    throughput: float
    """Messages per second delivered at the slowest receiver."""
    latency_p50: float
    latency_p99: float
    delivered_fraction: float
    """The smallest share of the messages that any receiver got (1.0: no loss)."""
    delivered: int
    """Deliveries summed over the receivers."""
    disconnected: int
    """Receivers the origin's Pyre cut off because its send queue to them was full."""
    network: str = ""
    """Where the Pyre nodes ran: their namespaces' subnet and bridge."""
    endpoints: tuple[str, ...] = ()
    """Each node's ZRE endpoint, as Pyre derived it from the interface it beacons on."""


def reduce_pyre(sent: dict[str, Any], results: list[dict[str, Any]], messages: int) -> PyreResult:
    """Reduce the origin's ``SENT`` record and the receivers' ``RESULT`` records.

    A receiver's rate is what it got over the time from the first send to its
    last delivery; the slowest receiver is the one with the lowest rate. With
    no loss that is ``messages`` over (latest last delivery - first send),
    exactly the zmqcast figure; with loss it counts only what arrived.
    """
    start = float(sent["first_send"])
    rates = [
        r["delivered"] / max(float(r["last_delivery"]) - start, 1e-9) if r["delivered"] else 0.0
        for r in results
    ]
    latencies = [x for r in results for x in r["latencies"]]
    return PyreResult(
        throughput=min(rates, default=0.0),
        latency_p50=percentile(latencies, 0.5),
        latency_p99=percentile(latencies, 0.99),
        delivered_fraction=min((r["delivered"] for r in results), default=0) / messages,
        delivered=sum(r["delivered"] for r in results),
        disconnected=int(sent.get("disconnected", 0)),
    )


def free_udp_port() -> int:
    """A UDP port the OS just handed out, for one run's beacons."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", 0))
        port: int = s.getsockname()[1]
        return port


class _Children:
    """Node processes spoken to by lines: commands on stdin, ``TAG {json}`` on stdout."""

    def __init__(self, commands: list[list[str]]) -> None:
        self.lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.outputs: list[list[str]] = [[] for _ in commands]
        self.records: list[dict[str, dict[str, Any]]] = [{} for _ in commands]
        self.procs: list[subprocess.Popen[str]] = []
        for i, cmd in enumerate(commands):
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.procs.append(proc)
            assert proc.stdout is not None
            threading.Thread(target=self._pump, args=(i, proc.stdout), daemon=True).start()

    def _pump(self, i: int, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((i, line))
        self.lines.put((i, None))

    def tell(self, who: list[int], command: str) -> None:
        """Send ``command`` to the nodes ``who``; one that has gone is left alone."""
        for i in who:
            stdin = self.procs[i].stdin
            try:
                assert stdin is not None
                stdin.write(command + "\n")
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

    def wait(self, tag: str, who: list[int], limit: float, doing: str) -> list[dict[str, Any]]:
        """The ``tag`` record of each node in ``who``, in that order, within ``limit`` s."""
        deadline = time.monotonic() + limit
        while any(tag not in self.records[i] for i in who):
            left = deadline - time.monotonic()
            if left <= 0:
                late = [i + 1 for i in who if tag not in self.records[i]]
                raise self._failure(late[0], f"did not finish {doing} in {limit:g} s")
            try:
                i, line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                if tag not in self.records[i] and i in who:
                    raise self._failure(i + 1, f"exited while {doing}")
                continue
            self.outputs[i].append(line)
            word, _, rest = line.partition(" ")
            if word == "ERROR":
                raise self._failure(i + 1, orjson.loads(rest)["error"])
            if word.isupper() and rest.startswith("{"):
                self.records[i][word] = orjson.loads(rest)
        return [self.records[i][tag] for i in who]

    def _failure(self, node: int, what: str) -> RuntimeError:
        """A one-line error; the end of the node's output goes in a note for the traceback."""
        error = RuntimeError(f"pyre node {node} {what}")
        tail = "".join(self.outputs[node - 1])[-2000:]
        if tail.strip():
            error.add_note(f"pyre node {node} said:\n{tail}")
        return error

    def close(self) -> None:
        """Tell every node to stop; kill any that has not exited in time."""
        self.tell(list(range(len(self.procs))), "STOP")
        deadline = time.monotonic() + STOP_LIMIT
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()


def node_command(
    port: int, group: str, nodes: int, size: int, args: list[str], netns: str
) -> list[str]:
    """The command line of one Pyre bench node run with this interpreter.

    ``netns`` is the namespace the node must find itself in; it refuses to
    start Pyre anywhere else.
    """
    return [
        sys.executable,
        "-m",
        "zmqcast.bench.pyre_node",
        "--netns",
        netns,
        "--port",
        str(port),
        "--group",
        group,
        "--nodes",
        str(nodes),
        "--size",
        str(size),
        "--idle",
        str(IDLE),
        "--limit",
        str(DISCOVERY_LIMIT + 2 * RUN_LIMIT),
        *args,
    ]


def isolation_unavailable() -> str | None:
    """Why the Pyre nodes cannot get namespaces of their own here, or None if they can."""
    why = unavailable()
    if why is None:
        return None
    return (
        f"Pyre needs network namespaces ({why}), since it would otherwise beacon "
        "on the host's first real interface"
    )


def pyre_lab(nodes: int) -> NetnsLab:
    """A namespace per Pyre node on a private bridge, set up; :class:`PyreSkipped` if not.

    Never falls back to the host's network: without namespaces there is no run.
    """
    why = isolation_unavailable()
    if why is not None:
        raise PyreSkipped(why)
    lab = NetnsLab([f"Y{i + 1}" for i in range(nodes)])
    try:
        lab.setup()  # removes what it made if it fails
    except NetnsError as e:
        raise PyreSkipped(f"Pyre needs network namespaces, and setting them up failed: {e}") from e
    return lab


def check_endpoints(records: list[dict[str, Any]], lab: NetnsLab) -> tuple[str, ...]:
    """The nodes' ZRE endpoints, each checked to be an address of the lab's subnet.

    Pyre picks its address from the interface it beacons on, so an endpoint
    outside the subnet means a beacon went out somewhere else: that fails the run.
    """
    subnet = ipaddress.ip_network(f"{lab.subnet}.0/24")
    endpoints = tuple(str(r["endpoint"]) for r in records)
    for i, endpoint in enumerate(endpoints):
        host = endpoint.removeprefix("tcp://").rpartition(":")[0]
        try:
            inside = ipaddress.ip_address(host) in subnet
        except ValueError:
            inside = False
        if not inside:
            raise RuntimeError(
                f"pyre node {i + 1} beacons from {endpoint}, "
                f"outside its namespace's subnet {subnet}"
            )
    return endpoints


def run_pyre(nodes: int, messages: int, size: int) -> PyreResult:
    """Run ``nodes`` Pyre processes; the first SHOUTs ``messages`` to the others.

    Each process runs in a namespace of its own (:func:`pyre_lab`), which is
    removed at the end, also on errors.
    """
    lab = pyre_lab(nodes)
    try:
        return _run_in(lab, nodes, messages, size)
    finally:
        lab.teardown()


def _run_in(lab: NetnsLab, nodes: int, messages: int, size: int) -> PyreResult:
    port, group = free_udp_port(), f"zmqcast-bench-{secrets.token_hex(4)}"
    roles = [["--send", str(messages)]] + [["--expect", str(messages)]] * (nodes - 1)
    commands = [
        lab.wrap(node, node_command(port, group, nodes, size, role, lab.ns[node]))
        for node, role in zip(lab.nodes, roles, strict=True)
    ]
    children = _Children(commands)
    everyone, receivers = list(range(nodes)), list(range(1, nodes))
    try:
        try:
            ready = children.wait("READY", everyone, DISCOVERY_LIMIT, "discovery")
        except RuntimeError as e:
            raise PyreDiscoveryError(
                f"the nodes did not find each other ({e}); Pyre finds peers by UDP "
                f"broadcast beacons, here on port {port} to {lab.subnet}.255 in the "
                f"run's namespaces (bridge {lab.bridge})"
            ) from None
        endpoints = check_endpoints(ready, lab)
        children.tell([0], "GO")
        (sent,) = children.wait("SENT", [0], RUN_LIMIT, "sending")
        children.tell(receivers, "DRAIN")
        results = children.wait("RESULT", receivers, RUN_LIMIT, "receiving")
    finally:
        children.close()
    network = f"a network namespace per node, {lab.subnet}.0/24 on bridge {lab.bridge}"
    result = reduce_pyre(sent, results, messages)
    return dataclasses.replace(result, network=network, endpoints=endpoints)
