"""Taking a run of messages in one step changes nothing but the cost.

Each case is a run drawn from the sweep's matrix (every topology, channel
mode, window, workload, fault mix, relay mode and burst size), simulated
twice: with the core's run path, and with every copy taken one by one
(``Flooding.take_runs`` off). The two traces must be identical, event for
event: the same deliveries with the same Lamport values, at the same virtual
times, which holds only if both sent the very same frames.
"""

from __future__ import annotations

import pytest

from zmqcast.core.flood import Flooding
from zmqcast.sim.runner import SimParams, SimResult, Simulation
from zmqcast.sim.sweep import Matrix, draw_run

SEED = 4242
CASES = 30


def simulate_with(params: SimParams, runs: bool, monkeypatch: pytest.MonkeyPatch) -> SimResult:
    with monkeypatch.context() as patch:
        patch.setattr(Flooding, "take_runs", runs)
        return Simulation(params).run()


@pytest.mark.parametrize("index", range(CASES))
def test_runs_and_one_by_one_give_the_same_trace(
    index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = draw_run(Matrix(bursts=(4, 64)), SEED, index)
    fast = simulate_with(params, True, monkeypatch)
    reference = simulate_with(params, False, monkeypatch)
    assert fast.ok == reference.ok, params.command()
    assert len(fast.events) == len(reference.events), params.command()
    for mine, theirs in zip(fast.events, reference.events, strict=True):
        assert mine == theirs, params.command()


def test_the_cases_take_runs_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without runs in the cases, the comparison above would prove nothing."""
    taken = 0
    original = Flooding._take_run

    def counting(self: Flooding, *args: object) -> bool:
        nonlocal taken
        ok = original(self, *args)  # type: ignore[arg-type]
        taken += ok
        return ok

    monkeypatch.setattr(Flooding, "_take_run", counting)
    for index in range(3):
        Simulation(draw_run(Matrix(bursts=(64,)), SEED, index)).run()
    assert taken > 0
