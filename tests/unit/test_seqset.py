"""Tests for :class:`zmqcast.core.seqset.SeqSet` through its public API."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zmqcast.core.seqset import SeqSet


def test_empty_set_holds_nothing() -> None:
    s = SeqSet()
    assert s.floor == 0
    assert len(s) == 0
    assert 1 not in s
    assert s.ranges(10) == ()


def test_in_order_adds_only_move_the_floor() -> None:
    s = SeqSet()
    for v in range(1, 6):
        assert s.add(v) is True
    assert s.floor == 5
    assert len(s) == 0
    assert all(v in s for v in range(1, 6))
    assert 6 not in s


def test_add_reports_duplicates() -> None:
    s = SeqSet()
    assert s.add(1) is True
    assert s.add(1) is False
    assert s.add(5) is True
    assert s.add(5) is False
    assert len(s) == 1


def test_filling_a_hole_collapses_extras_into_floor() -> None:
    s = SeqSet()
    for v in (3, 4, 5, 7):
        s.add(v)
    assert s.floor == 0
    assert len(s) == 4
    s.add(2)
    assert s.floor == 0
    s.add(1)
    assert s.floor == 5
    assert len(s) == 1
    assert 6 not in s
    assert 7 in s
    s.add(6)
    assert s.floor == 7
    assert len(s) == 0


def test_initial_floor() -> None:
    s = SeqSet(10)
    assert 10 in s
    assert 11 not in s
    assert s.add(10) is False
    assert s.add(11) is True
    assert s.floor == 11


def test_advance_to_drops_extras_below_and_collapses_above() -> None:
    s = SeqSet()
    for v in (2, 4, 6, 7, 9):
        s.add(v)
    s.advance_to(5)
    assert s.floor == 7  # 6 and 7 were contiguous with the new floor
    assert len(s) == 1
    assert 9 in s
    assert 8 not in s
    assert all(v in s for v in range(1, 8))


def test_advance_to_lower_floor_is_a_no_op() -> None:
    s = SeqSet(5)
    s.add(8)
    s.advance_to(3)
    assert s.floor == 5
    assert 8 in s
    assert len(s) == 1


def test_ranges_groups_consecutive_extras() -> None:
    s = SeqSet()
    for v in (3, 4, 5, 8, 10, 11):
        s.add(v)
    assert s.ranges(10) == ((3, 5), (8, 8), (10, 11))


def test_ranges_respects_limit() -> None:
    s = SeqSet()
    for v in (3, 5, 7, 9):
        s.add(v)
    assert s.ranges(2) == ((3, 3), (5, 5))
    assert s.ranges(1) == ((3, 3),)
    assert s.ranges(4) == ((3, 3), (5, 5), (7, 7), (9, 9))


def test_missing_lists_holes_up_to_bound() -> None:
    s = SeqSet()
    for v in (1, 2, 5, 6, 9):
        s.add(v)
    assert s.floor == 2
    assert s.missing(12, 10) == ((3, 4), (7, 8), (10, 12))
    assert s.missing(9, 10) == ((3, 4), (7, 8))
    assert s.missing(6, 10) == ((3, 4),)
    assert s.missing(2, 10) == ()


def test_missing_respects_limit() -> None:
    s = SeqSet()
    for v in (2, 4, 6):
        s.add(v)
    assert s.missing(10, 2) == ((1, 1), (3, 3))
    assert s.missing(10, 1) == ((1, 1),)


def test_missing_with_no_extras_is_one_range() -> None:
    s = SeqSet(4)
    assert s.missing(7, 5) == ((5, 7),)


def assert_shape(s: SeqSet, model: set[int]) -> None:
    """The watermark is the longest prefix of the model; the rest is sparse."""
    floor = 0
    while floor + 1 in model:
        floor += 1
    assert s.floor == floor
    assert len(s) == sum(1 for v in model if v > floor)


@given(st.lists(st.integers(1, 60), max_size=120))
def test_matches_a_plain_set(values: list[int]) -> None:
    s = SeqSet()
    model: set[int] = set()
    for v in values:
        assert s.add(v) == (v not in model)
        model.add(v)
    for v in range(1, 62):
        assert (v in s) == (v in model)
    assert_shape(s, model)


@given(
    st.lists(st.integers(1, 60), max_size=80),
    st.integers(0, 70),
    st.integers(1, 70),
)
def test_missing_and_ranges_match_a_plain_set(values: list[int], upto: int, limit: int) -> None:
    s = SeqSet()
    for v in values:
        s.add(v)
    absent = {v for v in range(s.floor + 1, upto + 1) if v not in s}
    holes = s.missing(upto, 1 << 30)
    assert {v for lo, hi in holes for v in range(lo, hi + 1)} == absent
    assert s.missing(upto, limit) == holes[:limit]
    spans = s.ranges(1 << 30)
    covered = {v for lo, hi in spans for v in range(lo, hi + 1)}
    assert covered == {v for v in values if v > s.floor}
    assert s.ranges(limit) == spans[:limit]


@given(st.lists(st.tuples(st.integers(1, 60), st.integers(0, 12)), max_size=60))
def test_add_range_is_all_or_nothing_like_a_plain_set(runs: list[tuple[int, int]]) -> None:
    s = SeqSet()
    model: set[int] = set()
    for lo, length in runs:
        hi = lo + length
        span = set(range(lo, hi + 1))
        fresh = not (span & model)
        assert s.add_range(lo, hi) == fresh
        if fresh:
            model |= span
        for v in range(1, 80):
            assert (v in s) == (v in model)
    assert_shape(s, model)


def test_add_range_extends_the_floor_without_storing_values() -> None:
    s = SeqSet()
    assert s.add_range(1, 64)
    assert (s.floor, len(s)) == (64, 0)
    assert s.add(66)
    assert s.add_range(65, 65)
    assert (s.floor, len(s)) == (66, 0)
    assert not s.add_range(60, 70)
    assert not s.add_range(70, 69)
