"""The replay store of one origin epoch: the last ``window`` messages by number."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zmqcast.core.flood import _Retained
from zmqcast.core.frames import MulticastMeta


def _meta(oseq: int) -> MulticastMeta:
    return MulticastMeta("P1", 1, oseq, oseq, 0)


@given(
    st.integers(1, 8),
    st.lists(st.integers(1, 60) | st.integers(1, 10**12), min_size=1, max_size=80),
)
def test_keeps_exactly_what_lies_within_the_window_of_the_highest(
    window: int, arrivals: list[int]
) -> None:
    kept = _Retained()
    high = 0
    for oseq in arrivals:
        kept.add(oseq, _meta(oseq), str(oseq).encode(), window)
        high = max(high, oseq)
        assert len(kept.items) <= window
        assert all(k > high - window for k in kept.items)
    high = max(arrivals)
    want = {k for k in arrivals if k > high - window}
    # A message that arrived after it had fallen out of the window is not kept.
    late = {k for i, k in enumerate(arrivals) if k <= max(arrivals[: i + 1]) - window}
    assert set(kept.items) == want - late
    assert all(kept.items[k] == (_meta(k), str(k).encode()) for k in kept.items)


def test_in_order_arrivals_keep_the_last_window() -> None:
    kept = _Retained()
    for oseq in range(1, 1001):
        kept.add(oseq, _meta(oseq), b"", 256)
    assert list(kept.items) == list(range(745, 1001))
