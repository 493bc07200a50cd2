"""Thousands of seeded simulated runs under loss, duplication, reordering,
partitions and crashes: every invariant must hold, and a failure names its seed
and the command that replays it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqcast.core.clock import LamportClock
from zmqcast.core.config import ChannelMode
from zmqcast.sim.runner import SimParams, SimResult, simulate


def fast(examples: int) -> settings:
    """Deterministic example choice, no per-example deadline (runs vary in length)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )


def _explain(result: SimResult) -> str:
    bad = result.report.first_violation()
    what = f"{bad.name}: {bad.detail}" if bad is not None else "did not quiesce"
    return f"{what}\nreplay with: {result.params.command()}"


faults = st.fixed_dictionaries(
    {
        "loss": st.sampled_from([0.0, 0.1, 0.3]),
        "dup": st.sampled_from([0.0, 0.1]),
        "reorder": st.booleans(),
        "partition": st.booleans(),
        "crash": st.booleans(),
    }
)


@fast(350)  # CI time: the fixed-seed sweep and the long sweeps cover far more
@given(
    seed=st.integers(0, 2**31),
    nodes=st.integers(3, 6),
    topology=st.sampled_from(["mesh", "ring", "line"]),
    fault=faults,
)
def test_fifo_channels_keep_every_invariant(
    seed: int, nodes: int, topology: str, fault: dict[str, object]
) -> None:
    params = SimParams(nodes=nodes, messages=8, topology=topology, seed=seed, **fault)  # type: ignore[arg-type]
    result = simulate(params)
    assert result.ok, _explain(result)


@fast(250)
@given(
    seed=st.integers(0, 2**31),
    nodes=st.integers(3, 6),
    topology=st.sampled_from(["mesh", "ring", "line"]),
    fault=faults,
)
def test_unordered_channels_keep_every_invariant(
    seed: int, nodes: int, topology: str, fault: dict[str, object]
) -> None:
    params = SimParams(
        nodes=nodes,
        messages=8,
        topology=topology,
        channel=ChannelMode.UNORDERED,
        seed=seed,
        **fault,  # type: ignore[arg-type]
    )
    result = simulate(params)
    assert result.ok, _explain(result)


@fast(150)
@given(seed=st.integers(0, 2**31), channel=st.sampled_from(["fifo", "unordered"]))
def test_two_squares_survive_the_worst_fault_mix(seed: int, channel: str) -> None:
    params = SimParams(
        nodes=8,
        messages=8,
        topology="squares",
        channel=ChannelMode(channel),
        loss=0.3,
        dup=0.1,
        reorder=True,
        partition=True,
        crash=True,
        seed=seed,
    )
    result = simulate(params)
    assert result.ok, _explain(result)


@fast(300)
@given(seed=st.integers(0, 2**31), topology=st.sampled_from(["mesh", "ring", "line"]))
def test_lossy_channels_report_losses_and_keep_safety(seed: int, topology: str) -> None:
    params = SimParams(
        nodes=4,
        messages=10,
        topology=topology,
        channel=ChannelMode.LOSSY,
        loss=0.3,
        dup=0.1,
        reorder=True,
        seed=seed,
    )
    result = simulate(params)
    assert result.ok, _explain(result)
    names = {r.name for r in result.report.results}
    assert "fifo" not in names  # lossy channels promise no order
    # Losses are reported, never counted as violations.
    assert result.summary["losses"]["missing_deliveries"] >= 0


def test_lossy_channels_do_lose_messages_at_high_loss() -> None:
    """The loss report is not vacuous: with 30% loss some deliveries go missing."""
    params = SimParams(
        nodes=4,
        messages=30,
        topology="ring",
        channel=ChannelMode.LOSSY,
        loss=0.3,
        seed=5,
    )
    result = simulate(params)
    assert result.ok
    assert result.summary["losses"]["missing_deliveries"] > 0
    assert result.summary["losses"]["declared_by_channels"] > 0


@pytest.mark.parametrize("seed", range(20))
def test_the_documented_command_passes_on_twenty_seeds(seed: int) -> None:
    params = SimParams(nodes=5, messages=40, loss=0.3, dup=0.1, reorder=True, seed=seed)
    result = simulate(params)
    assert result.ok, _explain(result)


def test_same_seed_gives_identical_trace_and_summary() -> None:
    params = SimParams(
        nodes=5, messages=20, loss=0.3, dup=0.1, reorder=True, crash=True, partition=True, seed=3
    )
    first, second = simulate(params), simulate(params)
    assert first.events == second.events
    assert first.summary == second.summary
    other = simulate(dataclasses.replace(params, seed=4))
    assert other.events != first.events


def test_checkers_catch_a_broken_lamport_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a clock that ignores received timestamps is caught."""

    def no_merge(self: LamportClock, received: int) -> None:
        self.value += 1

    monkeypatch.setattr(LamportClock, "merge", no_merge)
    result = simulate(SimParams(nodes=3, messages=5, seed=1))
    violated = result.report.first_violation()
    assert violated is not None
    assert violated.name == "lamport"
