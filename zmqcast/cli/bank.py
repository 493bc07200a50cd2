"""``zmqcast bank``: a real cluster moving money, snapshotted and checked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from zmqcast.cli.check import check_run
from zmqcast.cli.errors import check_probability, fail
from zmqcast.cli.node import _load, _with_faults, bank_plan
from zmqcast.cli.options import (
    ConfigOption,
    DupRate,
    LossRate,
    ReorderRate,
    SecureOption,
    SeedOption,
    check_seed,
)
from zmqcast.config import ClusterConfig
from zmqcast.runtime.spawn import (
    BankFlags,
    Faults,
    NodeFlags,
    Proc,
    spawn_node,
    supervised,
    terminate,
)
from zmqcast.security.run import write_secure_config

SETTLE_LIMIT = 90.0
"""Seconds past ``--duration`` after which nodes still running are stopped."""


def bank(
    config: ConfigOption,
    variant: Annotated[
        str,
        typer.Option(help="chandy-lamport, lai-yang, sender-log or all (default: per channel)."),
    ] = "",
    duration: Annotated[float, typer.Option(help="Seconds of transfers.")] = 10.0,
    snapshot_every: Annotated[
        float, typer.Option(help="Seconds between snapshots, initiated by rotating nodes.")
    ] = 1.0,
    rate: Annotated[float, typer.Option(help="Transfers per second from each node.")] = 50.0,
    loss: LossRate = 0.0,
    dup: DupRate = 0.0,
    reorder: ReorderRate = 0.0,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run's files go.")] = None,
    seed: SeedOption = 0,
    secure: SecureOption = False,
) -> None:
    """Launch the cluster, move money, take snapshots, stop, and check every snapshot.

    Exits 0 only if every snapshot completed and passed conservation, the
    consistent cut, the exact channel states and the recorded balances.
    """
    check_probability("--loss", loss)
    check_probability("--dup", dup)
    check_probability("--reorder", reorder)
    check_seed(seed)
    cfg = _with_faults(_load(config), loss, dup, None, reorder, seed)
    plan = bank_plan(cfg, rate, duration, snapshot_every, variant)
    directory = run_dir or Path("runs") / time.strftime("bank-%Y%m%d-%H%M%S")
    try:
        (directory / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail("--run-dir", f"cannot create {directory}: {exc.strerror or exc}")
    if secure:
        # The nodes read RUN_DIR/config.json: the user's, with keys made for this run.
        config, _keys = write_secure_config(config, directory)
    names = ", ".join(v.value for v in plan.variants)
    typer.echo(
        f"bank: {len(cfg.ids)} nodes, {cfg.core.mode.value} channels, {names}, "
        f"{duration:g} s, run directory {directory}" + (", secure" if secure else "")
    )
    flags = NodeFlags(
        faults=Faults(loss=loss, dup=dup, reorder=reorder, seed=seed),
        bank=BankFlags(
            rate=rate, duration=duration, snapshot_every=snapshot_every, variant=variant
        ),
    )
    codes = _run_cluster(cfg, config, directory, flags, duration)
    failed = [node for node, code in codes.items() if code != 0]
    if failed:
        typer.echo(
            f"nodes exited with errors: {', '.join(failed)} (see {directory}/logs)", err=True
        )
    ok = check_run(directory, require_snapshots=True)
    if failed or not ok:
        raise typer.Exit(1)


def _run_cluster(
    cfg: ClusterConfig, config: Path, directory: Path, flags: NodeFlags, duration: float
) -> dict[str, int]:
    """Start one bank node per config entry, show progress, and wait for all of them."""
    procs: dict[str, Proc] = {}
    logs: list[IO[bytes]] = []
    for node_id in cfg.ids:
        log = (directory / "logs" / f"{node_id}.log").open("wb")
        logs.append(log)
        procs[node_id] = spawn_node(config, node_id, directory, flags, stdout=log)

    started = time.monotonic()
    try:
        with (
            supervised(procs),
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[snaps]} snapshots complete"),
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("transfers", total=duration, snaps=0)
            while any(p.poll() is None for p in procs.values()):
                elapsed = time.monotonic() - started
                done = len(list((directory / "snapshots").glob("*/global.json")))
                label = "transfers" if elapsed < duration else "settling"
                progress.update(
                    task, completed=min(elapsed, duration), description=label, snaps=done
                )
                if elapsed > duration + SETTLE_LIMIT:
                    terminate(procs.values())
                time.sleep(0.1)  # the progress bar refreshes ten times a second
            return {node: proc.wait() for node, proc in procs.items()}
    finally:
        for stream in logs:
            stream.close()
