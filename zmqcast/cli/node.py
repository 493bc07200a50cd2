"""``zmqcast node`` and ``zmqcast launch``: run one node, or a whole cluster."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from zmqcast.api import Node
from zmqcast.apps.bank import BankApp, run_bank
from zmqcast.apps.bench import BenchApp, report, run_bench
from zmqcast.apps.chat import ChatApp, run_rate, run_script, run_typed
from zmqcast.apps.console import Console
from zmqcast.cli.errors import check_probability, fail
from zmqcast.cli.launcher import Launched, route_stdin
from zmqcast.cli.options import (
    CHAT_RATE_HELP,
    DUP_HELP,
    LOSS_HELP,
    REORDER_HELP,
    ConfigOption,
    OptionalSeed,
    SecureOption,
    check_rate,
    check_seed,
)
from zmqcast.config import ClusterConfig, ConfigError, load_config
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.driver import IncarnationError
from zmqcast.runtime.benchload import BenchLoad
from zmqcast.runtime.node import SHUTDOWN_FLUSH
from zmqcast.runtime.spawn import BankFlags, Faults, NodeFlags, spawn_node, supervised
from zmqcast.runtime.workload import BankPlan
from zmqcast.security.run import write_secure_config
from zmqcast.security.setup import with_secret_key

COLOURS = ("cyan", "green", "yellow", "magenta", "blue", "red", "bright_cyan", "bright_green")
LAUNCH_BANK_SECONDS = 86_400
"""How long ``launch --bank`` keeps transferring: until stopped, in practice."""


def _load(path: Path) -> ClusterConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(f"config {path}: {exc.field}", exc.message)


LossOpt = Annotated[float | None, typer.Option(help=LOSS_HELP)]
DupOpt = Annotated[float | None, typer.Option(help=DUP_HELP)]
DelayOpt = Annotated[
    float | None, typer.Option(help="Delay each outgoing frame (reorders) with this probability.")
]
ReorderOpt = Annotated[float | None, typer.Option(help=REORDER_HELP)]
ChatRateOpt = Annotated[float, typer.Option(help=CHAT_RATE_HELP)]


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
    if seed is not None:
        check_seed(seed)
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
    seed: OptionalSeed = None,
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
    chat_rate: ChatRateOpt = 0.0,
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
    bench_rate: Annotated[
        float,
        typer.Option(
            help="Benchmark: send at this many messages a second (0: as fast as possible)."
        ),
    ] = 0.0,
    secret_key: Annotated[
        Path | None,
        typer.Option(
            help="With a config `security` block: this node's secret key file "
            "(overrides security.secret_key; may hold {id})."
        ),
    ] = None,
) -> None:
    """Run one node. Each line typed on stdin is multicast; deliveries are printed.

    ``/snapshot [VARIANT]`` on stdin starts a snapshot instead. At the end of
    the input the node multicasts what is left, waits until it is released
    (giving up once nothing has moved for a few seconds) and exits 0; a node
    with a workload (``--auto``, ``--bank``, ``--chat-rate``) runs on.
    """
    cfg = _with_faults(_load(config), loss, dup, delay, reorder, seed)
    if secret_key is not None:
        cfg = with_secret_key(cfg, secret_key)
    if node_id not in cfg.ids:
        fail("--id", f"no node {node_id!r} in {config} (nodes: {', '.join(cfg.ids)})")
    plan = bank_plan(cfg, rate, duration, snapshot_every, variant) if bank else None
    check_rate("--chat-rate", chat_rate, zero=True)
    for flag, count in (
        ("--bench-send", bench_send),
        ("--bench-expect", bench_expect),
        ("--bench-checkpoint", bench_checkpoint),
    ):
        if count < 0:
            fail(flag, f"must not be negative, got {count}")
    check_rate("--bench-rate", bench_rate, zero=True)
    if not 8 <= bench_size <= cfg.max_frame_bytes // 2:
        fail("--bench-size", f"must be in [8, {cfg.max_frame_bytes // 2}] bytes, got {bench_size}")
    bench = None
    if bench_send or bench_expect:
        bench = BenchLoad(
            send=bench_send,
            size=bench_size,
            expect=bench_expect,
            checkpoint=bench_checkpoint,
            rate=bench_rate,
        )
    raise typer.Exit(
        run_node(
            cfg,
            node_id,
            run_dir or _default_run_dir(),
            auto=auto,
            console=Console(node_id, sys.stdout, verbose=verbose, json=json),
            plan=plan,
            chat_rate=chat_rate,
            bench=bench,
        )
    )


def run_node(
    cfg: ClusterConfig,
    node_id: str,
    run_dir: Path,
    *,
    auto: bool,
    console: Console,
    plan: BankPlan | None,
    chat_rate: float,
    bench: BenchLoad | None,
) -> int:
    """A :class:`zmqcast.Node` and the application the flags ask for; the exit status.

    Ctrl-C and SIGTERM flush what is unreleased (bounded), then stop.
    """
    seed = str(cfg.faults.seed)
    app: BankApp | BenchApp | ChatApp
    if plan is not None:
        app = BankApp(list(cfg.links[node_id]), seed, console)
    elif bench is not None:
        app = BenchApp(bench)
    else:
        app = ChatApp(console)
    sender_log = bench is not None or (plan is not None and Variant.SENDER_LOG in plan.variants)
    try:
        node = Node(
            cfg,
            node_id,
            run_dir=run_dir,
            app=app,
            on_event=console.on_events,
            sender_log=sender_log,
            warnings=sys.stderr,
        )
    except IncarnationError as exc:
        fail("--run-dir", str(exc))
    except ConfigError as exc:  # a secret key that cannot be used
        fail(exc.field, exc.message)
    except OSError as exc:
        if "cannot bind" in str(exc):
            endpoint = cfg.node(node_id).bind_endpoint
            why = str(exc.strerror or exc).rsplit(": ", 1)[-1]
            fail(f"--id {node_id}", f"cannot use {endpoint}: {why}")
        fail("--run-dir", f"cannot write the event log: {exc.strerror or exc}")
    stop = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()
        node.request_close("signal")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    # A node that stops by itself (its disk filled) ends the application too.
    def stop_with_node() -> None:
        node.wait_closed()
        stop.set()

    threading.Thread(target=stop_with_node, daemon=True).start()
    status = _run_app(node, app, console, plan, auto, chat_rate, stop, seed)
    reason = "signal" if stop.is_set() else ("done" if status == 0 else "timeout")
    node.close(SHUTDOWN_FLUSH, reason=reason)
    if isinstance(app, BenchApp):
        report(node, app, sys.stdout)
    return node.exit_status or status


def _run_app(
    node: Node,
    app: BankApp | BenchApp | ChatApp,
    console: Console,
    plan: BankPlan | None,
    auto: bool,
    chat_rate: float,
    stop: threading.Event,
    seed: str,
) -> int:
    if chat_rate > 0 and not isinstance(app, BenchApp):
        rng = random.Random(f"chat:{seed}:{node.id}:{node.inc}")
        chat = threading.Thread(
            target=run_rate, args=(node, console, chat_rate, stop, rng), daemon=True
        )
        chat.start()
    if isinstance(app, BankApp):
        assert plan is not None
        return run_bank(node, app, plan, console, stop, seed)
    if isinstance(app, BenchApp):
        return run_bench(node, app, sys.stdout, stop)
    if auto:
        return run_script(node, app, console, stop)
    return run_typed(node, console, sys.stdin, stop, sys.stderr, finish=chat_rate <= 0)


def snapshot_variants(
    cfg: ClusterConfig, variant: str, *, allow_all: bool = True
) -> tuple[Variant, ...]:
    """The variants ``--variant`` names for this config's channel mode (exit 2 if wrong).

    ``allow_all``: the command takes ``all`` (every variant the mode supports,
    in turn); the error then offers it, and only then.
    """
    mode = cfg.core.mode
    if not variant:
        return (DEFAULT_VARIANT[mode],)
    if variant == "all" and allow_all:
        return tuple(v for v in Variant if v.supports(mode))
    names = [v.value for v in Variant]
    if allow_all:
        names.append("all")
    try:
        chosen = Variant(variant)
    except ValueError:
        fail("--variant", f"must be one of {_either(names)}, got {variant!r}")
    if not chosen.supports(mode):
        usable = [v.value for v in Variant if v.supports(mode)]
        fail(
            "--variant",
            f"{chosen.value} does not work over {mode.value} channels "
            f"(these do: {_either(usable)})",
        )
    return (chosen,)


def _either(names: list[str]) -> str:
    """``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def bank_plan(
    cfg: ClusterConfig, rate: float, duration: float, snapshot_every: float, variant: str
) -> BankPlan:
    """Validate the bank flags into a plan (exit 2 naming the flag if one is wrong)."""
    check_rate("--rate", rate, zero=False)
    if not 0 < duration <= 86_400:
        fail("--duration", f"must be in (0, 86400] seconds, got {duration:g}")
    if not 0 <= snapshot_every <= 86_400:
        fail("--snapshot-every", f"must be in [0, 86400] seconds, got {snapshot_every:g}")
    if 0 < snapshot_every < 0.01:
        fail("--snapshot-every", f"must be at least 0.01 seconds, got {snapshot_every:g}")
    grace = 2 * cfg.core.rto_max
    return BankPlan(rate, duration, snapshot_every, snapshot_variants(cfg, variant), grace=grace)


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


