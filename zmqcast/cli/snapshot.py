"""``zmqcast snapshot``: ask a running cluster for a global snapshot and summarise it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from zmqcast.cli.errors import fail
from zmqcast.cli.node import _load, snapshot_variants
from zmqcast.cli.options import AdminKeyOption
from zmqcast.config import ConfigError
from zmqcast.runtime.admin import AdminClient

ANSWER_TIMEOUT = 5.0
"""Seconds to wait for the initiator to acknowledge the request."""


def snapshot(
    config: Annotated[Path, typer.Option("--config", help="Config of the running cluster.")],
    initiator: Annotated[str, typer.Option(help="Node that initiates the snapshot.")],
    variant: Annotated[
        str, typer.Option(help="chandy-lamport, lai-yang or sender-log (default: per channel).")
    ] = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for completion.")] = 60.0,
    admin_key: AdminKeyOption = None,
) -> None:
    """Take a snapshot of a cluster started with ``launch``; print where it was written."""
    cfg = _load(config)
    if initiator not in cfg.ids:
        fail("--initiator", f"no node {initiator!r} in {config} (nodes: {', '.join(cfg.ids)})")
    chosen = snapshot_variants(cfg, variant, allow_all=False)[0]
    if not 0 < timeout <= 3600:
        fail("--timeout", f"must be in (0, 3600] seconds, got {timeout:g}")
    endpoint = cfg.node(initiator).endpoint
    try:
        lane = AdminClient.for_node(cfg, initiator, secret_key=admin_key)
    except ConfigError as exc:
        fail(exc.field, exc.message)
    with lane as client:
        rid = client.send("snapshot", variant=chosen.value)
        started = None if rid is None else client.wait(rid, ANSWER_TIMEOUT)
        if started is None:
            fail("--initiator", f"{initiator} at {endpoint} did not answer (is the cluster up?)")
        if not started.get("ok"):
            fail("--variant", str(started.get("error", "refused")))
        sid = started["sid"]
        typer.echo(f"snapshot {sid} ({chosen.value}) started at {initiator}")
        done = client.wait(started["id"], timeout)
    if done is None:
        typer.echo(f"snapshot {sid}: no answer within {timeout:g} s", err=True)
        raise typer.Exit(1)
    if done.get("phase") != "done":
        typer.echo(f"snapshot {sid} aborted: {done.get('reason', 'unknown')}", err=True)
        raise typer.Exit(1)
    path = Path(str(done["path"]))
    typer.echo(f"global snapshot written to {path}")
    try:
        content = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        typer.echo(f"cannot read {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in summary(content):
        typer.echo(line)


def summary(glob: dict[str, Any]) -> list[str]:
    """Human lines for a ``global.json``: duration, each node's state, channel contents."""
    ms = float(glob.get("duration", 0.0)) * 1000
    records: dict[str, Any] = glob.get("records", {})
    lines = [f"  {len(records)} nodes, {ms:.1f} ms from initiation to completion"]
    total = 0
    money = True
    for node, rec in records.items():
        raw = rec.get("state", {})
        # The bank's state is an object; an application on the Python API may record any value.
        state = raw if isinstance(raw, dict) else {"state": orjson.dumps(raw).decode()}
        channels = rec.get("channels", {})
        held = sum(len(msgs) for msgs in channels.values())
        in_flight = sum(
            m.get("body", {}).get("amount", 0)
            for msgs in channels.values()
            for m in msgs
            if isinstance(m.get("body"), dict)
        )
        shown = " ".join(f"{k}={v}" for k, v in state.items()) or "(no app state)"
        side = rec.get("side", "receiver")
        lines.append(
            f"  {node}: Lamport={rec.get('lamport')} {shown}; "
            f"{held} messages in channels recorded at the {side}"
        )
        balance = state.get("balance")
        if isinstance(balance, int):
            total += balance + in_flight
        else:
            money = False
    if money and records:
        lines.append(f"  total money (balances + in channels): {total}")
    return lines
