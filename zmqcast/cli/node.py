"""``zmqcast node`` and ``zmqcast launch``: run one node, or a whole cluster."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer
import zmq

from zmqcast.cli.errors import check_probability, fail
from zmqcast.cli.options import ConfigOption
from zmqcast.config import ClusterConfig, ConfigError, load_config
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.runtime.benchload import BenchLoad
from zmqcast.runtime.node import IncarnationError, NodeRuntime
from zmqcast.runtime.spawn import BankFlags, Faults, NodeFlags, spawn_node, supervised
from zmqcast.runtime.workload import BankPlan

COLOURS = ("cyan", "green", "yellow", "magenta", "blue", "red", "bright_cyan", "bright_green")
LAUNCH_BANK_SECONDS = 86_400
"""How long ``launch --bank`` keeps transferring: until stopped, in practice."""


def _load(path: Path) -> ClusterConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(f"config {path}: {exc.field}", exc.message)


LossOpt = Annotated[
    float | None, typer.Option(help="Drop each outgoing frame with this probability.")
]
DupOpt = Annotated[float | None, typer.Option(help="Duplicate each outgoing frame.")]
DelayOpt = Annotated[
    float | None, typer.Option(help="Delay each outgoing frame (reorders) with this probability.")
]
ReorderOpt = Annotated[
    float | None,
    typer.Option(help="Swap each outgoing frame with the link's next one, with this probability."),
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of the loss injection.")]


def _with_faults(
    cfg: ClusterConfig,
    loss: float | None,
    dup: float | None,
    delay: float | None,
    reorder: float | None,
    seed: int | None,
) -> ClusterConfig:
    """The config with loss-injection flags overriding its ``faults`` block."""
    faults = cfg.faults
    if seed is not None and seed < 0:
        fail("--seed", f"must not be negative, got {seed}")
    updated = dataclasses.replace(
        faults,
        loss=faults.loss if loss is None else check_probability("--loss", loss),
        dup=faults.dup if dup is None else check_probability("--dup", dup),
        delay=faults.delay if delay is None else check_probability("--delay", delay),
        reorder=faults.reorder if reorder is None else check_probability("--reorder", reorder),
        seed=faults.seed if seed is None else seed,
    )
    return cfg if updated == faults else dataclasses.replace(cfg, faults=updated)


def _default_run_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def node(
    config: ConfigOption,
    node_id: Annotated[str, typer.Option("--id", help="Which node of the config to run.")],
    auto: Annotated[
        bool, typer.Option("--auto", help="Run the seed's script, exit once all is delivered.")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where events/<node>.jsonl is written.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Also print channel events.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")] = False,
    loss: LossOpt = None,
    dup: DupOpt = None,
    delay: DelayOpt = None,
    reorder: ReorderOpt = None,
    seed: SeedOpt = None,
    bank: Annotated[
        bool, typer.Option("--bank", help="Run the bank workload (what `zmqcast bank` starts).")
    ] = False,
    rate: Annotated[float, typer.Option(help="Bank: transfers per second.")] = 50.0,
    duration: Annotated[float, typer.Option(help="Bank: seconds of transfers.")] = 10.0,
    snapshot_every: Annotated[
        float, typer.Option(help="Bank: seconds between snapshots of the cluster; 0 for none.")
    ] = 1.0,
    variant: Annotated[
        str, typer.Option(help="Bank: snapshot variant, or all (default: per channel mode).")
    ] = "",
    chat_rate: Annotated[
        float, typer.Option(help="Multicast generated chat lines at this rate per second.")
    ] = 0.0,
    bench_send: Annotated[
        int, typer.Option(help="Benchmark: multicast this many messages as fast as possible.")
    ] = 0,
    bench_size: Annotated[int, typer.Option(help="Benchmark: message size in bytes.")] = 64,
    bench_expect: Annotated[
        int, typer.Option(help="Benchmark: deliveries to expect (report on exit).")
    ] = 0,
    bench_checkpoint: Annotated[
        int, typer.Option(help="Benchmark: note peak memory after this many messages.")
    ] = 0,
) -> None:
    """Run one node. Each line typed on stdin is multicast; deliveries are printed.

    ``/snapshot [VARIANT]`` on stdin starts a snapshot instead.
    """
    cfg = _with_faults(_load(config), loss, dup, delay, reorder, seed)
    if node_id not in cfg.ids:
        fail("--id", f"no node {node_id!r} in {config} (nodes: {', '.join(cfg.ids)})")
    me = cfg.node(node_id)
    plan = bank_plan(cfg, rate, duration, snapshot_every, variant) if bank else None
    if not 0 <= chat_rate <= 100_000:
        fail("--chat-rate", f"must be in [0, 100000] per second, got {chat_rate:g}")
    for flag, count in (
        ("--bench-send", bench_send),
        ("--bench-expect", bench_expect),
        ("--bench-checkpoint", bench_checkpoint),
    ):
        if count < 0:
            fail(flag, f"must not be negative, got {count}")
    if not 8 <= bench_size <= cfg.max_frame_bytes // 2:
        fail("--bench-size", f"must be in [8, {cfg.max_frame_bytes // 2}] bytes, got {bench_size}")
    bench = None
    if bench_send or bench_expect:
        bench = BenchLoad(
            send=bench_send, size=bench_size, expect=bench_expect, checkpoint=bench_checkpoint
        )
    try:
        runtime = NodeRuntime(
            cfg,
            node_id,
            run_dir or _default_run_dir(),
            auto=auto,
            verbose=verbose,
            json_output=json,
            bank=plan,
            chat_rate=chat_rate,
            bench=bench,
            stdin=not auto,
        )
    except zmq.ZMQError as exc:
        fail(f"--id {node_id}", f"cannot use {me.endpoint}: {exc.strerror}")
    except OSError as exc:
        fail("--run-dir", f"cannot write the event log: {exc.strerror or exc}")
    except IncarnationError as exc:
        fail("--run-dir", str(exc))
    # Ctrl-C and SIGTERM flush what is unreleased (bounded), then stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: runtime.stop())
    raise typer.Exit(runtime.run())


def snapshot_variants(cfg: ClusterConfig, variant: str) -> tuple[Variant, ...]:
    """The variants ``--variant`` names for this config's channel mode (exit 2 if wrong)."""
    mode = cfg.core.mode
    if not variant:
        return (DEFAULT_VARIANT[mode],)
    if variant == "all":
        return tuple(v for v in Variant if v.supports(mode))
    names = ", ".join(v.value for v in Variant)
    try:
        chosen = Variant(variant)
    except ValueError:
        fail("--variant", f"must be one of {names} or all, got {variant!r}")
    if not chosen.supports(mode):
        fail("--variant", f"{chosen.value} does not work over {mode.value} channels")
    return (chosen,)


