"""Fuzzing at the door: over 10,000 garbage frames at a live node, in plain and secure mode.

A seeded generator (the same frames every run) sends random bytes, truncated
and mutated headers, wrong part counts, item sizes that do not add up, bad
field values, oversized frames and garbage on the admin lane, and opens raw
TCP connections that send bytes before any handshake. The node must keep
running, count every frame that reaches it (the ``count`` fields of its
``bad_frame`` events add up to exactly what was sent on each link), and still
deliver its peer's messages.

In secure mode only a key the cluster knows gets a connection at all, so the
frames come over a member's key (P3's, a node that is not P1's neighbour and
is not running) and the admin garbage over the admin key; a stranger's key
and the raw bytes are refused at the handshake.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq

from tests.integration.cluster import NodeProcess, events_of, write_config
from zmqcast.config import load_config
from zmqcast.security.run import generate_run_keys
from zmqcast.security.setup import admin_keys, node_keys

FRAMES = 10_000
ADMIN_FRAMES = 1_000
RAW_CONNECTIONS = 20
MAX_FRAME = 1 << 17
FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}
Parts = list[bytes]


def frame_garbage(rng: random.Random) -> Callable[[], Parts]:
    """A generator of malformed or misattributed frames claiming to come from P2."""
    good: dict[str, Any] = {
        "v": 3,
        "k": "data",
        "src": "P2",
        "dst": "P1",
        "inc": 1,
        "dinc": 1,
        "og": ["P2"],
    }
    hb = {"v": 3, "k": "hb", "src": "P2", "dst": "P1", "inc": 1, "dinc": 0, "next": 1}
    header = orjson.dumps(good)
    # A multicast record (README, "Wire format") for a 3-byte body.
    table = struct.pack("<QIBHQQQQ", 1, 3, 1, 0, 1, 1, 1, 0)
    bad_fields: list[tuple[str, Any]] = [
        ("v", 2), ("k", "zzz"), ("src", ""), ("src", "x" * 65), ("dst", 7), ("inc", "one"),
        ("inc", 0), ("dinc", -1), ("ln", 7), ("og", []), ("og", "x"), ("og", [1]),
        ("og", [""]), ("og", ["P2"] * 5000), ("inc", 2**60),
    ]  # fmt: skip
    bad_tables = [
        b"", table[:20], table + b"\0", struct.pack("<QIBI", 1, 3, 0, 2) + b"[]",
        struct.pack("<QIBHQQQQ", 0, 3, 1, 0, 1, 1, 1, 0),  # sequence number 0
        struct.pack("<QIBHQQQQ", 1, 3, 1, 1, 1, 1, 1, 0),  # origin index beyond og
        struct.pack("<QIBHQQQQ", 1, 3, 1, 0, 1, 1, 1, 1),  # floor not below oseq
        struct.pack("<QIBHQQQQ", 1, 3, 9, 0, 1, 1, 1, 0),  # unknown record type
        table * 5000,
    ]  # fmt: skip

    def random_bytes() -> Parts:
        return [rng.randbytes(rng.randint(0, 200))]

    def random_parts() -> Parts:
        return [rng.randbytes(rng.randint(0, 50)) for _ in range(rng.randint(2, 5))]

    def truncated() -> Parts:
        return [header[: rng.randint(1, len(header) - 1)], table, b"abc"][: rng.randint(1, 3)]

    def mutated() -> Parts:
        parts = [bytearray(header), bytearray(table)]
        raw = rng.choice(parts)
        for _ in range(rng.randint(1, 3)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return [bytes(parts[0]), bytes(parts[1]), b"abc"]

    def wrong_part_count() -> Parts:
        return rng.choice(
            [[header], [header, b"abc"], [header, table, b"abc", b"def"], [orjson.dumps(hb), b"x"]]
        )

    def size_mismatch() -> Parts:
        return [header, table, b"x" * rng.choice([0, 2, 4, 1000])]

    def bad_field() -> Parts:
        name, value = rng.choice(bad_fields)
        return [orjson.dumps({**good, name: value}), table, b"abc"]

    def bad_table() -> Parts:
        return [header, rng.choice(bad_tables), b"abc"]

    def not_an_object() -> Parts:
        return [rng.choice([b"[]", b"1", b'"x"', b"null", b"[" * 2000, b"\xff\xfe{"])]

    def oversized() -> Parts:
        return [header, table, b"x" * (MAX_FRAME + 1)]

    shapes = [
        random_bytes, random_parts, truncated, mutated, wrong_part_count, size_mismatch,
        bad_field, bad_table, not_an_object,
    ]  # fmt: skip

    def draw() -> Parts:
        # A few oversized frames only: they are 128 KiB each.
        return oversized() if rng.random() < 0.001 else rng.choice(shapes)()

    return draw


def admin_garbage(rng: random.Random) -> Callable[[], Parts]:
    """A generator of admin-lane messages that are never valid requests."""
    good = orjson.dumps({"v": 1, "k": "admin", "id": 1, "op": "status"})
    shapes: list[Callable[[], Parts]] = [
        lambda: [rng.randbytes(rng.randint(0, 100))],
        lambda: [good[: rng.randint(0, len(good) - 1)]],
        lambda: [good, good],
        lambda: [orjson.dumps([1, 2, 3])],
        lambda: [orjson.dumps({"v": 2, "k": "admin", "id": 1, "op": "status"})],
        lambda: [orjson.dumps({"v": 1, "k": "reply", "id": 1, "op": "status"})],
        lambda: [orjson.dumps({"v": 1, "k": "admin", "id": -1, "op": "status"})],
        lambda: [orjson.dumps({"v": 1, "k": "admin", "id": 1, "op": "reboot"})],
        lambda: [b"x" * (64 * 1024 + 1)],
    ]

    def draw() -> Parts:
        return rng.choice(shapes)()

    return draw


def _raw_tcp(port: int, rng: random.Random) -> None:
    """Connections that send bytes before (and instead of) any ZMTP handshake."""
    greeting = b"\xff" + bytes(8) + b"\x7f\x03\x00NULL" + bytes(16)
    for i in range(RAW_CONNECTIONS):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            prefix = greeting[: rng.randint(0, len(greeting))] if i % 2 else b""
            conn.sendall(prefix + rng.randbytes(rng.randint(1, 4096)))


def _counted(run_dir: Path, link: str) -> int:
    """How many bad frames P1 has reported on ``link`` so far (its events' ``count``s)."""
    return sum(
        e["count"]
        for e in events_of(run_dir)
        if e["node"] == "P1" and e["kind"] == "bad_frame" and e["link"] == link
    )


def _configure(tmp_path: Path, secure: bool) -> Path:
    # A line P1 - P2 - P3: P3 (never started) is no neighbour of P1's, so a
    # frame that decodes over P3's key is counted (stranger) rather than taken.
    plain = write_config(
        tmp_path / "plain.json", 3, links="line", max_frame_bytes=MAX_FRAME, **FAST
    )
    if not secure:
        return plain
    secured, _keys = generate_run_keys(orjson.loads(plain.read_bytes()), tmp_path / "run")
    path = tmp_path / "secure.json"
    path.write_bytes(orjson.dumps(secured))
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["plain", "secure"])
def test_a_node_counts_garbage_at_the_door_and_keeps_delivering(tmp_path: Path, mode: str) -> None:
    secure = mode == "secure"
    config = _configure(tmp_path, secure)
    cfg = load_config(config)
    run_dir = tmp_path / "run"
    endpoint = cfg.node("P1").endpoint
    p1_port = cfg.node("P1").port
    nodes = [NodeProcess(config, p, run_dir) for p in ("P1", "P2")]
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sockets: list[zmq.Socket[bytes]] = []

    def dealer(identity: bytes | None, keys: tuple[bytes, bytes] | None) -> zmq.Socket[bytes]:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, 20_000)
        if identity is not None:
            sock.setsockopt(zmq.IDENTITY, identity)
        if keys is not None:
            assert cfg.security is not None
            sock.curve_publickey, sock.curve_secretkey = keys
            sock.curve_serverkey = cfg.security.members["P1"]
        sock.connect(endpoint)
        sockets.append(sock)
        return sock

    try:
        nodes[1].say("before the storm")
        nodes[0].wait_for("Delivered: before the storm | from=P2", 30)
        rng = random.Random(f"fuzz:{mode}")
        if secure:
            member = node_keys(cfg, "P3")
            admin = admin_keys(cfg, "P1")
            assert member is not None and admin is not None
            frames_link, fuzz = "router:P3", dealer(None, (member.public, member.secret))
            lane = dealer(b"~fuzz", (admin.public, admin.secret))
            dealer(b"P2", zmq.curve_keypair()).send(b"a stranger's key: never connects")
        else:
            frames_link, fuzz = "router:fuzz", dealer(b"fuzz", None)
            lane = dealer(b"~fuzz", None)
        sent = {frames_link: 0, "router:~fuzz": 0}
        draw_frame, draw_admin = frame_garbage(rng), admin_garbage(rng)
        for i in range(FRAMES + ADMIN_FRAMES):
            if i % 11 == 10:
                lane.send_multipart(draw_admin())
                sent["router:~fuzz"] += 1
            else:
                fuzz.send_multipart(draw_frame())
                sent[frames_link] += 1
        assert sent[frames_link] >= FRAMES
        _raw_tcp(p1_port, rng)

        # Bad-frame logging is rate-limited per link (one event per 5 s, whose
        # count covers the frames since the last one): keep sending one more
        # now and then until the counts add up to exactly what was sent.
        senders = {frames_link: (fuzz, draw_frame), "router:~fuzz": (lane, draw_admin)}
        deadline = time.monotonic() + 40
        last_extra = time.monotonic()
        while counted := {k: v for k in sent if (v := _counted(run_dir, k)) != sent[k]}:
            for link, count in counted.items():
                assert count < sent[link], f"{link}: {count} counted, {sent[link]} sent"
            assert time.monotonic() < deadline, f"counted {counted} of {sent}"
            if time.monotonic() - last_extra > 0.5:
                for link in counted:
                    sock, draw = senders[link]
                    sock.send_multipart(draw())
                    sent[link] += 1
                last_extra = time.monotonic()
            time.sleep(0.05)

        assert nodes[0].proc.poll() is None, "P1 must still be running"
        nodes[1].say("after the storm")
        nodes[0].wait_for("Delivered: after the storm | from=P2", 30)
    finally:
        for sock in sockets:
            sock.close(linger=0)
        ctx.term()
        codes = [n.stop() for n in nodes]
    assert codes == [0, 0]
    if secure:
        refused = [e for e in events_of(run_dir) if e["kind"] == "bad_frame"]
        assert any(e["link"] == "zap:127.0.0.1" for e in refused), "a stranger's key is logged"
