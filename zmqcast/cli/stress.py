"""``zmqcast stress``: a real cluster under a seeded nemesis, then every checker."""

from __future__ import annotations

import dataclasses
import math
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from zmqcast.check.logs import LogError
from zmqcast.check.report import InvariantResult
from zmqcast.cli.diagram import check_output, write_output
from zmqcast.cli.errors import check_choice, check_probability, fail
from zmqcast.cli.node import _load, snapshot_variants
from zmqcast.cli.options import (
    CHAT_RATE_HELP,
    ConfigOption,
    DupRate,
    LossRate,
    ReorderRate,
    SecureOption,
    SeedOption,
    check_rate,
    check_seed,
)
from zmqcast.config import ClusterConfig, ConfigError
from zmqcast.core.config import ChannelMode
from zmqcast.stress.harness import Progress as Counters
from zmqcast.stress.harness import StressOptions, StressReport, StressRun
from zmqcast.viz.reports import stress_report


def stress(
    config: ConfigOption,
    duration: Annotated[float, typer.Option(help="Seconds of workload under the nemesis.")] = 20.0,
    loss: LossRate = 0.0,
    dup: DupRate = 0.0,
    reorder: ReorderRate = 0.0,
    kill_every: Annotated[
        float, typer.Option(help="Seconds between kill -9 of a random node; 0 for none.")
    ] = 0.0,
    partition_every: Annotated[
        float, typer.Option(help="Seconds between partitions of the cluster; 0 for none.")
    ] = 0.0,
    snapshot_every: Annotated[
        float, typer.Option(help="Seconds between snapshots; 0 for none.")
    ] = 1.0,
    variant: Annotated[
        str, typer.Option(help="Snapshot variant, or all in turn (the default).")
    ] = "all",
    rate: Annotated[float, typer.Option(help="Bank transfers per second per node.")] = 100.0,
    chat_rate: Annotated[float, typer.Option(help=CHAT_RATE_HELP)] = 100.0,
    seed: SeedOption = 0,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run's files go.")] = None,
    netns: Annotated[
        str,
        typer.Option(help="on: a network namespace per node (needs root); off; auto: if possible."),
    ] = "auto",
    no_repair: Annotated[
        bool,
        typer.Option(
            "--no-repair",
            help="Debug: lossy channels, checked as if reliable (must fail).",
        ),
    ] = False,
    secure: SecureOption = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML report: delivery rate over time, kills, partitions.",
        ),
    ] = None,
) -> None:
    """Run a cluster under loss, kills and partitions; check every invariant; report.

    Exits 0 only if no invariant was violated and every invariant the run was
    meant to exercise checked something (see :attr:`StressReport.required`):
    a run whose validity, say, checked 0 pairs proved nothing, and fails.
    """
    cfg = _load(config)
    check_probability("--loss", loss)
    check_probability("--dup", dup)
    check_probability("--reorder", reorder)
    if not 0 < duration <= 86_400:
        fail("--duration", f"must be in (0, 86400] seconds, got {duration:g}")
    for flag, value in (
        ("--kill-every", kill_every),
        ("--partition-every", partition_every),
        ("--snapshot-every", snapshot_every),
    ):
        if not 0 <= value <= 86_400 or 0 < value < 0.1:
            fail(flag, f"must be 0 or in [0.1, 86400] seconds, got {value:g}")
    check_rate("--rate", rate, zero=False)
    check_rate("--chat-rate", chat_rate, zero=True)
    check_seed(seed)
    check_choice("--netns", netns, ("auto", "on", "off"))
    check_output("--report", report_file)
    if no_repair:
        cfg = _as_lossy(cfg)
    variants = tuple(v.value for v in snapshot_variants(cfg, variant))
    directory = run_dir or Path("runs") / time.strftime("stress-%Y%m%d-%H%M%S")
    options = StressOptions(
        config=config,
        run_dir=directory,
        duration=duration,
        loss=loss,
        dup=dup,
        reorder=reorder,
        kill_every=kill_every,
        partition_every=partition_every,
        snapshot_every=snapshot_every,
        variants=variants,
        seed=seed,
        rate=rate,
        chat_rate=chat_rate,
        no_repair=no_repair,
        netns=netns,
        secure=secure,
    )
    typer.echo(
        f"stress: {len(cfg.ids)} nodes, {cfg.core.mode.value} channels, "
        f"{', '.join(variants)} snapshots, {duration:g} s, seed {seed}, run directory {directory}"
        + (", secure (CurveZMQ, keys in RUN_DIR/keys)" if secure else "")
    )
    try:
        report = _run_with_progress(options)
    except OSError as exc:
        fail("--run-dir", f"cannot write to {directory}: {exc.strerror or exc}")
    except ConfigError as exc:
        fail(f"config {config}: {exc.field}", exc.message)
    except LogError as exc:
        fail(exc.where, exc.message)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in report_lines(report):
        typer.echo(line)
    if report_file is not None:
        write_output("--report", report_file, stress_report(directory, report_lines(report)))
    if not report.ok:
        typer.echo(f"replay the schedule with: {replay_command(options)}")
        raise typer.Exit(1)


