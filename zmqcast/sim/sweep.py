"""Swarm testing: many simulated runs drawn at random from a matrix of settings.

Instead of one carefully chosen fault mix, every run of a sweep draws its own
cluster size, topology, channel mode, window, workload, message count, fault
mix, snapshot plan, relay mode (tree or flood) and burst size (how many
multicasts a turn sends at once), switching each feature on
or off at random (and, for reordering, on for every frame or for a drawn share
of them). Runs that
leave a feature out explore different interleavings than runs that pile every
feature on, and together they find bugs that neither finds alone.

Everything here is pure: run ``i`` of a sweep with seed ``S`` is drawn from its
own generator, seeded with ``sweep:S:i``, so the same seed always gives the same
runs, and the first 40 runs of a 200-run sweep are the runs of a 40-run sweep.
Each run is an ordinary :class:`SimParams`, so its ``zmqcast sim`` command
(:meth:`SimParams.command`) replays it exactly.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zmqcast.core.config import ChannelMode, Relay
from zmqcast.core.snapshot import Variant
from zmqcast.sim.runner import (
    BANK_WORKLOADS,
    MAX_BURST,
    MAX_WINDOW,
    WORKLOADS,
    SimParams,
    simulate,
)
from zmqcast.topology import SHAPES, build, node_names

CHANNELS: tuple[str, ...] = tuple(m.value for m in ChannelMode)
RELAYS: tuple[str, ...] = tuple(r.value for r in Relay)
NODE_RANGE = (2, 8)
"""Smallest and largest cluster a sweep draws (``squares`` is always 8)."""
WINDOWS: tuple[int, ...] = (8, 32, 256)
BURSTS: tuple[int, ...] = (1, 4, 64)
"""Most multicasts a chat turn sends as one batch (:attr:`SimParams.burst`):
one at a time, small runs, and runs as long as a full frame."""
MESSAGES = (20, 300)
"""Range of the messages per node drawn before scaling (see :func:`messages_for`)."""
MIN_MESSAGES = 3
MAX_LOSS = 0.3
MAX_DUP = 0.1
MAX_SNAPSHOTS = 5
REORDER_SHARE = (0.05, 0.95)
"""Range of the reorder probability of a run that reorders only some frames."""
WORK_BUDGET = 10_000
"""Bound on a run's work, in frame hops (see :func:`work_per_turn`). At about
0.1 ms per hop this keeps a run near a second at most, whatever its size."""
DEFAULT_MAX_TIME = 300.0
"""Virtual seconds a sweep run may take to go quiet. Scaled runs send for at
most 3 s and their faults heal within seconds, so a run still busy after 300 s
is stuck; a lower bound than the simulator's default keeps stuck runs cheap."""
SQUARES_NODES = 8


class MatrixError(ValueError):
    """A filter that leaves a dimension empty or names an unknown value.

    ``dimension`` is the matrix dimension (``nodes``, ``topology``, ``channel``,
    ``window``, ``workload``, ``relay``, ``burst`` or ``max_time``), which is also
    the CLI flag.
    """

    def __init__(self, dimension: str, message: str) -> None:
        super().__init__(f"{dimension}: {message}")
        self.dimension = dimension
        self.message = message


