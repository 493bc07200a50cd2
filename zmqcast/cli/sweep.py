"""``zmqcast sweep``: swarm-test the simulator over many randomly drawn runs.

The runs come from :mod:`zmqcast.sim.sweep`; this module parses the filters,
runs the simulations (inline or in worker processes), shows a progress bar on
stderr and prints the per-cell pass counts and every failure with the
``zmqcast sim`` command that replays it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zmqcast.cli.errors import fail
from zmqcast.cli.options import SeedOption, check_seed
from zmqcast.sim.runner import SimParams
from zmqcast.sim.sweep import (
    BURSTS,
    CHANNELS,
    DEFAULT_MAX_TIME,
    EXCEPTION,
    NODE_RANGE,
    RELAYS,
    WINDOWS,
    Matrix,
    MatrixError,
    RunOutcome,
    Tally,
    describe_exception,
    draw_runs,
    run_one,
    tally_by,
    tally_cells,
)
from zmqcast.topology import SHAPES

MAX_RUNS = 1_000_000
MAX_JOBS = 256
INTERRUPTED = 130
"""Exit status after Ctrl-C, as a shell reports a SIGINT."""


def _split(values: list[str] | None) -> list[str]:
    """Filter values given as repeated flags, comma-separated lists, or both."""
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


def _ints(flag: str, values: list[str]) -> tuple[int, ...]:
    """Integers and ``lo-hi`` ranges, e.g. ``2,4-6``; fail naming ``flag`` otherwise."""
    out: list[int] = []
    for value in values:
        lo, sep, hi = value.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            fail(flag, f"not a number or a lo-hi range: {value!r}")
        if last < first:
            fail(flag, f"empty range {value!r}")
        if last - first > 1 << 16:
            fail(flag, f"range too wide: {value!r}")
        out.extend(range(first, last + 1))
    return tuple(dict.fromkeys(out))


def build_matrix(
    nodes: list[str] | None,
    topology: list[str] | None,
    channel: list[str] | None,
    window: list[str] | None,
    workload: list[str] | None,
    max_time: float,
    relay: list[str] | None = None,
    burst: list[str] | None = None,
) -> Matrix:
    """The matrix the filters leave; exits 2 naming the flag on a bad value."""
    fields: dict[str, Any] = {"max_time": max_time}
    if nodes:
        fields["nodes"] = _ints("--nodes", _split(nodes))
    if topology:
        fields["topologies"] = tuple(dict.fromkeys(_split(topology)))
    if channel:
        fields["channels"] = tuple(dict.fromkeys(_split(channel)))
    if window:
        fields["windows"] = _ints("--window", _split(window))
    if workload:
        fields["workloads"] = tuple(dict.fromkeys(_split(workload)))
    if relay:
        fields["relays"] = tuple(dict.fromkeys(_split(relay)))
    if burst:
        fields["bursts"] = _ints("--burst", _split(burst))
    try:
        matrix = Matrix(**fields)
    except MatrixError as exc:
        fail(f"--{exc.dimension.replace('_', '-')}", exc.message)
    if "squares" in fields.get("topologies", ()) and "squares" not in dict(matrix.shapes()):
        fail("--nodes", "the squares topology needs exactly 8 nodes: add 8 to --nodes")
    return matrix


# ------------------------------------------------------------------ running
def outcomes_of(runs: list[SimParams], jobs: int) -> Iterator[RunOutcome]:
    """Every run's outcome as it finishes: inline for one job, else in workers."""
    return _inline(runs) if jobs == 1 else _pooled(runs, jobs)


def _inline(runs: list[SimParams]) -> Iterator[RunOutcome]:
    for index, params in enumerate(runs):
        yield run_one(index, params)


def _pooled(runs: list[SimParams], jobs: int) -> Iterator[RunOutcome]:
    """Outcomes from ``jobs`` worker processes, a few runs in flight per worker.

    A worker that dies (killed, out of memory) fails the runs it held instead
    of the whole sweep: they are reported with their replay commands.
    """
    pending: dict[Future[RunOutcome], int] = {}
    queue = iter(enumerate(runs))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        try:
            while True:
                while len(pending) < 2 * jobs:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    pending[pool.submit(run_one, *nxt)] = nxt[0]
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:
                        detail = f"worker failed: {describe_exception(exc)}"
                        yield RunOutcome(index, runs[index], EXCEPTION, detail)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


# ------------------------------------------------------------------ reporting
def _fraction(t: Tally) -> str:
    return f"{t.passed}/{t.runs}"


def format_report(
    outcomes: list[RunOutcome], seed: int, jobs: int, seconds: float, planned: int
) -> str:
    """The human report: cells, totals, then every failure with its replay command."""
    passed = sum(o.ok for o in outcomes)
    lines = [
        f"zmqcast sweep: {len(outcomes)} runs, seed {seed}, {jobs} job{'s' * (jobs != 1)}, "
        f"{seconds:.1f} s",
        "",
        f"  {'topology':<8}  {'channel':<9}  {'window':>6}  {'passed':>7}",
    ]
    for (topology, channel, window), t in tally_cells(outcomes).items():
        mark = "" if t.failed == 0 else f"  {t.failed} FAILED"
        lines.append(f"  {topology:<8}  {channel:<9}  {window:>6}  {_fraction(t):>7}{mark}")
    by_workload = tally_by(outcomes, lambda p: p.workload)
    by_relay = tally_by(outcomes, lambda p: p.relay.value)
    by_burst = tally_by(outcomes, lambda p: str(p.burst))
    lines += [
        "",
        "  by workload: " + ", ".join(f"{k} {_fraction(t)}" for k, t in by_workload.items()),
        "  by relay:    " + ", ".join(f"{k} {_fraction(t)}" for k, t in by_relay.items()),
        "  by burst:    " + ", ".join(f"{k} {_fraction(t)}" for k, t in by_burst.items()),
    ]
    if len(outcomes) < planned:
        lines.append(f"  interrupted: {planned - len(outcomes)} of {planned} runs not done")
    failed = [o for o in outcomes if not o.ok]
    kinds = Counter(o.failure for o in failed)
    why = " (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")" if failed else ""
    lines += ["", f"total: {passed}/{len(outcomes)} passed, {len(failed)} failed{why}"]
    for o in failed:
        lines += [
            "",
            f"FAILED run {o.index}: {o.failure}",
            f"  {o.detail}",
            f"  replay: {o.command}",
        ]
    return "\n".join(lines)


