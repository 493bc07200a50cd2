"""``zmqcast bench SCENARIO``: zmqcast against raw pyzmq, measured in the same run."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from zmqcast.bench.core import run_core
from zmqcast.bench.nodes import run_cluster
from zmqcast.bench.pyre import (
    PyreDiscoveryError,
    PyreResult,
    PyreSkipped,
    isolation_unavailable,
    run_pyre,
)
from zmqcast.bench.raw import raw_rtt, raw_throughput
from zmqcast.bench.stats import median, percentile
from zmqcast.cli.diagram import check_output, write_output
from zmqcast.cli.errors import check_choice, fail
from zmqcast.cli.options import check_rate
from zmqcast.config import TRACE_LEVELS
from zmqcast.core.config import Relay
from zmqcast.runtime.spawn import free_ports
from zmqcast.viz.reports import bench_report

SCENARIOS = ("raw", "channel", "multicast", "all-to-all", "snapshot", "memory", "pyre", "core")
FIXED_METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "pyre": (
        ("pyre delivered/s", "1/s"),
        ("send-to-deliver p50", "s"),
        ("send-to-deliver p99", "s"),
        ("delivered fraction", "1"),
        ("multicast delivered/s", "1/s"),
        ("multicast p50", "s"),
        ("multicast p99", "s"),
    ),
    "core": (
        ("core multicasts/s", "1/s"),
        ("origin core per multicast", "s"),
        ("receiver core per multicast", "s"),
        ("codec per multicast", "s"),
    ),
}
"""Each scenario's figures, in report order, where they do not depend on flags."""
SECURE_SCENARIOS = ("channel", "multicast", "all-to-all")
RATE_SCENARIOS = ("channel", "multicast", "all-to-all")
"""Scenarios ``--secure`` runs a second time with CurveZMQ on."""
SNAPSHOT_RATE = 10.0
"""Snapshots per second in the ``snapshot`` scenario."""
VARIANTS = ("chandy-lamport", "lai-yang", "sender-log")
RTT_ROUNDS = 2000
RAW_MIN_FRAMES = 100_000
"""The raw baseline sends at least this many frames (about half a second): a
baseline of a few milliseconds was at the mercy of one scheduling hiccup."""


