"""The ZAP gatekeeper: admits only the cluster's keys and names each connection.

libzmq asks a ZAP handler (RFC 27) about every CURVE handshake a server socket
takes part in. :class:`Gatekeeper` is pyzmq's :class:`ThreadAuthenticator`
with two changes: a key is admitted only if the config names it (a member's
or an admin's), and the ``User-Id`` it hands libzmq for the connection is the
name the key belongs to (``P2``, or ``~ops`` for an admin) rather than the key
itself. Every message that arrives on the connection then carries that name as
its ``User-Id`` metadata, which the node compares with the frame's ``src``.

Refused handshakes are kept (address and key), for the node to log; at most
:data:`REFUSALS_KEPT` wait, so a flood of strangers cannot grow memory.

Stop the gatekeeper before terminating its context: the context's
termination waits for every socket in it, the gatekeeper's ZAP and pipe
sockets included, and would never return while its thread still runs
(README, "Security", on pyzmq and libzmq#4241).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

ZAP_DOMAIN = "zmqcast"
"""The ZAP domain of every zmqcast server socket."""
ADMIN_USER_PREFIX = "~"
"""An admin key's ``User-Id`` is ``~NAME``; node ids may not start with ``~``."""
REFUSALS_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Refusal:
    """A CURVE handshake the gatekeeper refused."""

    address: str
    """The peer's IP address, as libzmq gives it to ZAP."""
    key: str
    """The client's public key (Z85): not secret, and what tells one stranger from another."""


@dataclass(frozen=True, slots=True)
class NodeKeys:
    """What a node's transport needs for CURVE: its keys, its peers', and who may connect."""

    public: bytes
    """This node's public key (Z85); its ROUTER serves with it, its DEALERs present it."""
    secret: bytes = field(repr=False)
    """This node's secret key (Z85)."""
    servers: Mapping[str, bytes]
    """Out-neighbour -> the public key its ROUTER must prove it holds (pinned)."""
    users: Mapping[bytes, str]
    """Client public key (Z85) -> the name connections with it act as: a node id,
    or ``~NAME`` for an admin key. Any other key is refused."""


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """A CURVE client's keys (an admin tool's) and the server key it pins."""

    public: bytes
    secret: bytes = field(repr=False)
    server: bytes
    """The public key of the node the client connects to."""

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` a CURVE client with these keys (before it connects)."""
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server


class Gatekeeper(ThreadAuthenticator):
    """A ZAP handler on its own thread that admits ``users`` only, named as they map.

    Start it before the server socket binds, in the same context; stop it
    before the context is terminated.
    """

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], users: Mapping[bytes, str]) -> None:
        super().__init__(ctx, log=logging.getLogger("zmqcast.zap"))
        self._users = dict(users)
        self._refused: deque[Refusal] = deque(maxlen=REFUSALS_KEPT)
        self._lock = threading.Lock()
        self._address = ""
        self.refused_total = 0
        """Every handshake refused since the start (the kept list is bounded)."""

    def start(self) -> None:
        super().start()
        self.configure_curve_callback(ZAP_DOMAIN, self)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        # The credentials callback is not told the peer's address; note it here.
        # Requests are handled one at a time on the gatekeeper's thread.
        self._address = msg[3].decode("utf-8", "replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        """The credentials provider pyzmq calls with a client's Z85 public key."""
        if key in self._users:
            return True
        with self._lock:
            self._refused.append(Refusal(self._address, key.decode("ascii", "replace")))
            self.refused_total += 1
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The ``User-Id`` of an admitted connection: the name its key belongs to."""
        return self._users[z85.encode(client_public_key)]

    def refusals(self) -> list[Refusal]:
        """The handshakes refused since the last call, oldest first (thread-safe)."""
        with self._lock:
            out = list(self._refused)
            self._refused.clear()
        return out
