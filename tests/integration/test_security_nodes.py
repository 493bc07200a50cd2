"""Real node processes behind CurveZMQ, and a plain-mode link that heals after an impostor."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tests.integration.cluster import NodeProcess, events_of, wait_until, write_config
from zmqcast.config import ClusterConfig, load_config
from zmqcast.core.frames import Data, Item, MulticastMeta
from zmqcast.runtime.admin import AdminClient
from zmqcast.security.run import generate_run_keys
from zmqcast.security.setup import node_keys
from zmqcast.wire import encode

FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}


def _secure_config(tmp_path: Path, count: int, **extra: Any) -> Path:
    """A config of ``count`` nodes with throwaway keys under ``tmp_path/run/keys``."""
    plain = write_config(tmp_path / "plain.json", count, **extra)
    secured, _keys = generate_run_keys(orjson.loads(plain.read_bytes()), tmp_path / "run")
    path = tmp_path / "secure.json"
    path.write_bytes(orjson.dumps(secured))
    return path


def _dealer(
    ctx: zmq.Context[zmq.Socket[bytes]],
    endpoint: str,
    identity: bytes,
    keys: tuple[bytes, bytes] | None,
    server: bytes,
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A DEALER (a CURVE client with ``keys``, if given) and a monitor of its handshakes."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, identity)
    if keys is not None:
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.curve_serverkey = server
    monitor = sock.get_monitor_socket(
        zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    )
    sock.connect(endpoint)
    return sock, monitor


def _try_send(sock: zmq.Socket[bytes], parts: list[bytes]) -> None:
    """Send if the socket still has somewhere to send. After a refused
    handshake libzmq may drop the connection, and a DEALER with none blocks on
    send (CI hung here once): a stranger that cannot even queue is as shut out."""
    with contextlib.suppress(zmq.Again):
        sock.send_multipart(parts, flags=zmq.NOBLOCK)


def _handshake(monitor: zmq.Socket[bytes], timeout: float) -> int:
    """The first handshake outcome the monitor reports (succeeded or failed: auth)."""
    assert monitor.poll(int(timeout * 1000)), "no handshake outcome reported"
    return int(recv_monitor_message(monitor)["event"])


def _forged(src: str, dst: str, text: bytes) -> list[bytes]:
    """A well-formed multicast data frame that claims to come from ``src``."""
    meta = MulticastMeta(src, 1, 1, 1, 0)
    return encode(Data(src, dst, 1, 0, (Item(1_000_000, meta, text),)))


def _bad_frames(run_dir: Path, node: str) -> set[tuple[str, str]]:
    return {
        (e["link"], e["reason"])
        for e in events_of(run_dir)
        if e["node"] == node and e["kind"] == "bad_frame"
    }


@pytest.mark.timeout(90)
def test_only_members_get_in_and_only_admin_keys_get_answers(tmp_path: Path) -> None:
    """A stranger gets no connection, a member cannot speak for another or use the admin lane."""
    config = _secure_config(tmp_path, 3, **FAST)  # P3 stays down; its key is the impostor's
    cfg = load_config(config)
    assert cfg.security is not None
    run_dir = tmp_path / "run"
    p3_keys = (cfg.security.members["P3"], _secret_of(cfg, "P3"))
    p1_key = cfg.security.members["P1"]
    endpoint = cfg.node("P1").endpoint
    nodes = [NodeProcess(config, p, run_dir) for p in ("P1", "P2")]
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sockets: list[zmq.Socket[bytes]] = []
    try:
        nodes[1].say("before the strangers")
        nodes[0].wait_for("Delivered: before the strangers | from=P2", 30)

        # A stranger's key, under P2's identity and on the admin lane: no handshake.
        stranger = zmq.curve_keypair()
        for identity in (b"P2", b"~stranger"):
            sock, monitor = _dealer(ctx, endpoint, identity, stranger, p1_key)
            sockets += [sock, monitor]
            assert _handshake(monitor, 10) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        _try_send(sockets[0], _forged("P2", "P1", b"forged by a stranger"))
        _try_send(sockets[2], [orjson.dumps({"v": 1, "k": "admin", "id": 1, "op": "status"})])
        assert not sockets[2].poll(1000), "a stranger gets no admin reply"

        # P3's key (a member's) under P2's identity: connected, but named P3.
        impostor, monitor = _dealer(ctx, endpoint, b"P2", p3_keys, p1_key)
        sockets += [impostor, monitor]
        assert _handshake(monitor, 10) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        impostor.send_multipart(_forged("P2", "P1", b"forged by P3"))
        # A member's key on the admin lane is refused, with a reason.
        member_admin, monitor = _dealer(ctx, endpoint, b"~p3", p3_keys, p1_key)
        sockets += [member_admin, monitor]
        member_admin.send(orjson.dumps({"v": 1, "k": "admin", "id": 7, "op": "status"}))
        assert member_admin.poll(10_000), "a member's admin request gets a refusal"
        refusal = orjson.loads(member_admin.recv())
        assert (refusal["id"], refusal["ok"]) == (7, False)
        assert "admin key" in refusal["error"]

        # The run's admin key works, faults included (from loopback).
        with AdminClient.for_node(cfg, "P1") as admin:
            status = admin.call("status", timeout=10)
            assert status is not None and status["ok"] and status["node"] == "P1"
            faults = admin.call("faults", timeout=10, loss=0.0)
            assert faults is not None and faults["ok"], faults

        want = {("router:P3", "auth"), ("zap:127.0.0.1", "auth"), ("router:~p3", "auth")}
        wait_until(lambda: want <= _bad_frames(run_dir, "P1"), 20, f"P1 to log {want}")
        nodes[1].say("after the strangers")
        nodes[0].wait_for("Delivered: after the strangers | from=P2", 30)
    finally:
        for sock in sockets:
            sock.close(linger=0)
        ctx.term()
        codes = [n.stop() for n in nodes]
    assert codes == [0, 0]
    assert not any("forged" in line for line in nodes[0].output + nodes[1].output)
    delivered = [e for e in events_of(run_dir) if e["kind"] == "deliver"]
    assert delivered and all(e["origin"] == "P2" and e["node"] == "P1" for e in delivered)


def _secret_of(cfg: ClusterConfig, node: str) -> bytes:
    keys = node_keys(cfg, node)
    assert keys is not None
    return keys.secret


@pytest.mark.timeout(90)
def test_a_one_second_identity_takeover_in_plain_mode_heals(tmp_path: Path) -> None:
    """An impostor holding P1's identity at P2 for a second no longer kills P1 -> P2."""
    config = write_config(tmp_path / "c.json", 2, **FAST)
    cfg = load_config(config)
    run_dir = tmp_path / "run"
    nodes = [NodeProcess(config, p, run_dir) for p in ("P1", "P2")]
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        nodes[0].say("before the takeover")
        nodes[1].wait_for("Delivered: before the takeover | from=P1", 30)
        impostor, monitor = _dealer(ctx, cfg.node("P2").endpoint, b"P1", None, b"")
        assert _handshake(monitor, 10) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        time.sleep(1.0)  # the scenario: the impostor holds P1's identity for one second
        impostor.disable_monitor()
        monitor.close()
        impostor.close()
        nodes[0].say("after the takeover")
        # suspect_after (1 s) of unanswered frames, a reconnect, a retransmission.
        nodes[1].wait_for("Delivered: after the takeover | from=P1", 15)
    finally:
        ctx.term()
        codes = [n.stop() for n in nodes]
    assert codes == [0, 0]
