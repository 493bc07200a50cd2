"""The public Python API on real ZeroMQ sockets: nodes in one process and in several."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

import zmqcast
from tests.integration.cluster import events_of, write_config
from zmqcast.check.logs import read_events
from zmqcast.check.snapshot import check_snapshots, load_snapshot_files


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[tuple[list[zmqcast.Node], dict[str, int], Path]]:
    """Three nodes P1..P3 in this process; ``counts`` is the state they snapshot."""
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 3))
    counts = dict.fromkeys(config.ids, 0)
    run_dir = tmp_path / "run"
    nodes: list[zmqcast.Node] = []

    def state_of(name: str) -> Callable[[], dict[str, int]]:
        return lambda: {"count": counts[name]}

    try:
        for name in config.ids:
            nodes.append(
                zmqcast.Node(config, name, run_dir=run_dir, state=state_of(name), sender_log=True)
            )
        yield nodes, counts, run_dir
    finally:
        for node in nodes:
            node.close()


def _drain(node: zmqcast.Node, n: int) -> list[zmqcast.Message]:
    return [node.receive(timeout=20) for _ in range(n)]


@pytest.mark.timeout(120)
def test_three_nodes_in_one_process_multicast_send_and_snapshot_every_variant(
    trio: tuple[list[zmqcast.Node], dict[str, int], Path],
) -> None:
    nodes, counts, run_dir = trio
    p1, p2, p3 = nodes
    sent = {
        node.id: [node.multicast(f"{node.id} says {i}".encode()) for i in range(5)]
        for node in nodes
    }
    for node in nodes:
        got = _drain(node, 10)
        assert all(not m.direct for m in got)
        ids = Counter(m.id for m in got)
        assert set(ids) == {i for origin, mids in sent.items() if origin != node.id for i in mids}
        assert set(ids.values()) == {1}
        for m in got:
            assert m.id is not None and m.payload == f"{m.origin} says {m.id.seq - 1}".encode()
        counts[node.id] = len(got)
    assert sent["P1"][0] == zmqcast.MessageId("P1", p1.inc, 1)

    p2.send("P3", b"\x00binary\xff")
    direct = p3.receive(timeout=20)
    assert (direct.origin, direct.payload, direct.direct, direct.id) == (
        "P2",
        b"\x00binary\xff",
        True,
        None,
    )

    for variant in ("chandy-lamport", "lai-yang", "sender-log"):
        # Point-to-point traffic in every direction while the snapshot runs.
        for src, dst in (("P1", "P2"), ("P2", "P3"), ("P3", "P1")):
            node = {n.id: n for n in nodes}[src]
            for i in range(20):
                node.send(dst, f"{variant} {src}>{dst} {i}".encode())
        snap = p1.snapshot(variant, timeout=30)
        assert snap.variant == variant and snap.initiator == "P1"
        assert set(snap.records) == {"P1", "P2", "P3"}
        for name, record in snap.records.items():
            assert record.state == {"count": counts[name]}
            assert record.side == ("sender" if variant == "sender-log" else "receiver")
            for channel, messages in record.channels.items():
                src, dst = channel.split(">")
                for recorded in messages:
                    assert (recorded.src, recorded.dst) == (src, dst)
                    assert recorded.payload.startswith(f"{variant} {src}>{dst} ".encode())
        for _ in range(20):
            for node in nodes:
                assert node.receive(timeout=20).direct
    verdicts = check_snapshots(read_events(run_dir), load_snapshot_files(run_dir))
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert verdict.complete, verdict.line()
        by_name = {r.name: r for r in verdict.results}
        for name in ("cut", "channels"):
            assert by_name[name].held and by_name[name].checked > 0, verdict.line()
        assert not any(r.held is False for r in verdict.results), verdict.line()


@pytest.mark.timeout(60)
def test_calls_from_many_threads_are_each_delivered_once(
    trio: tuple[list[zmqcast.Node], dict[str, int], Path],
) -> None:
    nodes, _, _ = trio
    p1, p2, _p3 = nodes
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(25):
                p1.multicast(f"thread {k} #{i}".encode())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    got = Counter(m.payload for m in _drain(p2, 100))
    assert set(got.values()) == {1}
    assert len(got) == 100
    # Per thread, FIFO order holds (one origin, fifo channels).
    with pytest.raises(TimeoutError):
        p2.receive(timeout=0.2)


@pytest.mark.timeout(60)
def test_backpressure_timeouts_and_close_with_unreleased_messages(tmp_path: Path) -> None:
    """Alone in its cluster (no peer runs), a node fills its window and says so."""
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 3, window=4))
    run_dir = tmp_path / "run"
    node = zmqcast.Node(config, "P1", run_dir=run_dir)
    try:
        for i in range(4):
            node.multicast(f"m{i}".encode(), timeout=2)
        started = time.monotonic()
        with pytest.raises(zmqcast.Backpressure):
            node.multicast(b"one too many", timeout=0.3)
        assert 0.25 <= time.monotonic() - started < 5
        with pytest.raises(TimeoutError):
            node.receive(timeout=0.2)
        status = node.status()
        assert (status.node, status.multicasts, status.connected) == ("P1", 4, False)
        assert status.unreleased == 8  # 4 messages, 2 out-neighbours
        with pytest.raises(TimeoutError):
            node.snapshot(timeout=0.5)
        started = time.monotonic()
        node.close(timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        node.close()
    with pytest.raises(zmqcast.NodeClosed):
        node.multicast(b"after close")
    with pytest.raises(zmqcast.NodeClosed):
        node.receive(timeout=0.1)
    stops = [e for e in events_of(run_dir) if e["kind"] == "stop"]
    # 4 messages and the snapshot's marker, on each of the 2 links.
    assert [(e["reason"], e["unreleased"]) for e in stops] == [("done", 10)]


def test_bad_arguments_are_clear_exceptions(tmp_path: Path) -> None:
    with pytest.raises(zmqcast.ConfigError) as bad:
        zmqcast.load_config({"nodes": [{"id": "A", "host": "127.0.0.1", "port": 70000}]})
    assert bad.value.field == "nodes[0].port"
    config = zmqcast.load_config(write_config(tmp_path / "c.json", 3, links="ring"))
    with pytest.raises(ValueError, match="node_id: no node 'P9'"):
        zmqcast.Node(config, "P9")
    with zmqcast.Node(config, "P1") as node:
        with pytest.raises(TypeError, match="payload: must be bytes, got str"):
            node.multicast("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"payload: .* more than a message carries"):
            node.multicast(bytes(config.max_frame_bytes))
        with pytest.raises(ValueError, match="dst: 'P3' is not an out-neighbour"):
            node.send("P3", b"x")
        with pytest.raises(ValueError, match="variant: must be one of"):
            node.snapshot("two-phase")
        with pytest.raises(ValueError, match="timeout: must not be negative"):
            node.multicast(b"x", timeout=-1)
    with pytest.raises(OSError, match="cannot bind"):
        blocker = zmqcast.Node(config, "P2")
        try:
            zmqcast.Node(config, "P2")
        finally:
            blocker.close()


PROGRAM = """
import sys, zmqcast
config, me, others = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with zmqcast.Node(config, me, run_dir=sys.argv[4]) as node:
    for i in range(10):
        node.multicast(f"{me} {i}".encode())
    got = sorted(node.receive(timeout=30).payload.decode() for _ in range(10 * len(others)))
    print(",".join(got))
    sys.stdout.flush()
    # Stay until every peer has what it needs from us: close() flushes.
"""


@pytest.mark.timeout(120)
def test_three_node_processes_each_a_small_program_on_the_api(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    ids = ["P1", "P2", "P3"]
    procs = {
        me: subprocess.Popen(
            [
                sys.executable,
                "-c",
                PROGRAM,
                str(config),
                me,
                ",".join(i for i in ids if i != me),
                str(tmp_path / "run"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in ids
    }
    outputs = {}
    for me, proc in procs.items():
        out, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err
        assert err == ""
        outputs[me] = out.strip().split(",")
    for me, got in outputs.items():
        assert got == sorted(f"{o} {i}" for o in ids if o != me for i in range(10))
    events = read_events(tmp_path / "run")
    assert {e["node"] for e in events if e["kind"] == "stop"} == set(ids)
    assert orjson.dumps(sorted({e["kind"] for e in events})).startswith(b"[")
