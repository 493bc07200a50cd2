"""The nemesis's plan: a seeded, replayable list of timed actions against a cluster.

The schedule is computed before the run from the seed alone, so the same
command line replays the same kills, partitions and snapshots at the same
offsets (the real processes' timing, not the plan, is what differs between two
runs). Kinds of action:

- ``kill``: ``kill -9`` the node, then ``restart`` it after a pause, at the
  latest :data:`AFTERLIFE` seconds before the end;
- ``partition``: cut the cluster into two sides, then ``heal`` it;
- ``snapshot``: ask a node to initiate a snapshot of a variant.

A kill never targets a node that is already down, nor one of the *spared*
nodes (:func:`spared_nodes`): ``ceil(N / 3)`` of them, at least two (one on a
two-node cluster), chosen from the seed, are never killed. They stay correct
(one incarnation, never crashed) however often the nemesis kills, so
validity and agreement, which are about correct nodes, have pairs to check,
and a restarted node has correct nodes to be compared with. (On two nodes
with kills, validity cannot be checked: it needs two correct nodes.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PAUSE = (0.5, 2.0)
"""Seconds a killed node stays down: uniform in this range."""
AFTERLIFE = 2.5
"""Seconds of workload a restarted node gets at least before the run ends. The
checkers judge a node's last incarnation on what was multicast after it came
back, so a restart at the very end would leave restart-validity nothing; and
a node takes about a second and a half to start (more under load: the harness
extends the run until each restarted node has been connected this long), then
has to catch up before the others' windows free up again."""
PARTITION = (1.0, 3.0)
"""Seconds a partition lasts: uniform in this range (at most half its period)."""


@dataclass(frozen=True, slots=True, order=True)
class Action:
    """One nemesis step, ``at`` seconds after the workload starts."""

    at: float
    kind: str
    node: str = ""
    """The node killed, restarted, or asked for a snapshot."""
    variant: str = ""
    sides: tuple[tuple[str, ...], ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        """The action as a JSON-ready record for ``RUN_DIR/nemesis.jsonl``."""
        out: dict[str, Any] = {"at": round(self.at, 3), "action": self.kind}
        if self.node:
            out["node"] = self.node
        if self.variant:
            out["variant"] = self.variant
        if self.sides:
            out["sides"] = [list(s) for s in self.sides]
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """What the nemesis is asked to do (from the ``zmqcast stress`` flags)."""

    nodes: tuple[str, ...]
    duration: float
    kill_every: float = 0.0
    partition_every: float = 0.0
    snapshot_every: float = 1.0
    variants: tuple[str, ...] = ()
    seed: int = 0


def spared_nodes(plan: Plan) -> tuple[str, ...]:
    """The nodes the nemesis never kills, in node order; a pure function of ``plan``.

    ``ceil(N / 3)`` nodes, but at least two, since validity needs two correct
    nodes (an origin and a receiver), and at most ``N - 1``, so that something
    can be killed. The choice has its own generator, seeded from the seed, so
    it does not shift the rest of the schedule.
    """
    nodes = plan.nodes
    count = min(len(nodes) - 1, max(2, math.ceil(len(nodes) / 3)))
    if count <= 0:
        return tuple(nodes)
    chosen = set(random.Random(f"spared:{plan.seed}").sample(sorted(nodes), count))
    return tuple(n for n in nodes if n in chosen)


def build_schedule(plan: Plan) -> list[Action]:
    """Every action of the run, in time order; a pure function of ``plan``."""
    rng = random.Random(f"nemesis:{plan.seed}")
    actions: list[Action] = []
    if plan.kill_every > 0 and len(plan.nodes) > 1:
        actions += _kills(plan, random.Random(rng.random()))
    if plan.partition_every > 0 and len(plan.nodes) > 1:
        actions += _partitions(plan, random.Random(rng.random()))
    if plan.snapshot_every > 0 and plan.variants:
        actions += _snapshots(plan)
    actions.sort()
    return actions


def _kills(plan: Plan, rng: random.Random) -> list[Action]:
    out: list[Action] = []
    down_until: dict[str, float] = {}
    spared = set(spared_nodes(plan))
    t = plan.kill_every
    # The restart lands inside the run, at least AFTERLIFE before its end (a
    # late kill gets a shorter pause, never shorter than the shortest).
    last_restart = plan.duration - AFTERLIFE
    while t + PAUSE[0] <= last_restart:
        up = [n for n in plan.nodes if n not in spared and down_until.get(n, -1.0) <= t]
        if up:
            victim = rng.choice(up)
            back = min(t + rng.uniform(*PAUSE), last_restart)
            down_until[victim] = back
            out.append(Action(t, "kill", victim))
            out.append(Action(back, "restart", victim))
        t += plan.kill_every
    return out


def _partitions(plan: Plan, rng: random.Random) -> list[Action]:
    out: list[Action] = []
    # Offset by half a period so partitions and kills do not always coincide.
    t = plan.partition_every / 2
    while t < plan.duration:
        shuffled = list(plan.nodes)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(shuffled) - 1)
        sides = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
        length = min(rng.uniform(*PARTITION), plan.partition_every / 2)
        out.append(Action(t, "partition", sides=sides))
        out.append(Action(min(t + length, plan.duration), "heal"))
        t += plan.partition_every
    return out


def _snapshots(plan: Plan) -> list[Action]:
    out: list[Action] = []
    k = 0
    t = plan.snapshot_every
    while t < plan.duration:
        node = plan.nodes[k % len(plan.nodes)]
        out.append(Action(t, "snapshot", node, plan.variants[k % len(plan.variants)]))
        k += 1
        t += plan.snapshot_every
    return out


def blocked_peers(sides: Sequence[Sequence[str]], node: str) -> list[str]:
    """The peers ``node`` must not hear from under a partition into ``sides``."""
    return sorted(p for side in sides if node not in side for p in side)
