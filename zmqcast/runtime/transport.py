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
time out under the stress harness's partitions, so they stay off. Instead,
:meth:`Transport.heal` replaces a DEALER whose frames have gone unanswered for
longer than the failure detector's ``suspect_after``: a half-open connection,
or one whose identity another connection took over at the peer's ROUTER
(README, "Links that heal").

With :class:`~zmqcast.security.auth.NodeKeys` (config ``security``) every
socket speaks CurveZMQ (README, "Security"): the ROUTER is a CURVE server
whose ZAP handler (:class:`~zmqcast.security.auth.Gatekeeper`) admits member
and admin keys only, and every DEALER is a CURVE client that pins its peer's
public key. A member's DEALER then sets no identity: the ROUTER numbers each
connection itself, so no connection can take another's identity over (and
``ROUTER_HANDOVER`` stays off), and the link a frame arrived on is named by
the ``User-Id`` that the ZAP handler gave the connection's key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import zmq

from zmqcast.core.frames import Frame
from zmqcast.security.auth import ADMIN_USER_PREFIX, ZAP_DOMAIN, Gatekeeper, NodeKeys, Refusal
from zmqcast.wire import FrameError, decode, encode

HWM = 10_000
CONNECT_TIMEOUT_MS = 2000
ZERO_COPY_MIN = 64 * 1024
"""Bodies at least this large are sent without copying."""