@dataclass
class Metric:
    """Samples of one figure over the repeats."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    missing: str = "no value"
    """What the report prints when no run produced a value (every sample NaN)."""

    def record(self) -> dict[str, Any]:
        """Median, min and max over the runs that produced a value (NaN: none).

        With no such run they are None (JSON ``null``), never a made-up 0.
        """
        valid = [x for x in self.samples if not math.isnan(x)]
        return {
            "name": self.name,
            "unit": self.unit,
            "median": median(valid) if valid else None,
            "min": min(valid) if valid else None,
            "max": max(valid) if valid else None,
            "runs": len(valid),
        }


def bench(
    scenario: Annotated[str, typer.Argument(help=f"One of: {', '.join(SCENARIOS)}.")],
    nodes: Annotated[
        int,
        typer.Option(help="Cluster size (multicast, all-to-all, snapshot, memory, pyre, core)."),
    ] = 3,
    messages: Annotated[int, typer.Option(help="Messages per sender per run.")] = 20_000,
    size: Annotated[int, typer.Option(help="Payload bytes.")] = 64,
    repeat: Annotated[int, typer.Option(help="Runs; medians are reported.")] = 3,
    json: Annotated[bool, typer.Option("--json", help="One JSON record on stdout.")] = False,
    trace: Annotated[
        str,
        typer.Option(help="The nodes' config trace level: lean (no per-message events) or full."),
    ] = "lean",
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Also write an HTML report: each figure in every repeat."),
    ] = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Also run the scenario with CurveZMQ on every link (throwaway keys) "
            "and report its cost as a ratio to plain mode.",
        ),
    ] = False,
    relay: Annotated[
        str, typer.Option(help="The nodes' config relay mode: tree (N-1 copies) or flood.")
    ] = Relay.TREE.value,
    rate: Annotated[
        float,
        typer.Option(
            help="multicast, all-to-all: each sender's messages per second, for latency at "
            "light load (0: as fast as the windows allow)."
        ),
    ] = 0.0,
) -> None:
    """Run SCENARIO and its raw pyzmq baseline REPEAT times; report medians and ratios."""
    check_choice("SCENARIO", scenario, SCENARIOS)
    check_choice("--trace", trace, TRACE_LEVELS)
    check_choice("--relay", relay, tuple(r.value for r in Relay))
    check_rate("--rate", rate, zero=True)
    if rate and scenario not in RATE_SCENARIOS:
        fail("--rate", f"applies to {', '.join(RATE_SCENARIOS)}, not {scenario}")
    check_output("--report", report_file)
    if not 2 <= nodes <= 64:
        fail("--nodes", f"must be in [2, 64], got {nodes}")
    if not 10 <= messages <= 10_000_000:
        fail("--messages", f"must be in [10, 10000000], got {messages}")
    if not 8 <= size <= 1 << 19:
        fail("--size", f"must be in [8, 524288] bytes, got {size}")
    if not 1 <= repeat <= 100:
        fail("--repeat", f"must be in [1, 100], got {repeat}")
    if secure and scenario not in SECURE_SCENARIOS:
        fail("--secure", f"applies to {', '.join(SECURE_SCENARIOS)}, not {scenario}")
    if scenario == "channel":
        nodes = 2
    if scenario == "pyre":
        _require_pyre()
        why = isolation_unavailable()
        if why is not None:
            _skip(scenario, why, json)
            return
    raw = Metric("raw frames/s", "1/s")
    rtt50 = Metric("raw rtt p50", "s")
    rtt99 = Metric("raw rtt p99", "s")
    ours: list[Metric] = []
    if scenario == "memory":
        ours = [
            Metric("multicast delivered/s", "1/s"),
            Metric(f"peak RSS after {messages // 10}", "kB"),
            Metric(f"RSS growth to {messages}", "kB"),
        ]
    elif scenario == "snapshot":
        ours = [Metric("multicast delivered/s", "1/s")]
        for v in VARIANTS:
            ours += [
                Metric(f"{v} p50", "s", missing="no snapshot completed"),
                Metric(f"{v} p99", "s", missing="no snapshot completed"),
                Metric(f"{v} throughput drop", "%"),
            ]
    elif scenario in FIXED_METRICS:
        ours = [Metric(name, unit) for name, unit in FIXED_METRICS[scenario]]
    elif scenario != "raw":
        ours = [
            Metric(f"{scenario} delivered/s", "1/s"),
            Metric("send-to-deliver p50", "s"),
            Metric("send-to-deliver p99", "s"),
            Metric("frames per delivery", "1"),
            Metric("copies per multicast", "1"),
        ]
    senders = nodes if scenario == "all-to-all" else 1
    pyre_runs: list[PyreResult] = []
    secured: list[Metric] = []
    if secure:
        secured = [
            Metric("secure delivered/s", "1/s"),
            Metric("secure latency p50", "s"),
            Metric("secure latency p99", "s"),
        ]

    def one_run() -> None:
        # Every cluster of every scenario runs the same trace level and relay mode.
        cluster = partial(run_cluster, trace=trace, relay=relay)
        ports = free_ports(2)
        frames = max(messages, RAW_MIN_FRAMES)
        raw.samples.append(raw_throughput(f"tcp://127.0.0.1:{ports[0]}", frames, size))
        p50, p99 = raw_rtt(f"tcp://127.0.0.1:{ports[1]}", min(RTT_ROUNDS, messages), size)
        rtt50.samples.append(p50)
        rtt99.samples.append(p99)
        if scenario == "memory":
            result = cluster(nodes, messages, size, checkpoint=messages // 10)
            ours[0].samples.append(result.throughput)
            ours[1].samples.append(result.rss_checkpoint_kb)
            ours[2].samples.append(result.rss_growth_kb)
        elif scenario == "snapshot":
            before = cluster(nodes, messages, size).throughput
            loaded = [
                cluster(
                    nodes,
                    messages,
                    size,
                    snapshot_rate=SNAPSHOT_RATE,
                    variant=v,
                )
                for v in VARIANTS
            ]
            # Unloaded runs on both sides of the loaded ones: the machine's own
            # drift over the repeat then weighs on both sides of the ratio.
            base = (before + cluster(nodes, messages, size).throughput) / 2
            ours[0].samples.append(base)
            for i, run in enumerate(loaded):
                d = run.snapshot_durations
                ours[1 + 3 * i].samples.append(percentile(d, 0.5) if d else float("nan"))
                ours[2 + 3 * i].samples.append(percentile(d, 0.99) if d else float("nan"))
                ours[3 + 3 * i].samples.append(100 * (1 - run.throughput / base))
        elif scenario == "pyre":
            try:
                theirs = run_pyre(nodes, messages, size)
            except PyreDiscoveryError as e:
                fail("pyre", str(e))
            pyre_runs.append(theirs)
            result = cluster(nodes, messages, size)
            pyre_figures = (theirs.throughput, theirs.latency_p50, theirs.latency_p99)
            ours_figures = (result.throughput, result.latency_p50, result.latency_p99)
            _append(ours, (*pyre_figures, theirs.delivered_fraction, *ours_figures))
        elif scenario == "core":
            alone = run_core(nodes, messages, size, relay=relay, trace=trace)
            _append(ours, (alone.throughput, alone.origin, alone.receiver, alone.codec))
        elif ours:
            result = cluster(nodes, messages, size, senders, rate=rate)
            figures = (result.throughput, result.latency_p50, result.latency_p99)
            _append(ours, (*figures, result.frames_per_delivery, result.copies_per_multicast))
            if secure:
                safe = cluster(nodes, messages, size, senders, secure=True)
                _append(secured, (safe.throughput, safe.latency_p50, safe.latency_p99))

    try:
        _with_progress(scenario, repeat, one_run, quiet=json)
    except PyreSkipped as exc:  # namespaces failed after the check above
        _skip(scenario, str(exc), json)
        return
    except RuntimeError as exc:
        # A node that exited early or never finished: say which, with its last
        # output, and fail the command rather than print a traceback.
        first, _, rest = str(exc).partition("\n")
        typer.echo(f"error: bench {scenario}: {first}", err=True)
        for note in [rest, *getattr(exc, "__notes__", [])]:
            if note.strip():
                typer.echo(note.rstrip(), err=True)
        raise typer.Exit(1) from None
    metrics = [raw, rtt50, rtt99, *ours, *secured]
    # Each repeat's ratio is taken within the repeat, then the median of those:
    # the machine drifts between repeats, and the pairing cancels the drift.
    ratios = _ratios(ours[0].samples, raw.samples) if ours else [1.0] * repeat
    ratio = _median(ratios)
    record = {
        "scenario": scenario,
        "nodes": nodes if scenario != "raw" else 2,
        "messages": messages,
        "size": size,
        "repeat": repeat,
        "trace": trace,
        "relay": relay,
        "rate": rate,
        "metrics": [m.record() for m in metrics],
        "ratio_to_raw": ratio,
        "ratio_to_raw_runs": ratios,
    }
    latency_ratios: list[float] = []
    if scenario in RATE_SCENARIOS:
        # Send-to-deliver p50 over the raw round trip p50 of the same repeat.
        latency_ratios = _ratios(ours[1].samples, rtt50.samples)
        record["ratio_p50_to_rtt"] = _median(latency_ratios)
        record["ratio_p50_to_rtt_runs"] = latency_ratios
    if secure:
        secure_ratios = _ratios(secured[0].samples, ours[0].samples)
        record["ratio_secure_to_plain"] = _median(secure_ratios)
        record["ratio_secure_to_plain_runs"] = secure_ratios
    if scenario == "pyre":
        pyre_ratios = _ratios(ours[4].samples, ours[0].samples)
        record["ratio_to_pyre"] = _median(pyre_ratios)
        record["ratio_to_pyre_runs"] = pyre_ratios
        record["pyre_network"] = pyre_runs[-1].network
        record["pyre_endpoints"] = [list(run.endpoints) for run in pyre_runs]
    if report_file is not None:
        figures = [(m.name, m.unit, m.samples) for m in metrics]
        write_output("--report", report_file, bench_report(record, figures))
    if json:
        typer.echo(orjson.dumps(record).decode())
        return
    typer.echo(
        f"{scenario}: {record['nodes']} nodes, {messages} messages of {size} bytes, "
        f"median of {repeat} runs (min - max)"
    )
    for m in metrics:
        typer.echo(f"  {m.name:<26} {_fmt(m)}")
    if ours:
        typer.echo(f"  {'ratio to raw frames/s':<26} {_fmt(Metric('', '1', ratios))}")
    if latency_ratios:
        typer.echo(f"  {'p50 / raw rtt p50':<26} {_fmt(Metric('', '1', latency_ratios))}")
    if secure:
        typer.echo(f"  {'ratio secure / plain':<26} {_fmt(Metric('', '1', secure_ratios))}")
    if scenario == "pyre":
        typer.echo(f"  {'ratio multicast / pyre':<26} {_fmt(Metric('', '1', pyre_ratios))}")
        typer.echo(f"  {'pyre network':<26} {pyre_runs[-1].network}")
        if min(ours[3].samples) < 1:
            typer.echo("  (Pyre lost messages: it drops a peer whose send queue is full)")


def _append(metrics: list[Metric], values: tuple[float, ...]) -> None:
    """One run's value of each metric, in order."""
    for metric, value in zip(metrics, values, strict=True):
        metric.samples.append(value)


