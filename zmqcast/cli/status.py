"""``zmqcast status``: ask every node of a running cluster how it is, over the admin lane."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import zmq

from zmqcast.cli.errors import fail
from zmqcast.cli.node import _load
from zmqcast.cli.options import AdminKeyOption
from zmqcast.config import ClusterConfig, ConfigError
from zmqcast.runtime.admin import AdminClient

COLUMNS = (
    ("node", "node"),
    ("state", "state"),
    ("inc", "incarnation"),
    ("lamport", "lamport"),
    ("connected", "connected"),
    ("unreleased", "unreleased"),
    ("retransmits", "retransmits"),
    ("suspects", "suspects"),
    ("snapshots_active", "snapshots"),
)


def ask_all(
    cfg: ClusterConfig, timeout: float, admin_key: Path | None = None
) -> dict[str, dict[str, Any] | None]:
    """Each node's ``status`` reply, or None for a node that did not answer in time.

    Every request goes out at once, so a cluster with down nodes costs one
    timeout in all, not one per node. With a secure config the requests are
    made with the admin key (``admin_key``, or the config's).
    """
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    clients: dict[str, AdminClient] = {}
    try:
        for node in cfg.ids:
            clients[node] = AdminClient.for_node(cfg, node, ctx, secret_key=admin_key)
    except ConfigError as exc:
        for client in clients.values():
            client.sock.close(linger=0)
        ctx.term()
        fail(exc.field, exc.message)
    endpoints = {n: cfg.node(n).endpoint for n in cfg.ids}
    try:
        pending = {node: client.send("status") for node, client in clients.items()}
        answers: dict[str, dict[str, Any] | None] = dict.fromkeys(endpoints)
        poller = zmq.Poller()
        for client in clients.values():
            poller.register(client.sock, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while any(answers[n] is None for n in pending) and time.monotonic() < deadline:
            ready = dict(poller.poll(int(max(0.0, deadline - time.monotonic()) * 1000) + 1))
            for node, client in clients.items():
                if client.sock in ready:
                    for reply in client.replies():
                        if reply.get("id") == pending[node] and reply.get("ok"):
                            answers[node] = reply
        return answers
    finally:
        for client in clients.values():
            client.sock.close(linger=0)
        ctx.term()


def _cell(reply: dict[str, Any] | None, key: str, node: str) -> str:
    if key == "node":
        return node
    if key == "state":
        return "up" if reply is not None else "down"
    if reply is None:
        return "-"
    value = reply.get(key)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def status(
    config: Annotated[Path, typer.Option("--config", help="Config of the running cluster.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answers.")] = 2.0,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object per node.")] = False,
    admin_key: AdminKeyOption = None,
) -> None:
    """Ask every node for its status; print a table (a node that does not answer is down).

    Exits 0 if every node answered, 1 if any is down, 2 on a bad flag.
    """
    cfg = _load(config)
    if not 0 < timeout <= 60:
        fail("--timeout", f"must be in (0, 60] seconds, got {timeout:g}")
    answers = ask_all(cfg, timeout, admin_key)
    if json:
        for node in cfg.ids:
            reply = answers[node]
            fields = {k: v for k, v in (reply or {}).items() if k not in ("v", "k", "id", "ok")}
            record = {"node": node, "up": reply is not None, **fields}
            typer.echo(orjson.dumps(record).decode())
    else:
        rows = [[title for _, title in COLUMNS]]
        rows += [[_cell(answers[n], key, n) for key, _ in COLUMNS] for n in cfg.ids]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if any(a is None for a in answers.values()):
        raise typer.Exit(1)
