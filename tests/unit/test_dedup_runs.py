"""``Deduplicator.admit_run`` does what admitting each id in turn would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zmqcast.core.dedup import Deduplicator, DedupOutcome

Step = tuple[int, int, int, list[int]]
"""(epoch, first id, stable floor of the first, growth of the floor per id)."""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            st.integers(1, 80),
            st.integers(0, 90),
            st.lists(st.integers(0, 3), min_size=0, max_size=7),
        ),
        max_size=30,
    ),
    st.integers(2, 6),
)
def test_a_run_is_admitted_as_its_ids_would_be_one_by_one(steps: list[Step], horizon: int) -> None:
    runs = Deduplicator(epochs_per_origin=2, horizon=horizon)
    ones = Deduplicator(epochs_per_origin=2, horizon=horizon)
    for epoch, first, floor, growth in steps:
        # A floor never reaches its own message; it only grows along a run.
        stables = [min(floor, first - 1)]
        for step in growth:
            stables.append(min(stables[-1] + step, first + len(stables) - 1))
        taken = runs.admit_run("P1", epoch, first, stables)
        if not taken:  # refused as a whole: the caller admits one by one
            outcomes = [runs.admit("P1", epoch, first + i, s) for i, s in enumerate(stables)]
        reference = [ones.admit("P1", epoch, first + i, s) for i, s in enumerate(stables)]
        if taken:
            assert reference == [DedupOutcome.NEW] * len(stables)
        else:
            assert outcomes == reference
            assert len(stables) > horizon or reference != [DedupOutcome.NEW] * len(stables)
        assert runs.watermarks() == ones.watermarks()
        assert runs.size() == ones.size()
        assert runs.forgotten == ones.forgotten