@dataclass(frozen=True, slots=True)
class Matrix:
    """The values each dimension of a sweep may take.

    The defaults are the whole matrix; a filter narrows one dimension. Message
    counts, fault rates, switches and snapshots are always drawn in full.
    """

    nodes: tuple[int, ...] = tuple(range(NODE_RANGE[0], NODE_RANGE[1] + 1))
    topologies: tuple[str, ...] = SHAPES
    channels: tuple[str, ...] = CHANNELS
    windows: tuple[int, ...] = WINDOWS
    workloads: tuple[str, ...] = WORKLOADS
    relays: tuple[str, ...] = RELAYS
    bursts: tuple[int, ...] = BURSTS
    max_time: float = DEFAULT_MAX_TIME

    def __post_init__(self) -> None:
        _check(
            "nodes",
            self.nodes,
            lambda n: NODE_RANGE[0] <= n <= NODE_RANGE[1],
            f"must be between {NODE_RANGE[0]} and {NODE_RANGE[1]}",
        )
        _check(
            "topology",
            self.topologies,
            lambda t: t in SHAPES,
            f"must be one of {', '.join(SHAPES)}",
        )
        _check(
            "channel",
            self.channels,
            lambda c: c in CHANNELS,
            f"must be one of {', '.join(CHANNELS)}",
        )
        _check(
            "window",
            self.windows,
            lambda w: 1 <= w <= MAX_WINDOW,
            f"must be between 1 and {MAX_WINDOW}",
        )
        _check(
            "workload",
            self.workloads,
            lambda w: w in WORKLOADS,
            f"must be one of {', '.join(WORKLOADS)}",
        )
        _check(
            "relay",
            self.relays,
            lambda r: r in RELAYS,
            f"must be one of {', '.join(RELAYS)}",
        )
        _check(
            "burst",
            self.bursts,
            lambda b: 1 <= b <= MAX_BURST,
            f"must be between 1 and {MAX_BURST}",
        )
        if not 0 < self.max_time <= 1e6:
            raise MatrixError("max_time", "must be in (0, 1000000] virtual seconds")
        if not self.shapes():
            raise MatrixError("nodes", f"the squares topology needs exactly {SQUARES_NODES} nodes")

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each topology that can be drawn, with the cluster sizes it allows."""
        out: list[tuple[str, tuple[int, ...]]] = []
        for topology in self.topologies:
            sizes = self.nodes
            if topology == "squares":
                sizes = (SQUARES_NODES,) if SQUARES_NODES in self.nodes else ()
            if sizes:
                out.append((topology, sizes))
        return out


def _check(
    dimension: str, values: tuple[Any, ...], valid: Callable[[Any], bool], rule: str
) -> None:
    if not values:
        raise MatrixError(dimension, "needs at least one value")
    for value in values:
        if not valid(value):
            raise MatrixError(dimension, f"{rule}, got {value!r}")


def work_per_turn(topology: str, nodes: int, workload: str) -> int:
    """Frame hops that one workload turn of one node costs, roughly.

    A multicast crosses every link once and is delivered at every node; a
    transfer crosses one link. ``mixed`` takes one turn of each.
    """
    links = sum(len(out) for out in build(topology, node_names(nodes)).values())
    chat = links + nodes
    transfer = 2
    return {"chat": chat, "bank": transfer, "mixed": chat + transfer}[workload]


def messages_for(drawn: int, topology: str, nodes: int, workload: str) -> int:
    """The drawn messages per node, scaled down so the run stays within budget.

    Scaling keeps the drawn spread (a large draw stays larger than a small
    one) instead of clipping every large cluster to the same count.
    """
    full = nodes * work_per_turn(topology, nodes, workload) * MESSAGES[1]
    if full <= WORK_BUDGET:
        return drawn
    return max(MIN_MESSAGES, drawn * WORK_BUDGET // full)


def reorder_rate(rng: random.Random) -> float:
    """The reorder probability of a run that reorders: every frame half the
    time, else a share of the frames drawn from :data:`REORDER_SHARE`."""
    if rng.random() < 0.5:
        return 1.0
    return round(rng.uniform(*REORDER_SHARE), 2)


def draw_run(matrix: Matrix, seed: int, index: int) -> SimParams:
    """Run ``index`` of the sweep with seed ``seed``: a whole scenario."""
    rng = random.Random(f"sweep:{seed}:{index}")
    topology, sizes = rng.choice(matrix.shapes())
    nodes = rng.choice(sizes)
    channel = ChannelMode(rng.choice(matrix.channels))
    window = rng.choice(matrix.windows)
    workload = rng.choice(matrix.workloads)
    messages = messages_for(rng.randint(*MESSAGES), topology, nodes, workload)
    loss = round(rng.uniform(0.0, MAX_LOSS), 2)
    dup = round(rng.uniform(0.01, MAX_DUP), 2) if rng.random() < 0.5 else 0.0
    reordering = rng.random() < 0.5
    partition = rng.random() < 0.5
    crash = rng.random() < 0.5
    snapshots = 0
    variant = ""
    if workload in BANK_WORKLOADS:
        snapshots = rng.randint(0, MAX_SNAPSHOTS)
        if snapshots:
            choices = [v.value for v in Variant if v.supports(channel)] + ["all"]
            variant = rng.choice(choices)
    run_seed = rng.randrange(2**31)
    # Drawn last, so every other setting is what it was when reordering was
    # an on/off switch (and 1 is that switch's "on").
    reorder = reorder_rate(rng) if reordering else 0.0
    relay = Relay(rng.choice(matrix.relays))  # last too, for the same reason
    burst = rng.choice(matrix.bursts)  # and the burst after it
    return SimParams(
        nodes=nodes,
        messages=messages,
        loss=loss,
        dup=dup,
        reorder=reorder,
        topology=topology,
        channel=channel,
        partition=partition,
        crash=crash,
        seed=run_seed,
        workload=workload,
        snapshots=snapshots,
        variant=variant,
        window=window,
        relay=relay,
        burst=burst,
        max_time=matrix.max_time,
    )


def draw_runs(matrix: Matrix, seed: int, count: int) -> list[SimParams]:
    """The first ``count`` runs of the sweep with seed ``seed``."""
    return [draw_run(matrix, seed, i) for i in range(count)]


# ------------------------------------------------------------------ outcomes
EXCEPTION = "exception"
"""The failure name of a run that raised instead of finishing."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How one run of a sweep ended; small and picklable, for worker processes.

    ``failure`` is None for a pass, else the first violated invariant's name,
    ``liveness``, ``snapshot`` or :data:`EXCEPTION`; ``detail`` says more.
    """

    index: int
    params: SimParams
    failure: str | None = None
    detail: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def command(self) -> str:
        return self.params.command()

    @property
    def cell(self) -> tuple[str, str, int]:
        """The table cell: topology, channel mode and window."""
        p = self.params
        return p.topology, p.channel.value, p.window


def run_one(index: int, params: SimParams) -> RunOutcome:
    """Simulate one run and say whether it passed; never raises.

    An exception inside the simulator (a crash of the core, a codec error)
    becomes a failed outcome, so one broken run cannot hide the others.
    """
    try:
        result = simulate(params)
    except Exception as exc:
        return RunOutcome(index, params, EXCEPTION, describe_exception(exc))
    failure = result.failure()
    if failure is None:
        return RunOutcome(index, params, summary=result.summary)
    return RunOutcome(index, params, failure[0], failure[1], result.summary)


def describe_exception(exc: BaseException) -> str:
    """One line: the exception and where it was raised."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {last.filename}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {exc}{where}"