def _skip(scenario: str, why: str, json: bool) -> None:
    """Say in one line that the scenario did not run, and why; the exit status stays 0.

    Only the Pyre comparison skips: it runs inside network namespaces or not
    at all, never on the host's own interfaces.
    """
    if json:
        typer.echo(orjson.dumps({"scenario": scenario, "skipped": why}).decode())
    else:
        typer.echo(f"bench {scenario}: skipped: {why}")


def _require_pyre() -> None:
    """Exit with a one-line error unless the optional Pyre package imports."""
    try:
        importlib.import_module("pyre")
    except ImportError:
        fail("pyre", "needs the optional extra: pip install 'zmqcast[pyre]'")


def _ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Run by run, ``ours / theirs``; NaN (JSON null) where there is nothing to divide by."""
    return [o / t if t > 0 else math.nan for o, t in zip(ours, theirs, strict=True)]


def _median(values: list[float]) -> float:
    """The median of the values that are numbers; NaN if none is."""
    valid = [v for v in values if not math.isnan(v)]
    return median(valid) if valid else math.nan


def _fmt(m: Metric) -> str:
    """A figure's median and range over the runs, as the report prints it.

    With no run that produced a value, it says so (``m.missing``); with some
    runs missing, it says how many of them count.
    """
    r = m.record()
    if r["runs"] == 0:
        return f"{'none':>10}     ({m.missing} in any of {len(m.samples)} runs)"
    text = _fmt_values(m.unit, r)
    if r["runs"] < len(m.samples):
        text += f"  ({r['runs']} of {len(m.samples)} runs; {m.missing} in the others)"
    return text


def _fmt_values(unit: str, r: dict[str, Any]) -> str:
    if unit == "s":
        digits = 1 if r["max"] < 1e-4 else 0  # tenths of a µs for per-message costs
        low, mid, high = (r[k] * 1e6 for k in ("min", "median", "max"))
        return f"{mid:10.{digits}f} us  ({low:.{digits}f} - {high:.{digits}f})"
    if unit == "kB":
        return f"{r['median'] / 1024:10.1f} MB  ({r['min'] / 1024:.1f} - {r['max'] / 1024:.1f})"
    if unit == "%":
        return f"{r['median']:10.1f} %   ({r['min']:.1f} - {r['max']:.1f})"
    if unit == "1":
        return f"{r['median']:10.3f}     ({r['min']:.3f} - {r['max']:.3f})"
    return f"{r['median']:10.0f} /s  ({r['min']:.0f} - {r['max']:.0f})"


def _with_progress(scenario: str, repeat: int, run: Callable[[], None], quiet: bool) -> None:
    with Progress(
        TextColumn(f"[bold]bench {scenario}"),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task("runs", total=repeat)
        for _ in range(repeat):
            run()
            progress.advance(task)
