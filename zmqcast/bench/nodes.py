"""zmqcast scenarios on real node processes: one or every node multicasts, all count.

The cluster is a fresh mesh config on free local ports, written to a
temporary run directory together with the nodes' event logs, as in any run.
"""

from __future__ import annotations

import dataclasses
import io
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from zmqcast.bench.stats import percentile
from zmqcast.runtime.admin import AdminClient
from zmqcast.runtime.spawn import (
    BenchFlags,
    NodeFlags,
    Proc,
    free_ports,
    kill_all,
    spawn_node,
    terminate,
)
from zmqcast.security.run import generate_run_keys

NODE_LIMIT = 600.0
"""Seconds a benchmark cluster may run before it is stopped as failed."""


class SnapshotDriver:
    """Asks the nodes for snapshots at a fixed rate, rotating initiators; keeps durations.

    Runs in a thread of its own beside the benchmark's collection, starting
    once every node is connected to its peers. A snapshot
    whose answer has not come back when the run ends is counted as lost.
    """

    def __init__(self, endpoints: dict[str, str], rate: float, variant: str) -> None:
        self.endpoints = endpoints
        self.rate = rate
        self.variant = variant
        self.durations: list[float] = []
        self.aborted = 0
        self.requested = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        clients = {n: AdminClient(e) for n, e in self.endpoints.items()}
        nodes = list(clients)
        try:
            self._wait_connected(clients)
            k = 0
            due = time.monotonic() + 1 / self.rate
            while not self.stop.is_set():
                now = time.monotonic()
                if now >= due:
                    clients[nodes[k % len(nodes)]].send("snapshot", variant=self.variant)
                    self.requested += 1
                    k += 1
                    due += 1 / self.rate
                for client in clients.values():
                    for reply in client.replies():
                        if reply.get("phase") == "done":
                            self.durations.append(float(reply["duration"]))
                        elif reply.get("phase") == "aborted":
                            self.aborted += 1
                self.stop.wait(min(0.005, max(0.0, due - time.monotonic())))
        finally:
            for client in clients.values():
                client.close()

    def _wait_connected(self, clients: dict[str, AdminClient]) -> None:
        """Return once every node says it is linked to all its peers (or on stop).

        A snapshot begun while nodes still start up would time their start-up
        (imports, handshakes with backoff), not the protocol under load.
        """
        pending = set(clients)
        while pending and not self.stop.is_set():
            for node in pending:
                clients[node].send("status")
            self.stop.wait(0.02)
            for node in list(pending):
                if any(r.get("connected") for r in clients[node].replies()):
                    pending.discard(node)


@dataclass(frozen=True)
class ClusterResult:
    """One run of a multicast scenario, reduced to what the report needs."""

    throughput: float
    """Messages per second delivered at the slowest receiver."""
    latency_p50: float
    latency_p99: float
    frames_per_delivery: float
    delivered: int
    copies_per_multicast: float = 0.0
    """Data items all nodes sent per multicast (msgs-per-op), retransmissions aside."""
    rss_checkpoint_kb: int = 0
    """Largest per-node peak RSS at the checkpoint (0 if none was asked)."""
    rss_growth_kb: int = 0
    """Largest per-node growth of peak RSS from the checkpoint to the end."""
    snapshot_durations: tuple[float, ...] = ()
    snapshots_requested: int = 0
    snapshots_aborted: int = 0