@dataclass(slots=True)
class Tally:
    """Runs and passes of one group of outcomes."""

    runs: int = 0
    passed: int = 0

    @property
    def failed(self) -> int:
        return self.runs - self.passed


def tally_cells(outcomes: Iterable[RunOutcome]) -> dict[tuple[str, str, int], Tally]:
    """Runs and passes per cell, in matrix order (topology, channel, window)."""
    cells: dict[tuple[str, str, int], Tally] = {}
    for outcome in outcomes:
        t = cells.setdefault(outcome.cell, Tally())
        t.runs += 1
        t.passed += outcome.ok
    return dict(sorted(cells.items(), key=lambda kv: _cell_order(kv[0])))


def tally_by(outcomes: Iterable[RunOutcome], key: Callable[[SimParams], str]) -> dict[str, Tally]:
    """Runs and passes grouped by one setting of the runs, e.g. the workload."""
    groups: dict[str, Tally] = {}
    for outcome in outcomes:
        t = groups.setdefault(key(outcome.params), Tally())
        t.runs += 1
        t.passed += outcome.ok
    return dict(sorted(groups.items()))


def _cell_order(cell: tuple[str, str, int]) -> tuple[int, int, int]:
    topology, channel, window = cell
    return SHAPES.index(topology), CHANNELS.index(channel), window
