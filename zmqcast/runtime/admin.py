"""The admin lane: requests from tools (``zmqcast snapshot``, the stress nemesis) to a node.

A tool connects a DEALER to a node's ROUTER, the same socket peers use, with an
identity that starts with ``~`` (node ids cannot), and sends one-part messages
holding a JSON object. The node answers on the same connection. Requests never
pass through the fault injector: the nemesis must be able to heal a partition
it made. The format is in README, "Admin requests".

Request: ``{"v": 1, "k": "admin", "id": N, "op": OP, ...arguments}``.
Reply: ``{"v": 1, "k": "reply", "id": N, "ok": true, ...}`` or
``{"v": 1, "k": "reply", "id": N, "ok": false, "error": "..."}``. A ``snapshot``
request is answered twice: at once (``"phase": "started"``), and when the
snapshot completes or aborts at its initiator (``"phase": "done"`` or
``"aborted"``).

Who may send requests is the node's policy (:mod:`zmqcast.security.policy`):
loopback peers in plain mode, admin keys in secure mode, and ``faults`` and
``workload`` from loopback unless the config allows remote fault control. A
tool on a secure cluster is a CURVE client with an admin key
(:meth:`AdminClient.for_node` finds it in the config).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zmq

from zmqcast.config import ClusterConfig
from zmqcast.security.auth import ClientKeys
from zmqcast.security.setup import admin_keys

ADMIN_PREFIX = "~"
"""First character of an admin client's identity; node ids may not start with it."""
OPS = ("status", "snapshot", "faults", "workload")
MAX_REQUEST = 64 * 1024
RETRY = 0.2
"""Seconds between two attempts of a request sent with ``retry``."""


class AdminError(ValueError):
    """A request that cannot be served; the text goes back as ``error``."""


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded admin request."""

    id: int
    op: str
    args: dict[str, Any]


def decode_request(parts: list[bytes]) -> Request:
    """Parse an admin message; raise AdminError naming what is wrong."""
    if len(parts) != 1 or len(parts[0]) > MAX_REQUEST:
        raise AdminError("an admin request is one part of at most 64 KiB")
    try:
        obj = orjson.loads(parts[0])
    except orjson.JSONDecodeError:
        raise AdminError("not JSON") from None
    if type(obj) is not dict or obj.get("v") != 1 or obj.get("k") != "admin":
        raise AdminError('not an admin request (needs "v": 1, "k": "admin")')
    rid, op = obj.get("id"), obj.get("op")
    if type(rid) is not int or not 0 <= rid < 1 << 53:
        raise AdminError("field id: must be a non-negative integer")
    if op not in OPS:
        raise AdminError(f"field op: must be one of {', '.join(OPS)}")
    args = {k: v for k, v in obj.items() if k not in ("v", "k", "id", "op")}
    return Request(rid, op, args)


def encode_reply(rid: int, ok: bool, fields: dict[str, Any]) -> bytes:
    """The one part of a reply to request ``rid``."""
    return orjson.dumps({"v": 1, "k": "reply", "id": rid, "ok": ok, **fields})


class AdminClient:
    """A tool's connection to one node's admin lane.

    With ``immediate`` (the stress harness), nothing is queued for a node that
    is not connected: a request meant for a killed incarnation must not reach
    its successor much later. :meth:`send` then returns None and the caller
    retries (``call(..., retry=True)`` does).

    ``keys`` (a secure cluster) makes the socket a CURVE client with an admin
    key, pinned to the node's public key; :meth:`for_node` picks them from a
    config.
    """

    def __init__(
        self,
        endpoint: str,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        *,
        immediate: bool = False,
        keys: ClientKeys | None = None,
    ) -> None:
        self._owns_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        ident = f"{ADMIN_PREFIX}{os.getpid()}-{id(self):x}"
        self.sock.setsockopt(zmq.IDENTITY, ident.encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            keys.apply(self.sock)
        if endpoint.startswith("tcp://["):  # an IPv6 literal
            self.sock.setsockopt(zmq.IPV6, 1)
        if immediate:
            self.sock.setsockopt(zmq.IMMEDIATE, 1)
            self.sock.setsockopt(zmq.RECONNECT_IVL, 50)
            self.sock.setsockopt(zmq.RECONNECT_IVL_MAX, 200)
            self.sock.setsockopt(zmq.CONNECT_TIMEOUT, 2000)
        self.sock.connect(endpoint)
        self._next_id = 0

    @classmethod
    def for_node(
        cls,
        cfg: ClusterConfig,
        node_id: str,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        *,
        immediate: bool = False,
        secret_key: Path | None = None,
    ) -> AdminClient:
        """A client of node ``node_id``'s admin lane, with the admin key if ``cfg`` is secure.

        ``secret_key`` (an ``--admin-key`` flag) overrides the config's
        ``security.admin_secret_key``. Raises :class:`~zmqcast.config.ConfigError`
        (naming the flag or field) if a secure config gives no usable admin key.
        """
        keys = admin_keys(cfg, node_id, secret_key)
        return cls(cfg.node(node_id).endpoint, ctx, immediate=immediate, keys=keys)

    def send(self, op: str, **args: Any) -> int | None:
        """Send one request; its id, or None if it could not be sent now."""
        self._next_id += 1
        msg = {"v": 1, "k": "admin", "id": self._next_id, "op": op, **args}
        try:
            self.sock.send(orjson.dumps(msg), zmq.NOBLOCK)
        except zmq.Again:
            return None
        return self._next_id

    def replies(self) -> list[dict[str, Any]]:
        """Every reply waiting on the socket, without blocking."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                raw = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return out
            try:
                reply = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if type(reply) is dict:
                out.append(reply)

    def wait(self, rid: int, timeout: float) -> dict[str, Any] | None:
        """The next reply to ``rid`` within ``timeout`` seconds; None if none came.

        Replies to other (older) requests are discarded.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(int(left * 1000) + 1):
                for reply in self.replies():
                    if reply.get("id") == rid:
                        return reply
        return None

    def call(
        self, op: str, timeout: float, *, retry: bool = False, **args: Any
    ) -> dict[str, Any] | None:
        """Send a request and wait for its first reply, within ``timeout`` seconds.

        With ``retry``, the request is sent again every :data:`RETRY` seconds
        until one is answered (for a node that may be restarting).
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            rid = self.send(op, **args)
            if rid is None:
                # Not connected yet: give the connection a moment.
                self.sock.poll(int(min(RETRY, left) * 1000))
                continue
            reply = self.wait(rid, min(RETRY, left) if retry else left)
            if reply is not None or not retry:
                return reply

    def close(self) -> None:
        self.sock.close(linger=0)
        if self._owns_ctx:
            self.ctx.term()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