def launch(
    config_path: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="Cluster config (JSON); or give it as --config."),
    ] = None,
    config_option: Annotated[
        Path | None, typer.Option("--config", help="Cluster config (JSON), as on every command.")
    ] = None,
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
    seed: OptionalSeed = None,
    bank: Annotated[
        bool,
        typer.Option("--bank", help="Every node moves money until stopped (for `snapshot`)."),
    ] = False,
    rate: Annotated[float, typer.Option(help="With --bank: transfers per second per node.")] = 5.0,
    chat_rate: ChatRateOpt = 0.0,
    secure: SecureOption = False,
) -> None:
    """Start every node of the config as its own process and merge their output.

    Without ``--auto``, each line typed here is multicast by the first node
    still running, or by node P2 if the line starts with ``P2:``. At the end
    of input every node finishes (multicasts and releases what it was given)
    and exits. A node that fails to start, or any failed node of an
    ``--auto`` run, stops the launch.
    """
    if config_path is not None and config_option is not None:
        fail("--config", "give the config once: as an argument or as --config")
    config = config_path if config_path is not None else config_option
    if config is None:
        fail("--config", "missing: name the cluster config (zmqcast launch --config C)")
    cfg = _with_faults(_load(config), loss, dup, delay, reorder, seed)
    if bank:
        bank_plan(cfg, rate, LAUNCH_BANK_SECONDS, 0, "")
    check_rate("--chat-rate", chat_rate, zero=True)
    directory = run_dir or _default_run_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail("--run-dir", f"cannot create {directory}: {exc.strerror or exc}")
    if secure:
        # Every node reads RUN_DIR/config.json: ours, with keys made for this run.
        config, _keys = write_secure_config(config, directory)
    typer.echo(f"run directory: {directory}" + (" (secure)" if secure else ""), err=json)
    flags = NodeFlags(
        auto=auto,
        verbose=verbose,
        json=json,
        faults=Faults(loss=loss, dup=dup, delay=delay, reorder=reorder, seed=seed),
        bank=BankFlags(rate=rate, duration=LAUNCH_BANK_SECONDS, snapshot_every=0) if bank else None,
        chat_rate=chat_rate or None,
    )
    stdin = subprocess.DEVNULL if auto else subprocess.PIPE
    procs: dict[str, subprocess.Popen[bytes]] = {}
    colours: dict[str, str | None] = {}
    with supervised(procs) as stopping:
        for i, node_id in enumerate(cfg.ids):
            procs[node_id] = spawn_node(config, node_id, directory, flags, stdin=stdin)
            colours[node_id] = None if json else COLOURS[i % len(COLOURS)]
        launched = Launched(procs, colours, auto=auto, json=json)
        stopping.append(launched.request_stop)
        if not auto and sys.stdin is not None:
            # Nodes with a workload of their own run on after their input
            # ends, so there is nothing to stage.
            staged = not bank and not chat_rate
            threading.Thread(
                target=route_stdin,
                args=(launched, _stdin_lines()),
                kwargs={"staged": staged},
                daemon=True,
            ).start()
        try:
            codes = launched.wait()
        finally:
            launched.join(timeout=2)
    failed = [node_id for node_id, code in codes.items() if code != 0]
    if failed:
        typer.echo(f"nodes exited with errors: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
