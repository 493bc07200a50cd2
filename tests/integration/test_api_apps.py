"""Applications on the public API: state changed atomically with its messages, batches, hooks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zmqcast
from tests.integration.cluster import events_of, write_config
from zmqcast.check.logs import read_events
from zmqcast.check.snapshot import check_snapshots, load_snapshot_files


class Tokens(zmqcast.Application):
    """Passes tokens around: a node holds some, and sends them on one at a time.

    Tokens are only moved, so every consistent snapshot counts the same total
    in held tokens plus tokens in flight.
    """

    def __init__(self) -> None:
        self.held = 10
        self.started: zmqcast.NodeStart | None = None

    def on_start(self, start: zmqcast.NodeStart) -> None:
        self.started = start

    def state(self) -> dict[str, int]:
        return {"held": self.held}

    def on_message(self, message: zmqcast.Message) -> None:
        if message.direct:
            self.held += len(message.payload)

    def pass_one(self, tx: zmqcast.Transaction, dst: str) -> bool:
        if self.held == 0 or not tx.can_send(dst):
            return False
        self.held -= 1
        tx.send(dst, b"t")
        return True


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[tuple[list[zmqcast.Node], list[Tokens], Path]]:
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 3))
    run_dir = tmp_path / "run"
    apps = [Tokens() for _ in config.ids]
    nodes: list[zmqcast.Node] = []
    try:
        for name, app in zip(config.ids, apps, strict=True):
            nodes.append(zmqcast.Node(config, name, run_dir=run_dir, app=app))
        yield nodes, apps, run_dir
    finally:
        for node in nodes:
            node.close()


@pytest.mark.timeout(120)
def test_state_changed_atomically_with_its_sends_snapshots_consistently(
    ring: tuple[list[zmqcast.Node], list[Tokens], Path],
) -> None:
    nodes, apps, run_dir = ring
    assert all(app.started is not None and not app.started.restarted for app in apps)
    assert apps[0].started is not None and apps[0].started.node_id == "P1"
    stop = threading.Event()

    def churn(node: zmqcast.Node, app: Tokens, dst: str) -> None:
        while not stop.is_set():
            node.atomically(lambda tx: app.pass_one(tx, dst))

    movers = [
        threading.Thread(target=churn, args=(node, app, nodes[(i + 1) % 3].id), daemon=True)
        for i, (node, app) in enumerate(zip(nodes, apps, strict=True))
    ]
    for t in movers:
        t.start()
    snaps = [nodes[i % 3].snapshot(timeout=30) for i in range(3)]
    stop.set()
    for t in movers:
        t.join(10)
    for snap in snaps:
        held = sum(r.state["held"] for r in snap.records.values())
        in_flight = sum(
            len(m.payload) for r in snap.records.values() for ms in r.channels.values() for m in ms
        )
        assert held + in_flight == 30, snap.sid
    for node in nodes:
        node.close()
    verdicts = check_snapshots(read_events(run_dir), load_snapshot_files(run_dir))
    assert len(verdicts) == 3 and all(v.ok for v in verdicts), [v.line() for v in verdicts]


@pytest.mark.timeout(60)
def test_multicast_many_sends_every_payload_in_order_with_consecutive_ids(tmp_path: Path) -> None:
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 2))
    with zmqcast.Node(config, "P1") as p1, zmqcast.Node(config, "P2") as p2:
        payloads = [f"m{i}".encode() for i in range(600)]  # more than a window
        ids = p1.multicast_many(payloads, timeout=30)
        assert [i.seq for i in ids] == list(range(ids[0].seq, ids[0].seq + 600))
        got = [p2.receive(timeout=20) for _ in range(600)]
        assert [m.payload for m in got] == payloads
        assert [m.id for m in got] == ids
        assert p1.multicast_many([]) == []
        with pytest.raises(TypeError, match="payload"):
            p1.multicast_many([b"ok", "not bytes"])  # type: ignore[list-item]


@pytest.mark.timeout(60)
def test_on_event_hears_what_the_log_records_and_on_sent_comes_before_the_delivery(
    tmp_path: Path,
) -> None:
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 2))
    run_dir = tmp_path / "run"
    heard: list[dict[str, Any]] = []
    order: list[str] = []

    class Watch(zmqcast.Application):
        def on_message(self, message: zmqcast.Message) -> None:
            order.append(f"delivered {message.payload.decode()}")

    with zmqcast.Node(config, "P1", run_dir=run_dir, app=Watch(), on_event=heard.extend) as p1, \
            zmqcast.Node(config, "P2", run_dir=run_dir) as p2:
        future = p1.multicast_future(b"x", on_sent=lambda mid, lamport: order.append("sent x"))
        mid = future.result(20)
        assert p2.receive(timeout=20).id == mid
    logged = [e for e in events_of(run_dir) if e["node"] == "P1"]
    assert [e["kind"] for e in heard] == [e["kind"] for e in logged]
    # The node does not deliver its own multicast back to itself: nothing follows "sent".
    assert order[0] == "sent x"
    with pytest.raises(TypeError, match="app"):
        zmqcast.Node(config, "P1", app=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="state"):
        zmqcast.Node(config, "P1", app=Watch(), state=lambda: 1)


@pytest.mark.timeout(60)
def test_the_async_node_batches_and_runs_work_atomically(tmp_path: Path) -> None:
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 2))

    async def main() -> tuple[list[zmqcast.MessageId], int, list[bytes]]:
        async with zmqcast.AsyncNode(config, "P1") as p1, zmqcast.AsyncNode(config, "P2") as p2:
            ids = await p1.multicast_many([b"a", b"b", b"c"], timeout=20)
            lamport = await p1.atomically(lambda tx: tx.lamport)
            got = [(await p2.receive(timeout=20)).payload for _ in range(3)]
            return ids, lamport, got

    ids, lamport, got = asyncio.run(main())
    assert got == [b"a", b"b", b"c"]
    assert [i.seq for i in ids] == [ids[0].seq, ids[0].seq + 1, ids[0].seq + 2]
    assert lamport >= 3  # three multicasts ticked the clock at least once each


@pytest.mark.timeout(60)
def test_a_stream_is_pulled_only_as_the_window_has_room(tmp_path: Path) -> None:
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 2, window=8))
    pulled: list[int] = []

    def source() -> Iterator[bytes]:
        for i in range(500):
            pulled.append(i)
            yield f"s{i}".encode()

    alone = zmqcast.Node(config, "P1")
    try:
        # Nobody acknowledges: the window fills and the source is no longer pulled.
        stream = alone.multicast_stream(source(), timeout=1.0)
        with pytest.raises(zmqcast.Backpressure, match="sent"):
            stream.result(10)
        assert 8 <= len(pulled) <= 8 + config.core.max_batch
    finally:
        alone.close(0.1)
    with zmqcast.Node(config, "P1") as p1, zmqcast.Node(config, "P2") as p2:
        assert p1.multicast_stream(f"m{i}".encode() for i in range(300)).result(30) == 300
        got = [p2.receive(timeout=20).payload for _ in range(300)]
        assert got == [f"m{i}".encode() for i in range(300)]

        def broken() -> Iterator[bytes]:
            yield b"fine"
            raise RuntimeError("the source broke")

        with pytest.raises(RuntimeError, match="the source broke"):
            p1.multicast_stream(broken()).result(10)
