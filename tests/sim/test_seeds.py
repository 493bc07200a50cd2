"""Each subsystem of the simulator draws from its own generator.

Turning snapshots on or changing the workload must leave the network's
decisions and the crash/partition plan as they were. With one shared
generator, the snapshot schedule's draws would shift every later draw.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from zmqcast.sim.runner import SimParams, SimResult, Simulation, subsystem_rng

BASE = SimParams(
    nodes=4,
    messages=20,
    loss=0.3,
    dup=0.1,
    reorder=True,
    crash=True,
    partition=True,
    workload="bank",
    seed=21,
)


def _run_recording_fates(params: SimParams) -> tuple[list[int], SimResult]:
    """Run ``params``; return how many copies of each frame the network let through."""
    sim = Simulation(params)
    fates: list[int] = []
    arrivals = sim.net.arrivals

    def recording(src: str, dst: str, kind: str, now: float) -> list[float]:
        times = arrivals(src, dst, kind, now)
        if (src, dst) not in sim.net._blocked:  # a partition's cut is not a fate
            fates.append(len(times))
        return times

    sim.net.arrivals = recording  # type: ignore[method-assign]
    return fates, sim.run()


def _fault_plan(result: SimResult) -> list[tuple[Any, ...]]:
    """Crashes and partitions of a run: who, when, which sides."""
    return [
        (e["kind"], e["node"], e["time"], str(e.get("sides")))
        for e in result.events
        if e["kind"] in ("crash", "partition", "heal")
    ]


def test_snapshots_do_not_change_the_network_decisions() -> None:
    plain, _ = _run_recording_fates(BASE)
    snapped, result = _run_recording_fates(dataclasses.replace(BASE, snapshots=4, variant="all"))
    k = min(len(plain), len(snapped))
    assert k > 200
    assert 0 in plain[:k] and 2 in plain[:k]  # drops and duplicates both happened
    assert snapped[:k] == plain[:k]
    assert result.summary["snapshots"]["taken"] >= 1  # an initiator may be down at its time


def test_the_workload_does_not_change_the_network_decisions() -> None:
    bank, _ = _run_recording_fates(BASE)
    mixed, _ = _run_recording_fates(dataclasses.replace(BASE, workload="mixed"))
    chat, _ = _run_recording_fates(dataclasses.replace(BASE, workload="chat"))
    k = min(len(bank), len(mixed), len(chat))
    assert k > 200
    assert bank[:k] == mixed[:k] == chat[:k]


def test_snapshots_and_workload_do_not_change_the_fault_plan() -> None:
    _, plain = _run_recording_fates(BASE)
    _, snapped = _run_recording_fates(dataclasses.replace(BASE, snapshots=3))
    _, chat = _run_recording_fates(dataclasses.replace(BASE, workload="chat"))
    plan = _fault_plan(plain)
    assert any(kind == "crash" for kind, *_ in plan)
    assert any(kind == "partition" for kind, *_ in plan)
    assert _fault_plan(snapped) == plan
    assert _fault_plan(chat) == plan


def test_a_shared_generator_would_have_shifted_the_decisions() -> None:
    """The test above is not vacuous: the snapshot schedule does draw numbers,
    and drawing them from the network's generator changes its decisions."""
    net = subsystem_rng(BASE.seed, "net")
    shared = subsystem_rng(BASE.seed, "net")
    for _ in range(4):  # what four snapshot times would take out of a shared stream
        shared.uniform(0.02, 0.5)
    assert [net.random() < 0.3 for _ in range(50)] != [shared.random() < 0.3 for _ in range(50)]


def test_subsystem_generators_differ_and_are_stable() -> None:
    draws = {
        name: subsystem_rng(5, name).random() for name in ("net", "faults", "workload", "snapshots")
    }
    assert len(set(draws.values())) == 4
    assert subsystem_rng(5, "net").random() == draws["net"]
    assert subsystem_rng(6, "net").random() != draws["net"]
