"""Hypothesis draws whole scenarios, not just seeds.

Every field of :class:`SimParams` that shapes a run is drawn: cluster size,
topology, channel mode, window, workload, message count, faults and snapshots.
A failure then shrinks towards a small cluster, few messages and no faults,
which is a far better starting point for debugging than a shrunk seed.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sim.test_invariants import fast
from zmqcast.core.config import ChannelMode
from zmqcast.core.snapshot import Variant
from zmqcast.sim.runner import WORKLOADS, SimParams, SimResult, simulate
from zmqcast.topology import SHAPES


@st.composite
def scenarios(draw: st.DrawFn) -> SimParams:
    """A whole simulated run; each choice shrinks towards its simplest value."""
    topology = draw(st.sampled_from(SHAPES))
    nodes = 8 if topology == "squares" else draw(st.integers(2, 6))
    channel = draw(st.sampled_from(list(ChannelMode)))
    workload = draw(st.sampled_from(WORKLOADS))
    snapshots = draw(st.integers(0, 3)) if workload != "chat" else 0
    variant = ""
    if snapshots:
        supported = [v.value for v in Variant if v.supports(channel)]
        variant = draw(st.sampled_from(["", *supported, "all"]))
    return SimParams(
        nodes=nodes,
        topology=topology,
        channel=channel,
        window=draw(st.sampled_from([256, 32, 8, 2])),
        workload=workload,
        messages=draw(st.integers(0, 4 if topology == "squares" else 8)),
        loss=draw(st.sampled_from([0.0, 0.1, 0.3])),
        dup=draw(st.sampled_from([0.0, 0.1])),
        reorder=draw(st.booleans()),
        partition=draw(st.booleans()),
        crash=draw(st.booleans()),
        snapshots=snapshots,
        variant=variant,
        seed=draw(st.integers(0, 2**31)),
        max_time=120.0,
    )


def _explain(result: SimResult) -> str:
    failure = result.failure()
    what = f"{failure[0]}: {failure[1]}" if failure else "passed"
    return f"{what}\nreplay with: {result.params.command()}"


@pytest.mark.timeout(60)
@fast(60)
@given(params=scenarios())
def test_every_drawn_scenario_keeps_every_invariant(params: SimParams) -> None:
    result = simulate(params)
    assert result.ok, _explain(result)