class Peer(NamedTuple):
    """Who sent a message, as far as the connection it came on can tell."""

    user: str | None
    """The name the connection's CURVE key belongs to (a node id, or ``~NAME`` for
    an admin key: libzmq's ``User-Id``); None in plain mode, where nothing is
    authenticated. On a DEALER it is the peer whose key the DEALER pinned."""
    address: str | None
    """The peer's IP address (libzmq's ``Peer-Address``) for a message on the
    ROUTER; None on a DEALER."""


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
        keys: NodeKeys | None = None,
    ) -> None:
        """``peers`` maps each out-neighbour's id to its ROUTER endpoint;
        ``ipv6`` lets the sockets use IPv6 addresses (libzmq's ``IPV6``).

        ``keys`` turns CurveZMQ on (see the module's docstring). The ZAP
        handler then runs in ``ctx``: at most one secure transport per
        context, since ZAP's endpoint is one per context.
        """
        self._ipv6 = ipv6
        self._owns_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self.node_id = node_id
        self.keys = keys
        self._endpoints = dict(peers)
        self.dealers: dict[str, zmq.Socket[bytes]] = {}
        self._gatekeeper: Gatekeeper | None = None
        self._routes: dict[str, bytes] = {}
        """Secure mode: member id -> routing id of the connection it last sent on."""
        self._waiting: dict[str, float] = {}
        """Out-neighbour -> when a frame first went out on its DEALER since its last ack."""
        self._dealer_peer = {p: Peer(p if keys is not None else None, None) for p in peers}
        self.reconnects = 0
        """DEALERs replaced by :meth:`reconnect` so far."""
        self.router = self.ctx.socket(zmq.ROUTER)
        try:
            self._configure(self.router, ipv6)
            if keys is None:
                # A reconnecting peer takes its identity over from a connection we
                # still believe open (half-open after a network cut); without this
                # its frames would sit unread on an anonymous pipe.
                self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
            else:
                # The ZAP handler must listen before the first handshake; and with
                # ZAP_ENFORCE_DOMAIN a handshake fails, rather than passes
                # unchecked, should it ever not be there.
                self._gatekeeper = Gatekeeper(self.ctx, keys.users)
                self._gatekeeper.start()
                self.router.curve_server = True
                self.router.curve_publickey = keys.public
                self.router.curve_secretkey = keys.secret
                self.router.zap_domain = ZAP_DOMAIN.encode()
                self.router.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
            self.router.bind(bind)
            for peer in peers:
                self.dealers[peer] = self._dealer(peer)
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

    def _dealer(self, peer: str) -> zmq.Socket[bytes]:
        """A new DEALER connected to ``peer``'s ROUTER."""
        dealer = self.ctx.socket(zmq.DEALER)
        try:
            if self.keys is None:
                dealer.setsockopt(zmq.IDENTITY, self.node_id.encode())
            else:
                # No identity: the peer's ROUTER names the connection, and its
                # ZAP handler tells it which node our key belongs to.
                dealer.curve_serverkey = self.keys.servers[peer]
                dealer.curve_publickey = self.keys.public
                dealer.curve_secretkey = self.keys.secret
            dealer.setsockopt(zmq.IMMEDIATE, 1)
            self._configure(dealer, self._ipv6)
            dealer.connect(self._endpoints[peer])
        except zmq.ZMQError:
            dealer.close(linger=0)
            raise
        return dealer

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
        dst = frame.dst
        try:
            # Our own DEALER if we have one to that peer; otherwise back over
            # the connection the peer's DEALER opened to our ROUTER (acks of a
            # one-way link, and the control lane against the link's direction).
            # Copying is cheaper than pyzmq's zero-copy bookkeeping for all
            # but large bodies (measured with zmqcast bench).
            copy = len(parts) < 2 or len(parts[1]) < ZERO_COPY_MIN
            dealer = self.dealers.get(dst)
            if dealer is not None:
                dealer.send_multipart(parts, zmq.NOBLOCK, copy=copy)
                if dst not in self._waiting:
                    self._waiting[dst] = time.monotonic()
            else:
                route = dst.encode() if self.keys is None else self._routes.get(dst)
                if route is None:
                    # Secure mode, and the peer has not sent on any connection yet.
                    self.unroutable += 1
                    return
                self.router.send_multipart([route, *parts], zmq.NOBLOCK, copy=copy)
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

    def receive(self, timeout_ms: int, limit: int = 256) -> Iterator[tuple[str, list[bytes], Peer]]:
        """Wait up to ``timeout_ms`` and yield ``(link, parts, peer)`` for ready messages.

        ``link`` is the peer id a DEALER is connected to, or ``"router:<name>"``
        for the ROUTER. In plain mode the name is the identity the sending
        DEALER declared (what it claims to be); in secure mode it is the
        ``User-Id`` of the connection's key (what it proved to be), except on
        the admin lane, where it stays the client's ``~`` identity, to which
        replies go. ``peer`` is what the connection tells of the sender.

        Do not call :meth:`reconnect` or :meth:`heal` while iterating.
        """
        ready = dict(self.poller.poll(timeout_ms))
        if not ready:
            return
        count = 0
        if self.router in ready:
            router, secure = self.router, self.keys is not None
            while count < limit:
                try:
                    head = router.recv(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                parts = router.recv_multipart(zmq.NOBLOCK) if head.more else []
                count += 1
                # The routing id frame carries the connection's metadata.
                rid = head.bytes
                address = _metadata(head, "Peer-Address")
                user = _metadata(head, "User-Id") if secure else None
                if not secure or rid.startswith(b"~") or user is None:
                    link = f"router:{rid.decode('utf-8', 'replace')}"
                else:
                    link = f"router:{user}"
                    if not user.startswith(ADMIN_USER_PREFIX):
                        self._routes[user] = rid
                yield link, parts, Peer(user, address)
        for peer, dealer in self.dealers.items():
            if dealer not in ready:
                continue
            while count < limit:
                try:
                    msg = dealer.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                count += 1
                yield peer, msg, self._dealer_peer[peer]

    def refusals(self) -> list[Refusal]:
        """CURVE handshakes refused (unknown keys) since the last call; none in plain mode."""
        return self._gatekeeper.refusals() if self._gatekeeper is not None else []

    # ------------------------------------------------------------ healing
    def acked(self, peer: str) -> None:
        """Note an ack from ``peer``: it reads what our DEALER sends it.

        The node calls this for every ack it takes from ``peer``. Every data
        frame and heartbeat is answered by an ack, so on a live link the
        wait that :meth:`stale` measures never grows past a heartbeat or two.
        """
        self._waiting.pop(peer, None)

    def stale(self, after: float, now: float | None = None) -> list[str]:
        """Out-neighbours whose DEALER has sent frames that no ack answered for ``after`` s.

        A frame that the DEALER could not send at all (not connected, with
        ``IMMEDIATE``) does not count: only a link that swallows frames does.
        """
        now = time.monotonic() if now is None else now
        return [peer for peer, since in self._waiting.items() if now - since > after]

    def reconnect(self, peer: str) -> None:
        """Replace the DEALER to ``peer`` with a fresh socket and a fresh connection.

        Whatever the old socket still held is dropped: the channel layer
        retransmits it. In plain mode the new connection takes our identity
        back at the peer's ROUTER (``ROUTER_HANDOVER``) from whoever held it.
        """
        fresh = self._dealer(peer)
        old = self.dealers[peer]
        self.poller.unregister(old)
        old.close(linger=0)
        self.dealers[peer] = fresh
        self.poller.register(fresh, zmq.POLLIN)
        self._waiting.pop(peer, None)
        self.reconnects += 1

    def heal(self, after: float, now: float | None = None) -> list[str]:
        """:meth:`reconnect` every :meth:`stale` link; the peers reconnected.

        Call it once per loop turn, outside :meth:`receive`, with the failure
        detector's ``suspect_after``.
        """
        peers = self.stale(after, now)
        for peer in peers:
            self.reconnect(peer)
        return peers

    def close(self) -> None:
        """Close every socket, stop the ZAP handler, then end an owned context.

        The order matters: a context cannot terminate while the ZAP handler's
        sockets are open in it (README, "Security", libzmq#4241).
        """
        for dealer in self.dealers.values():
            dealer.close(linger=0)
        self.router.close(linger=0)
        if self._gatekeeper is not None:
            self._gatekeeper.stop()
            self._gatekeeper = None
        if self._owns_ctx:
            self.ctx.term()


def _metadata(frame: zmq.Frame, name: str) -> str | None:
    """A message property (``Peer-Address``, ``User-Id``), or None if the connection has none."""
    try:
        value = frame.get(name)
    except zmq.ZMQError:
        return None
    return value if isinstance(value, str) and value else None


def decode_from(link: str, parts: list[bytes], max_size: int, user: str | None = None) -> Frame:
    """Decode ``parts`` and check that the frame's claimed source matches the link.

    A frame arriving on our DEALER connected to ``peer`` must be an ack from
    ``peer``; one arriving on the ROUTER must come from the identity that the
    sending DEALER declared. With ``user`` (secure mode: the name the
    connection's key belongs to) the claimed ``src`` must be exactly that
    name, or the frame fails with reason ``auth``: a member cannot speak for
    another. Raises :class:`FrameError` otherwise.
    """
    frame = decode(parts, max_size=max_size)
    if user is not None:
        if frame.src != user:
            raise FrameError("auth", f"frame claims src {frame.src!r} over {user!r}'s key")
        return frame
    expected = link[len("router:") :] if link.startswith("router:") else link
    if frame.src != expected:
        raise FrameError("field:src", f"frame claims src {frame.src!r} on link {expected!r}")
    return frame
