"""The transport on real sockets over loopback: CurveZMQ, names from keys, and healing links.

In-process :class:`Transport` pairs, so each test sees exactly which socket a
frame arrived on and with what metadata; the node processes are exercised in
``test_security_nodes.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from zmqcast.core.frames import Heartbeat
from zmqcast.runtime.spawn import free_ports
from zmqcast.runtime.transport import Peer, Transport, decode_from
from zmqcast.security.auth import NodeKeys
from zmqcast.wire import FrameError, encode

MAX = 1 << 20


def _hb(src: str, dst: str, n: int) -> Heartbeat:
    return Heartbeat(src, dst, 1, 0, n)


def _collect(t: Transport, timeout: float) -> list[tuple[str, list[bytes], Peer]]:
    """Everything ``t`` receives within ``timeout`` seconds."""
    out: list[tuple[str, list[bytes], Peer]] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        out.extend(t.receive(int(left * 1000) + 1))
    return out


def _first(t: Transport, timeout: float) -> tuple[str, list[bytes], Peer]:
    """The first message ``t`` receives; fails the test if none comes in ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for got in t.receive(int(left * 1000) + 1):
            return got
    raise AssertionError(f"{t.node_id} received nothing in {timeout} s")


def _send_until_received(sender: Transport, receiver: Transport, dst: str, timeout: float) -> str:
    """Heartbeats from ``sender`` to ``dst`` until ``receiver`` gets one; the link it came on."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n += 1
        sender.send(_hb(sender.node_id, dst, n))
        for link, _parts, _peer in receiver.receive(50):
            return link
    raise AssertionError(f"{receiver.node_id} never received from {sender.node_id}")


@contextmanager
def _closing(*transports: Transport) -> Iterator[None]:
    try:
        yield
    finally:
        for t in transports:
            t.close()


def _keys(names: list[str]) -> dict[str, tuple[bytes, bytes]]:
    return {n: zmq.curve_keypair() for n in names}


def _node_keys(me: str, pairs: dict[str, tuple[bytes, bytes]], peers: list[str]) -> NodeKeys:
    public, secret = pairs[me]
    return NodeKeys(
        public=public,
        secret=secret,
        servers={p: pairs[p][0] for p in peers},
        users={pub: name for name, (pub, _sec) in pairs.items()},
    )


@pytest.mark.timeout(30)
def test_a_taken_over_identity_silences_a_link_until_heal_replaces_the_dealer() -> None:
    """Plain mode: a one-second impostor under P1's identity; reconnecting heals the link."""
    p1_port, p2_port = free_ports(2)
    p2 = Transport("P2", f"tcp://127.0.0.1:{p2_port}", {})
    p1 = Transport("P1", f"tcp://127.0.0.1:{p1_port}", {"P2": f"tcp://127.0.0.1:{p2_port}"})
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    with _closing(p1, p2):
        assert _send_until_received(p1, p2, "P2", 10) == "router:P1"
        assert p1.stale(after=0.0) == ["P2"], "a send no ack answered is waiting"
        p1.acked("P2")
        assert p1.stale(after=0.0) == []

        impostor = ctx.socket(zmq.DEALER)
        impostor.setsockopt(zmq.IDENTITY, b"P1")
        impostor.setsockopt(zmq.LINGER, 0)
        monitor = impostor.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        impostor.connect(f"tcp://127.0.0.1:{p2_port}")
        assert monitor.poll(5000), "the impostor never connected"
        time.sleep(1.0)  # the scenario: the impostor holds P1's identity for one second
        impostor.disable_monitor()
        monitor.close()
        impostor.close()
        ctx.term()

        # P1's DEALER still believes itself connected, but P2 never reads it again.
        sent_at = time.monotonic()
        for n in range(20):
            p1.send(_hb("P1", "P2", 100 + n))
        assert _collect(p2, 1.0) == [], "the old connection is dead after the takeover"
        assert p1.stale(after=0.5) == ["P2"]
        assert p1.stale(after=0.5, now=sent_at + 0.1) == [], "not stale before `after`"

        assert p1.heal(after=0.5) == ["P2"]
        assert p1.reconnects == 1 and p1.stale(after=0.0) == []
        link = _send_until_received(p1, p2, "P2", 10)
        assert link == "router:P1", "the fresh connection took P1's identity back"


@pytest.mark.timeout(30)
def test_a_silent_link_whose_frames_cannot_be_sent_is_not_stale() -> None:
    """A DEALER that sends nothing (no peer listening, IMMEDIATE) is not reconnected in a loop."""
    (port,) = free_ports(1)
    (nobody,) = free_ports(1)
    p1 = Transport("P1", f"tcp://127.0.0.1:{port}", {"P2": f"tcp://127.0.0.1:{nobody}"})
    with _closing(p1):
        for n in range(5):
            p1.send(_hb("P1", "P2", n))
        assert p1.unroutable == 5 and p1.stale(after=0.0) == []
        assert p1.heal(after=0.0) == [] and p1.reconnects == 0