def bank_plan(
    cfg: ClusterConfig, rate: float, duration: float, snapshot_every: float, variant: str
) -> BankPlan:
    """Validate the bank flags into a plan (exit 2 naming the flag if one is wrong)."""
    if not 0 < rate <= 100_000:
        fail("--rate", f"must be in (0, 100000] transfers per second, got {rate:g}")
    if not 0 < duration <= 86_400:
        fail("--duration", f"must be in (0, 86400] seconds, got {duration:g}")
    if not 0 <= snapshot_every <= 86_400:
        fail("--snapshot-every", f"must be in [0, 86400] seconds, got {snapshot_every:g}")
    if 0 < snapshot_every < 0.01:
        fail("--snapshot-every", f"must be at least 0.01 seconds, got {snapshot_every:g}")
    grace = 2 * cfg.core.rto_max
    return BankPlan(rate, duration, snapshot_every, snapshot_variants(cfg, variant), grace=grace)


def _pump(stream: IO[bytes], colour: str | None, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        with lock:
            typer.secho(line, fg=colour)


def _stdin_lines() -> Iterator[bytes]:
    """Lines of our stdin, read from the descriptor itself.

    This thread may still be blocked reading when the launcher exits; a
    ``sys.stdin.buffer`` read would then hold the buffer's lock and abort the
    interpreter's shutdown, while a raw ``os.read`` holds no Python lock.
    """
    fd = sys.stdin.fileno()
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _route_stdin(procs: dict[str, subprocess.Popen[bytes]], first: str) -> None:
    """Forward the launcher's stdin: ``P2: text`` goes to P2, other lines to ``first``."""
    for raw in _stdin_lines():
        target, sep, rest = raw.partition(b":")
        name = target.strip().decode("utf-8", "replace")
        if sep and name in procs:
            dest, line = procs[name], rest.lstrip()
        else:
            dest, line = procs[first], raw
        if dest.stdin is None or dest.poll() is not None:
            continue
        try:
            dest.stdin.write(line if line.endswith(b"\n") else line + b"\n")
            dest.stdin.flush()
        except (BrokenPipeError, ValueError):
            continue  # that node has stopped; the others still take input
    for proc in procs.values():  # our stdin ended: so does theirs
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()


def launch(
    config: Annotated[Path, typer.Argument(help="Cluster config (JSON).")],
    auto: Annotated[
        bool, typer.Option("--auto", help="Every node runs the seed's script.")
    ] = False,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory shared by all nodes.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Channel events too.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Events as JSON lines.")] = False,
    loss: LossOpt = None,
    dup: DupOpt = None,
    delay: DelayOpt = None,
    reorder: ReorderOpt = None,
    seed: SeedOpt = None,
    bank: Annotated[
        bool,
        typer.Option("--bank", help="Every node moves money until stopped (for `snapshot`)."),
    ] = False,
    rate: Annotated[float, typer.Option(help="With --bank: transfers per second per node.")] = 5.0,
) -> None:
    """Start every node of the config as its own process and merge their output.

    Without ``--auto``, each line typed here is multicast by the first node, or
    by node P2 if the line starts with ``P2:``.
    """
    cfg = _with_faults(_load(config), loss, dup, delay, reorder, seed)
    if bank:
        bank_plan(cfg, rate, LAUNCH_BANK_SECONDS, 0, "")
    directory = run_dir or _default_run_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail("--run-dir", f"cannot create {directory}: {exc.strerror or exc}")
    typer.echo(f"run directory: {directory}", err=json)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    lock = threading.Lock()
    pumps: list[threading.Thread] = []
    flags = NodeFlags(
        auto=auto,
        verbose=verbose,
        json=json,
        faults=Faults(loss=loss, dup=dup, delay=delay, reorder=reorder, seed=seed),
        bank=BankFlags(rate=rate, duration=LAUNCH_BANK_SECONDS, snapshot_every=0) if bank else None,
    )
    stdin = subprocess.DEVNULL if auto else subprocess.PIPE
    for i, node_id in enumerate(cfg.ids):
        proc = spawn_node(config, node_id, directory, flags, stdin=stdin)
        procs[node_id] = proc
        assert proc.stdout is not None
        colour = None if json else COLOURS[i % len(COLOURS)]
        pump = threading.Thread(target=_pump, args=(proc.stdout, colour, lock))
        pump.start()
        pumps.append(pump)
    if not auto and sys.stdin is not None:
        threading.Thread(target=_route_stdin, args=(procs, cfg.ids[0]), daemon=True).start()

    try:
        with supervised(procs):
            codes = {node_id: _wait(proc) for node_id, proc in procs.items()}
    finally:
        for pump in pumps:
            pump.join(timeout=2)
    failed = [node_id for node_id, code in codes.items() if code != 0]
    if failed:
        typer.echo(f"nodes exited with errors: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