def report_json(
    outcomes: list[RunOutcome], seed: int, jobs: int, seconds: float, planned: int
) -> dict[str, Any]:
    """The report as one JSON-ready object (``--json``)."""
    return {
        "seed": seed,
        "jobs": jobs,
        "seconds": round(seconds, 3),
        "planned": planned,
        "runs": len(outcomes),
        "passed": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "cells": [
            {
                "topology": topology,
                "channel": channel,
                "window": window,
                "runs": t.runs,
                "passed": t.passed,
                "failed": t.failed,
            }
            for (topology, channel, window), t in tally_cells(outcomes).items()
        ],
        "by_workload": {
            k: {"runs": t.runs, "passed": t.passed, "failed": t.failed}
            for k, t in tally_by(outcomes, lambda p: p.workload).items()
        },
        "by_relay": {
            k: {"runs": t.runs, "passed": t.passed, "failed": t.failed}
            for k, t in tally_by(outcomes, lambda p: p.relay.value).items()
        },
        "by_burst": {
            k: {"runs": t.runs, "passed": t.passed, "failed": t.failed}
            for k, t in tally_by(outcomes, lambda p: str(p.burst)).items()
        },
        "failures": [
            {"run": o.index, "failure": o.failure, "detail": o.detail, "command": o.command}
            for o in outcomes
            if not o.ok
        ],
    }


# ------------------------------------------------------------------ command
def sweep(
    runs: Annotated[int, typer.Option(help="Number of runs to draw.")] = 200,
    jobs: Annotated[
        int | None,
        typer.Option(help="Worker processes (default: one per CPU; 1 runs inline)."),
    ] = None,
    seed: SeedOption = 0,
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<list>",
            help=f"Only these cluster sizes ({NODE_RANGE[0]}-{NODE_RANGE[1]}), e.g. 3,5-8.",
        ),
    ] = None,
    topology: Annotated[
        list[str] | None,
        typer.Option(metavar="<list>", help=f"Only these topologies: {', '.join(SHAPES)}."),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(metavar="<list>", help=f"Only these channel modes: {', '.join(CHANNELS)}."),
    ] = None,
    window: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<list>", help=f"Only these windows (default {', '.join(map(str, WINDOWS))})."
        ),
    ] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(metavar="<list>", help="Only these workloads: chat, bank, mixed."),
    ] = None,
    relay: Annotated[
        list[str] | None,
        typer.Option(metavar="<list>", help=f"Only these relay modes: {', '.join(RELAYS)}."),
    ] = None,
    burst: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<list>",
            help=f"Only these burst sizes (default {', '.join(map(str, BURSTS))}).",
        ),
    ] = None,
    max_time: Annotated[
        float,
        typer.Option(
            metavar="<list>", help="Virtual seconds a run may take to go quiet (liveness)."
        ),
    ] = DEFAULT_MAX_TIME,
    json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Swarm-test the simulator: draw runs from the whole matrix of settings.

    Each run draws its cluster size, topology, channel mode, window, workload,
    messages, faults, snapshots, relay mode and burst. Filters (repeatable or comma-separated)
    narrow one dimension each. Prints the pass count per cell and, for every
    failure, the invariant that failed and the ``zmqcast sim`` command that
    replays it. Exits 0 if every run passed, 1 on any failure, 2 on a bad flag.
    """
    if not 1 <= runs <= MAX_RUNS:
        fail("--runs", f"must be between 1 and {MAX_RUNS}, got {runs}")
    workers = jobs if jobs is not None else os.cpu_count() or 1
    if not 1 <= workers <= MAX_JOBS:
        fail("--jobs", f"must be between 1 and {MAX_JOBS}, got {workers}")
    check_seed(seed)
    matrix = build_matrix(nodes, topology, channel, window, workload, max_time, relay, burst)
    plan = draw_runs(matrix, seed, runs)
    workers = min(workers, runs)
    started = time.monotonic()
    outcomes: list[RunOutcome] = []
    interrupted = False
    with Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("runs", total=runs, failed=0)
        failed = 0
        try:
            for outcome in outcomes_of(plan, workers):
                outcomes.append(outcome)
                failed += not outcome.ok
                progress.update(task, advance=1, failed=failed)
        except KeyboardInterrupt:
            interrupted = True
    outcomes.sort(key=lambda o: o.index)
    seconds = time.monotonic() - started
    if json:
        out = report_json(outcomes, seed, workers, seconds, runs)
        typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(format_report(outcomes, seed, workers, seconds, runs))
    if interrupted:
        raise typer.Exit(INTERRUPTED)
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)
