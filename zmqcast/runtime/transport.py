"""ROUTER/DEALER transport: moves encoded frames between node processes.

Each node binds one ROUTER on its own address and connects one DEALER to every
out-neighbour's ROUTER, with its node id as the DEALER identity. A frame to a
peer goes out on our DEALER to that peer if we have one; otherwise on our
ROUTER to the peer's identity, back over the connection the peer's DEALER
opened. So the acks of a one-way link ``A -> B`` and B's control lane to A need
no socket of B's towards A.

Socket options are set explicitly (see README, "Transport"):

- ``LINGER`` 0 on close, because unacknowledged frames are the channel layer's
  business and are resent to the peer's next incarnation anyway;
- ``SNDHWM``/``RCVHWM`` 10,000 messages: above the protocol's own windows, so
  the HWM is a last-resort guard, and a frame dropped at the HWM is repaired by
  retransmission like any loss;
- ``IMMEDIATE`` on DEALERs, so frames are not queued for a peer that is not
  connected (they are retransmitted once it is);
- ``RECONNECT_IVL`` 100 ms, ``RECONNECT_IVL_MAX`` 1 s;
- ``ROUTER_HANDOVER`` on the ROUTER: a peer killed while the network between
  us was cut leaves a half-open TCP connection that our side still believes
  open, holding the peer's identity. Without handover, the next incarnation's
  connection under the same identity would be refused and its frames left
  unread; with it, the new connection takes the identity over. (Our own
  DEALER's half-open connection to such a peer ends by itself: the protocol's
  heartbeats reach the peer's host once the cut heals, and its kernel resets
  the connection.)
- ``CONNECT_TIMEOUT`` 2 s: a connect begun while the network is cut is retried
  afresh instead of waiting out the kernel's SYN backoff after the cut heals.

ZMTP heartbeats (``HEARTBEAT_IVL``) would also detect dead connections, but
libzmq 4.3.5 aborts the process (``Assertion failed: !_io_error``) when they
time out under the stress harness's partitions, so they stay off.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import zmq

from zmqcast.core.frames import Frame
from zmqcast.wire import FrameError, decode, encode

HWM = 10_000
CONNECT_TIMEOUT_MS = 2000
ZERO_COPY_MIN = 64 * 1024
"""Bodies at least this large are sent without copying."""


class Transport:
    """Owns the sockets of one node; sends frames and yields received parts."""

    def __init__(
        self,
        node_id: str,
        bind: str,
        peers: Mapping[str, str],
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        *,
        ipv6: bool = False,
    ) -> None:
        """``peers`` maps each out-neighbour's id to its ROUTER endpoint;
        ``ipv6`` lets the sockets use IPv6 addresses (libzmq's ``IPV6``)."""
        self._ipv6 = ipv6
        self._owns_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self.node_id = node_id
        self.dealers: dict[str, zmq.Socket[bytes]] = {}
        self.router = self.ctx.socket(zmq.ROUTER)
        try:
            self._configure(self.router, ipv6)
            # A reconnecting peer takes its identity over from a connection we
            # still believe open (half-open after a network cut); without this
            # its frames would sit unread on an anonymous pipe.
            self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
            self.router.bind(bind)
            for peer, endpoint in peers.items():
                dealer = self.ctx.socket(zmq.DEALER)
                self.dealers[peer] = dealer
                dealer.setsockopt(zmq.IDENTITY, node_id.encode())
                dealer.setsockopt(zmq.IMMEDIATE, 1)
                self._configure(dealer, ipv6)
                dealer.connect(endpoint)
        except zmq.ZMQError:
            # An unclosed socket would make the context hang when collected.
            self.close()
            raise
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        for dealer in self.dealers.values():
            self.poller.register(dealer, zmq.POLLIN)
        self.sent_frames = 0
        self.unroutable = 0

    @staticmethod
    def _configure(sock: zmq.Socket[bytes], ipv6: bool) -> None:
        if ipv6:
            sock.setsockopt(zmq.IPV6, 1)
        # A connect begun while the network is cut would otherwise wait out
        # the kernel's SYN backoff (seconds to minutes) after the cut heals.
        sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.RCVHWM, HWM)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)

    def send(self, frame: Frame) -> None:
        """Send one frame on the socket its direction calls for; never blocks."""
        parts = encode(frame)
        try:
            # Our own DEALER if we have one to that peer; otherwise back over
            # the connection the peer's DEALER opened to our ROUTER (acks of a
            # one-way link, and the control lane against the link's direction).
            # Copying is cheaper than pyzmq's zero-copy bookkeeping for all
            # but large bodies (measured with zmqcast bench).
            copy = len(parts) < 2 or len(parts[1]) < ZERO_COPY_MIN
            dealer = self.dealers.get(frame.dst)
            if dealer is not None:
                dealer.send_multipart(parts, zmq.NOBLOCK, copy=copy)
            else:
                self.router.send_multipart([frame.dst.encode(), *parts], zmq.NOBLOCK, copy=copy)
        except zmq.Again:
            # Peer not connected or HWM reached: the channel layer retransmits.
            self.unroutable += 1
            return
        self.sent_frames += 1

    def reply(self, identity: str, payload: bytes) -> None:
        """Answer an admin client (see :mod:`zmqcast.runtime.admin`) on the ROUTER."""
        try:
            self.router.send_multipart([identity.encode(), payload], zmq.NOBLOCK)
        except zmq.Again:
            self.unroutable += 1

    def watch(self, fd: int) -> None:
        """Also wake :meth:`receive` when ``fd`` is readable (a driver's wake-up pipe)."""
        self.poller.register(fd, zmq.POLLIN)

    def receive(self, timeout_ms: int, limit: int = 256) -> Iterator[tuple[str, list[bytes]]]:
        """Wait up to ``timeout_ms`` and yield ``(link, parts)`` for ready messages.

        ``link`` is the peer id a DEALER is connected to, or ``"router:<identity>"``
        for the ROUTER (the identity is what the sending peer claims to be).
        """
        ready = dict(self.poller.poll(timeout_ms))
        if not ready:
            return
        count = 0
        if self.router in ready:
            while count < limit:
                try:
                    msg = self.router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                count += 1
                ident = msg[0].decode("utf-8", "replace")
                yield f"router:{ident}", msg[1:]
        for peer, dealer in self.dealers.items():
            if dealer not in ready:
                continue
            while count < limit:
                try:
                    msg = dealer.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                count += 1
                yield peer, msg

    def close(self) -> None:
        for dealer in self.dealers.values():
            dealer.close(linger=0)
        self.router.close(linger=0)
        if self._owns_ctx:
            self.ctx.term()


def decode_from(link: str, parts: list[bytes], max_size: int) -> Frame:
    """Decode ``parts`` and check that the frame's claimed source matches the link.

    A frame arriving on our DEALER connected to ``peer`` must be an ack from
    ``peer``; one arriving on the ROUTER must come from the identity that the
    sending DEALER declared. Raises :class:`FrameError` otherwise.
    """
    frame = decode(parts, max_size=max_size)
    expected = link[len("router:") :] if link.startswith("router:") else link
    if frame.src != expected:
        raise FrameError("field:src", f"frame claims src {frame.src!r} on link {expected!r}")
    return frame