@pytest.mark.timeout(30)
def test_secure_links_are_named_by_key_and_a_member_cannot_speak_for_another() -> None:
    pairs = _keys(["P1", "P2", "P3"])
    p1_port, p2_port = free_ports(2)
    p1 = Transport("P1", f"tcp://127.0.0.1:{p1_port}", {}, keys=_node_keys("P1", pairs, []))
    p2 = Transport(
        "P2",
        f"tcp://127.0.0.1:{p2_port}",
        {"P1": f"tcp://127.0.0.1:{p1_port}"},
        keys=_node_keys("P2", pairs, ["P1"]),
    )
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    with _closing(p1, p2):
        _send_until_received(p2, p1, "P1", 10)
        p2.send(_hb("P2", "P1", 50))
        link, parts, peer = _first(p1, 5)
        assert (link, peer.user, peer.address) == ("router:P2", "P2", "127.0.0.1")
        assert decode_from(link, parts, MAX, peer.user).src == "P2"

        # P3's key (a member) connects under P2's identity and speaks for P2.
        impostor = ctx.socket(zmq.DEALER)
        impostor.setsockopt(zmq.LINGER, 0)
        impostor.setsockopt(zmq.IDENTITY, b"P2")
        impostor.curve_publickey, impostor.curve_secretkey = pairs["P3"]
        impostor.curve_serverkey = pairs["P1"][0]
        impostor.connect(f"tcp://127.0.0.1:{p1_port}")
        impostor.send_multipart(encode(_hb("P2", "P1", 99)))
        link, parts, peer = _first(p1, 5)
        assert (link, peer.user) == ("router:P3", "P3"), "the key names the link, not the identity"
        with pytest.raises(FrameError) as refused:
            decode_from(link, parts, MAX, peer.user)
        assert refused.value.reason == "auth"

        # P2's own link is untouched: its next frame still arrives, as P2's.
        p2.send(_hb("P2", "P1", 51))
        link, parts, peer = _first(p1, 5)
        assert (link, peer.user) == ("router:P2", "P2")
        assert decode_from(link, parts, MAX, peer.user).src == "P2"

        # P1 has no DEALER to P2: a frame to P2 goes back over P2's connection,
        # the one P2's key last sent on.
        p1.send(_hb("P1", "P2", 1))
        link, parts, peer = _first(p2, 5)
        assert (link, peer.user) == ("P1", "P1")
        assert decode_from(link, parts, MAX, peer.user).src == "P1"
        impostor.close()
    ctx.term()


@pytest.mark.timeout(30)
def test_a_stranger_gets_no_connection_and_the_refusal_is_recorded() -> None:
    pairs = _keys(["P1", "P2"])
    (port,) = free_ports(1)
    p1 = Transport("P1", f"tcp://127.0.0.1:{port}", {}, keys=_node_keys("P1", pairs, []))
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    with _closing(p1):
        stranger = ctx.socket(zmq.DEALER)
        stranger.setsockopt(zmq.LINGER, 0)
        stranger.setsockopt(zmq.IDENTITY, b"P2")
        public, secret = zmq.curve_keypair()
        stranger.curve_publickey, stranger.curve_secretkey = public, secret
        stranger.curve_serverkey = pairs["P1"][0]
        monitor = stranger.get_monitor_socket()
        stranger.connect(f"tcp://127.0.0.1:{port}")
        stranger.send_multipart(encode(_hb("P2", "P1", 1)))
        plain = ctx.socket(zmq.DEALER)  # no CURVE at all
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(f"tcp://127.0.0.1:{port}")
        plain.send_multipart(encode(_hb("P2", "P1", 1)))

        events: list[int] = []
        deadline = time.monotonic() + 10
        while zmq.EVENT_HANDSHAKE_FAILED_AUTH not in events:
            assert time.monotonic() < deadline, f"no failed handshake seen: {events}"
            if monitor.poll(100):
                events.append(int(recv_monitor_message(monitor)["event"]))
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in events
        assert _collect(p1, 0.5) == [], "nothing from a stranger reaches the node"
        refusals = p1.refusals()
        assert refusals and refusals[0].address == "127.0.0.1"
        assert refusals[0].key == public.decode()
        assert p1.refusals() == [], "each refusal is handed over once"
        stranger.disable_monitor()
        for sock in (monitor, stranger, plain):
            sock.close()
    ctx.term()
