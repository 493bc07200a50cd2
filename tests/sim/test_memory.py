"""Memory stays flat: the retransmit, reorder, duplicate-suppression, custody,
holdback and retention state does not grow with the number of messages."""

from __future__ import annotations

import pytest

from zmqcast.sim.runner import SimParams, Simulation


def _peak_footprints(per_node: int) -> tuple[int, int, int]:
    """Run 3 nodes x ``per_node`` multicasts; return peaks at 10%, 50% and the end."""
    sim = Simulation(
        SimParams(nodes=3, messages=per_node, send_interval=0.0005, loss=0.05, seed=1),
        record=False,
    )
    sim.run()
    total = 3 * per_node
    samples = sim.footprints
    assert samples, "the simulator took no footprint samples"

    def peak(upto: float) -> int:
        return max(f for m, f in samples if m <= upto)

    return peak(total * 0.1), peak(total * 0.5), peak(total)


def test_footprint_is_flat_over_100k_multicasts() -> None:
    early, middle, end = _peak_footprints(33_334)
    # Bounded by the windows, not by traffic: the last 90% adds almost nothing.
    assert end <= early * 1.2, (early, middle, end)
    window = 256
    assert end <= 3 * window * 6, end


@pytest.mark.soak
def test_footprint_is_flat_over_a_million_multicasts() -> None:
    early, middle, end = _peak_footprints(333_334)
    assert end <= early * 1.2, (early, middle, end)
