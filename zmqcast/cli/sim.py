"""``zmqcast sim``: run the deterministic simulator and check every invariant."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from zmqcast.check.report import InvariantResult
from zmqcast.cli.errors import check_choice, check_probability, fail
from zmqcast.cli.options import SeedOption, check_seed
from zmqcast.core.config import ChannelMode, Relay
from zmqcast.fsutil import write_atomic
from zmqcast.sim.runner import (
    DEFAULT_MAX_TIME,
    DEFAULT_SEND_INTERVAL,
    DEFAULT_WINDOW,
    MAX_BURST,
    MAX_WINDOW,
    WORKLOADS,
    SimParams,
    SimResult,
    simulate,
)
from zmqcast.topology import SHAPES

MODES = tuple(m.value for m in ChannelMode)
RELAYS = tuple(r.value for r in Relay)


def format_summary(result: SimResult) -> str:
    """The human summary: the same run always prints the same bytes."""
    s = result.summary
    p = result.params
    faults = s["faults"]
    frames = s["frames"]
    extra = "" if p.window == DEFAULT_WINDOW else f", window {p.window}"
    if p.relay is not Relay.TREE:
        extra += f", {p.relay.value} relay"
    if p.workload != "chat":
        extra += f", {p.workload} workload"
    lines = [
        f"zmqcast sim: {p.nodes} nodes, {p.topology}, {p.channel.value} channels{extra}, "
        f"seed {p.seed}",
        f"  virtual time   {s['virtual_time']:.3f} s"
        + ("" if s["quiesced"] else "  (did NOT quiesce)"),
        f"  messages       {s['multicasts']} multicast, {s['deliveries']} deliveries"
        + (
            f", {s['app']['sent']} transfers sent, {s['app']['received']} received"
            if "app" in s
            else ""
        ),
        f"  frames         {frames['total']} sent: {frames['data']} data, "
        f"{frames['ack']} ack, {frames['hb']} heartbeat",
        f"  retransmitted  {s['retransmitted_items']} items",
        f"  faults         {faults['dropped']} dropped, {faults['duplicated']} duplicated, "
        f"{faults['reordered']} reordered, {faults['partition_drops']} cut by partitions, "
        f"{faults['to_down_node']} to a down node; "
        f"{faults['partitions']} partitions, {faults['crashes']} crashes",
    ]
    if not p.channel.reliable:
        losses = s["losses"]
        lines.append(
            f"  losses         {losses['declared_by_channels']} declared by channels, "
            f"{losses['missing_deliveries']} deliveries missing (lossy channels, not repaired)"
        )
    snaps = s.get("snapshots")
    if snaps:
        lines.append(
            f"  snapshots      {snaps['taken']} taken, {snaps['complete']} complete, "
            f"{snaps['aborted']} aborted, {snaps['failed']} failed"
        )
        lines.extend(f"    {line}" for line in snaps["lines"])
    lines.append("  invariants")
    lines.extend(f"    {r.name:<17} {r.verdict()}" for r in result.report.results)
    if not result.quiesced:
        lines.append(f"    {'liveness':<17} VIOLATED  (not quiet by t={p.max_time:g})")
    return "\n".join(lines)


def invariants_json(results: Iterable[InvariantResult]) -> dict[str, dict[str, Any]]:
    """Each invariant's verdict for ``--json``, with what it counted.

    ``verdict`` is ``held``, ``VIOLATED`` or ``not checked`` (held over nothing),
    so a run that checked nothing cannot be read as a pass.
    """
    return {
        r.name: {
            "verdict": "VIOLATED" if not r.held else "not checked" if r.vacuous else "held",
            "checked": r.checked,
            "unit": r.unit,
            "violations": r.violations,
            "detail": r.detail,
        }
        for r in results
    }


def sim(
    nodes: Annotated[int, typer.Option(help="Number of nodes, P1..Pn.")] = 3,
    messages: Annotated[int, typer.Option(help="Multicasts sent by every node.")] = 10,
    loss: Annotated[float, typer.Option(help="Probability that a frame is dropped.")] = 0.0,
    dup: Annotated[float, typer.Option(help="Probability that a frame is duplicated.")] = 0.0,
    reorder: Annotated[
        float,
        typer.Option(
            help="Probability that a frame gets a random extra delay, so frames overtake "
            "(1: every frame)."
        ),
    ] = 0.0,
    topology: Annotated[str, typer.Option(help=f"Links: {', '.join(SHAPES)}.")] = "mesh",
    channel: Annotated[str, typer.Option(help=f"Channel mode: {', '.join(MODES)}.")] = "fifo",
    partition: Annotated[
        bool, typer.Option("--partition", help="Cut the cluster in two, then heal it.")
    ] = False,
    crash: Annotated[
        bool, typer.Option("--crash", help="Crash nodes and restart them as new incarnations.")
    ] = False,
    seed: SeedOption = 0,
    trace: Annotated[
        Path | None, typer.Option(help="Write the event trace here, as JSON lines.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    workload: Annotated[
        str,
        typer.Option(
            help="chat (multicasts), bank (transfers to neighbours) or mixed (both, interleaved)."
        ),
    ] = "chat",
    snapshots: Annotated[int, typer.Option(help="Snapshots to take, by rotating nodes.")] = 0,
    variant: Annotated[
        str,
        typer.Option(help="chandy-lamport, lai-yang, sender-log or all (default: per channel)."),
    ] = "",
    window: Annotated[
        int, typer.Option(help=f"Flow-control window of every channel, 1 to {MAX_WINDOW}.")
    ] = DEFAULT_WINDOW,
    relay: Annotated[
        str, typer.Option(help="tree (N-1 copies per multicast) or flood (the seed's flooding).")
    ] = Relay.TREE.value,
    max_time: Annotated[
        float, typer.Option(help="Virtual seconds by which the run must be quiet (liveness).")
    ] = DEFAULT_MAX_TIME,
    send_interval: Annotated[
        float, typer.Option(help="Mean virtual seconds between two sends of one node.")
    ] = DEFAULT_SEND_INTERVAL,
    burst: Annotated[
        int,
        typer.Option(
            help=f"Most multicasts one chat turn sends as one batch (drawn 1..N), 1 to {MAX_BURST}."
        ),
    ] = 1,
) -> None:
    """Simulate a cluster on virtual time, inject faults, check every invariant.

    Exits 0 when no invariant was violated, 1 on a violation (printing the
    seed and the command that replays the run exactly), 2 on a bad flag. An
    invariant with nothing to check (``--messages 0``, or every node crashed)
    is printed as ``not checked`` and does not fail the run: the simulator
    exercises whatever the flags ask for, and says what that was.
    """
    check_probability("--loss", loss)
    check_probability("--dup", dup)
    if not 0.0 <= reorder <= 1.0:
        fail("--reorder", f"must be in [0, 1], got {reorder:g}")
    check_seed(seed)
    check_choice("--topology", topology, SHAPES)
    check_choice("--channel", channel, MODES)
    check_choice("--relay", relay, RELAYS)
    if nodes < 2 or nodes > 64:
        fail("--nodes", f"must be between 2 and 64, got {nodes}")
    if topology == "squares" and nodes != 8:
        fail("--nodes", "the squares topology needs exactly 8 nodes")
    if messages < 0 or messages > 1_000_000:
        fail("--messages", f"must be between 0 and 1000000, got {messages}")
    check_choice("--workload", workload, WORKLOADS)
    if snapshots < 0 or snapshots > 10_000:
        fail("--snapshots", f"must be between 0 and 10000, got {snapshots}")
    if snapshots and workload == "chat":
        fail("--snapshots", "snapshots record balances: use --workload bank or mixed")
    if not 1 <= window <= MAX_WINDOW:
        fail("--window", f"must be between 1 and {MAX_WINDOW}, got {window}")
    if not 0 < max_time <= 1e6:
        fail("--max-time", f"must be in (0, 1000000] virtual seconds, got {max_time:g}")
    if not 0 < send_interval <= 60:
        fail("--send-interval", f"must be in (0, 60] virtual seconds, got {send_interval:g}")
    if not 1 <= burst <= MAX_BURST:
        fail("--burst", f"must be between 1 and {MAX_BURST}, got {burst}")
    try:
        SimParams(channel=ChannelMode(channel), variant=variant)
    except ValueError as exc:
        fail("--variant", str(exc).removeprefix("variant: "))
    params = SimParams(
        nodes=nodes,
        messages=messages,
        loss=loss,
        dup=dup,
        reorder=reorder,
        topology=topology,
        channel=ChannelMode(channel),
        partition=partition,
        crash=crash,
        seed=seed,
        workload=workload,
        snapshots=snapshots,
        variant=variant,
        window=window,
        relay=Relay(relay),
        max_time=max_time,
        send_interval=send_interval,
        burst=burst,
    )
    result = simulate(params)
    if trace is not None:
        try:
            write_atomic(trace, b"".join(orjson.dumps(e) + b"\n" for e in result.events))
        except OSError as exc:
            fail("--trace", f"cannot write {trace}: {exc.strerror or exc}")
    if json:
        out: dict[str, Any] = dict(result.summary)
        out["invariants"] = invariants_json(result.report.results)
        out["ok"] = result.ok
        typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(format_summary(result))
    failure = result.failure()
    if failure is not None:
        typer.echo(f"VIOLATED: {failure[0]} (seed {seed})", err=True)
        typer.echo(f"replay with: {params.command()}", err=True)
        raise typer.Exit(1)