def run_cluster(
    nodes: int,
    messages: int,
    size: int,
    senders: int = 1,
    snapshot_rate: float = 0.0,
    variant: str = "chandy-lamport",
    checkpoint: int = 0,
    trace: str = "lean",
    secure: bool = False,
    relay: str = "tree",
    rate: float = 0.0,
) -> ClusterResult:
    """Run ``nodes`` node processes; the first ``senders`` each multicast ``messages``.

    With ``snapshot_rate``, snapshots of ``variant`` are requested that many
    times a second while the messages flow. ``trace`` is the config's trace
    level: ``lean`` by default, as a message bus in service would run.
    ``secure``: every link speaks CurveZMQ, with keys made for the run.
    ``relay``: the config's relay mode. ``rate``: each sender's messages per
    second (0: as fast as the windows allow).
    """
    with tempfile.TemporaryDirectory(prefix="zmqcast-bench-") as tmp:
        run_dir = Path(tmp)
        ids = [f"P{i + 1}" for i in range(nodes)]
        config = run_dir / "config.json"
        entries = [
            {"id": n, "host": "127.0.0.1", "port": p}
            for n, p in zip(ids, free_ports(nodes), strict=True)
        ]
        data: dict[str, Any] = {"nodes": entries, "trace": trace, "relay": relay}
        if secure:
            data, _keys = generate_run_keys(data, run_dir)
        config.write_bytes(orjson.dumps(data))
        expect = messages * senders
        procs: dict[str, Proc] = {}
        for i, node in enumerate(ids):
            send = messages if i < senders else 0
            bench = BenchFlags(
                size=size, expect=expect - send, send=send, checkpoint=checkpoint, rate=rate
            )
            procs[node] = spawn_node(
                config, node, run_dir, NodeFlags(bench=bench), own_session=False, unbuffered=False
            )
        driver = None
        if snapshot_rate > 0:
            endpoints = {str(e["id"]): f"tcp://127.0.0.1:{e['port']}" for e in entries}
            driver = SnapshotDriver(endpoints, snapshot_rate, variant)
            driver.thread.start()
        try:
            records = _collect(procs, ids[:senders])
        finally:
            if driver is not None:
                driver.stop.set()
                driver.thread.join(timeout=10)
            kill_all(procs.values())
    result = _reduce(records, expect, senders, messages)
    if driver is None:
        return result
    return dataclasses.replace(
        result,
        snapshot_durations=tuple(driver.durations),
        snapshots_requested=driver.requested,
        snapshots_aborted=driver.aborted,
    )


def _collect(procs: dict[str, Proc], senders: list[str]) -> list[dict[str, Any]]:
    """Wait until every node says ``BENCH-DONE``, stop them all; every BENCH record."""
    lines: dict[str, queue.Queue[str]] = {n: queue.Queue() for n in procs}
    outputs: dict[str, list[str]] = {n: [] for n in procs}

    def pump(node: str, proc: Proc) -> None:
        assert proc.stdout is not None
        for line in io.TextIOWrapper(proc.stdout):  # as ``Popen(text=True)`` would read it
            lines[node].put(line)

    for node, proc in procs.items():
        threading.Thread(target=pump, args=(node, proc), daemon=True).start()
    deadline = time.monotonic() + NODE_LIMIT
    waiting = set(procs)
    while waiting:
        for node in list(waiting):
            try:
                line = lines[node].get(timeout=0.05)
            except queue.Empty:
                if procs[node].poll() is not None:
                    raise RuntimeError(
                        f"benchmark node {node} exited early:\n{''.join(outputs[node])[-2000:]}"
                    ) from None
                continue
            outputs[node].append(line)
            if line.startswith("BENCH-DONE"):
                waiting.discard(node)
        if time.monotonic() > deadline:
            raise RuntimeError(f"benchmark nodes {sorted(waiting)} did not finish in time")
    terminate(procs.values())
    records = []
    for node, proc in procs.items():
        proc.wait(timeout=30)
        while True:
            try:
                outputs[node].append(lines[node].get(timeout=2))
            except queue.Empty:
                break
            if outputs[node][-1].startswith("BENCH "):
                break
        found = [ln for ln in outputs[node] if ln.startswith("BENCH ")]
        if not found:
            raise RuntimeError(f"benchmark node {node} reported nothing")
        records.append(orjson.loads(found[-1][len("BENCH ") :]))
    return records


def _reduce(
    records: list[dict[str, Any]], expect: int, senders: int, messages: int
) -> ClusterResult:
    start = min(r["first_send"] for r in records if r["first_send"] is not None)
    # The slowest receiver: the one whose last expected delivery came latest.
    receivers = [r for r in records if r["delivered"]]
    for r in receivers:
        want = expect - (messages if r["sent"] else 0)
        if r["delivered"] < want:
            raise RuntimeError(f"{r['node']} delivered {r['delivered']} of {want}")
    end = max(r["last_delivery"] for r in receivers)
    per_receiver = expect if senders > 1 else messages
    throughput = per_receiver / max(end - start, 1e-9)
    latencies = [x for r in receivers for x in r["latencies"]]
    delivered = sum(r["delivered"] for r in records)
    frames = sum(r["frames_sent"] for r in records)
    items = sum(r.get("items_sent", 0) for r in records)
    marks = [(r["rss_checkpoint_kb"], r["rss_end_kb"]) for r in records if r["rss_checkpoint_kb"]]
    return ClusterResult(
        throughput=throughput,
        latency_p50=percentile(latencies, 0.5),
        latency_p99=percentile(latencies, 0.99),
        frames_per_delivery=frames / max(delivered, 1),
        delivered=delivered,
        copies_per_multicast=items / max(senders * messages, 1),
        rss_checkpoint_kb=max((m[0] for m in marks), default=0),
        rss_growth_kb=max((m[1] - m[0] for m in marks), default=0),
    )