def _as_lossy(cfg: ClusterConfig) -> ClusterConfig:
    """The config as ``--no-repair`` runs it (the snapshot variant depends on it)."""
    return dataclasses.replace(cfg, core=dataclasses.replace(cfg.core, mode=ChannelMode.LOSSY))


def _run_with_progress(options: StressOptions) -> StressReport:
    with Progress(
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn(
            "{task.fields[mc]} multicast, {task.fields[dl]} delivered, "
            "{task.fields[kills]} kills, {task.fields[parts]} partitions, "
            "{task.fields[snaps]} snapshots"
        ),
        transient=True,
    ) as bar:
        task = bar.add_task(
            "starting", total=options.duration, mc=0, dl=0, kills=0, parts=0, snaps=0
        )

        def show(c: Counters) -> None:
            bar.update(
                task,
                description=c.phase,
                completed=min(c.elapsed, options.duration),
                mc=c.multicasts,
                dl=c.delivered,
                kills=c.kills,
                parts=c.partitions,
                snaps=c.snapshots,
            )

        return StressRun(options, show).run()


def report_lines(report: StressReport) -> list[str]:
    """The human report: traffic, faults, snapshots, invariants."""
    o = report.options
    faults = ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items()) if v) or "none"
    complete = [v for v in report.verdicts if v.complete and not v.aborted]
    aborted = [v for v in report.verdicts if v.aborted]
    durations = sorted(v.duration for v in complete if v.duration is not None)
    reasons: dict[str, int] = {}
    for v in aborted:
        reason = v.abort_reason or "unknown"
        reasons[reason] = reasons.get(reason, 0) + 1
    why = ", ".join(f"{k} {n}" for k, n in sorted(reasons.items()))
    lines = [
        f"{o.run_dir}: {report.nodes} nodes, {report.mode} channels, "
        f"{report.elapsed:.1f} s in all ({o.duration:g} s under the nemesis)",
        f"  network     {report.network}",
        f"  traffic     {report.multicasts} multicast, {report.delivered} delivered, "
        f"{report.transfers} transfers, {report.frames_sent} frames sent, "
        f"{report.retransmits} items retransmitted",
        f"  faults      {faults}",
        f"  snapshots   {len(report.verdicts)} taken, {len(complete)} complete"
        + (f", {len(aborted)} aborted ({why})" if aborted else "")
        + (
            f"; duration p50 {_rank(durations, 0.5) * 1000:.1f} ms, "
            f"p99 {_rank(durations, 0.99) * 1000:.1f} ms"
            if durations
            else ""
        ),
        f"  nodes never restarted: {report.correct_nodes} of {report.nodes}"
        + (f"; never killed: {', '.join(report.spared)}" if report.spared else ""),
    ]
    lines.extend(f"  {r.name:<26} {r.verdict()}" for r in report.invariants)
    lines.append(verdict_line(report))
    return lines


def verdict_line(report: StressReport) -> str:
    """The report's last line: the run's verdict, with the reason in one line.

    ``all invariants held`` (naming any invariant the run did not set out to
    exercise and that checked nothing), ``INVARIANTS VIOLATED``, or
    ``NOT CHECKED: ...`` for required invariants that checked nothing.
    """
    violated = [r.name for r in report.invariants if not r.held]
    unchecked = report.unchecked
    if not violated and not unchecked:
        idle = [r.name for r in report.invariants if r.vacuous]
        return "all invariants held" + (f" (not exercised: {', '.join(idle)})" if idle else "")
    parts = ["INVARIANTS VIOLATED: " + ", ".join(violated)] if violated else []
    if unchecked:
        names = ", ".join(_over_nothing(r) for r in unchecked)
        parts.append(f"NOT CHECKED: {names}; the run was meant to exercise them")
    return "; ".join(parts)


def _over_nothing(r: InvariantResult) -> str:
    """``validity (0 pairs: why)``: a required invariant that checked nothing."""
    counted = f"0 {r.unit}" if r.unit else "nothing checked"
    return f"{r.name} ({counted}: {r.detail})" if r.detail else f"{r.name} ({counted})"


def _rank(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def replay_command(o: StressOptions) -> str:
    """The command line that replays this run's schedule."""
    args = ["zmqcast", "stress", "--config", str(o.config), "--duration", f"{o.duration:g}"]
    args += ["--loss", f"{o.loss:g}", "--dup", f"{o.dup:g}"]
    if o.reorder:
        args += ["--reorder", f"{o.reorder:g}"]
    args += ["--kill-every", f"{o.kill_every:g}", "--partition-every", f"{o.partition_every:g}"]
    args += ["--snapshot-every", f"{o.snapshot_every:g}"]
    args += ["--variant", o.variants[0] if len(o.variants) == 1 else "all"]
    args += ["--rate", f"{o.rate:g}", "--chat-rate", f"{o.chat_rate:g}", "--seed", str(o.seed)]
    if o.netns != "auto":
        args += ["--netns", o.netns]
    if o.no_repair:
        args.append("--no-repair")
    if o.secure:
        args.append("--secure")
    return shlex.join(args)
