"""Tests for the Lamport clock, the multicast deduplicator and the topology helpers."""

from __future__ import annotations

import pytest

from zmqcast.core.clock import LamportClock
from zmqcast.core.dedup import Deduplicator, DedupOutcome
from zmqcast.topology import (
    build,
    echo_neighbours,
    in_neighbours,
    line,
    node_names,
    strongly_connected,
)

# ----------------------------------------------------------------- clock


def test_tick_send_increments() -> None:
    c = LamportClock()
    assert c.value == 0
    assert [c.tick_send() for _ in range(3)] == [1, 2, 3]
    assert c.value == 3


def test_tick_receive_is_max_plus_one() -> None:
    c = LamportClock()
    assert c.tick_receive(10) == 11
    assert c.tick_receive(4) == 12  # local is ahead
    assert c.tick_receive(12) == 13  # equal
    assert c.tick_send() == 14


# ----------------------------------------------------------------- dedup


def test_admit_new_then_duplicate() -> None:
    d = Deduplicator(epochs_per_origin=4)
    assert d.admit("P1", 1, 1, 0) == DedupOutcome.NEW
    assert d.admit("P1", 1, 1, 0) == DedupOutcome.DUPLICATE
    assert d.admit("P1", 1, 2, 0) == DedupOutcome.NEW
    # Same seq, different epoch or origin, is a different id.
    assert d.admit("P1", 2, 1, 0) == DedupOutcome.NEW
    assert d.admit("P2", 1, 1, 0) == DedupOutcome.NEW
    assert d.watermarks() == {"P1": {1: 2, 2: 1}, "P2": {1: 1}}


def test_out_of_order_ids_held_sparse_until_filled() -> None:
    d = Deduplicator(epochs_per_origin=4)
    for seq in (3, 5, 4):
        assert d.admit("P1", 1, seq, 0) == DedupOutcome.NEW
    assert d.size() == 3
    assert d.admit("P1", 1, 4, 0) == DedupOutcome.DUPLICATE
    assert d.admit("P1", 1, 1, 0) == DedupOutcome.NEW
    assert d.admit("P1", 1, 2, 0) == DedupOutcome.NEW
    assert d.size() == 0
    assert d.watermarks()["P1"][1] == 5


def test_a_hole_below_the_stable_floor_stays_open_until_the_horizon() -> None:
    d = Deduplicator(epochs_per_origin=4, horizon=32)
    # A hole at 1: its copy may still be on its way after the floor passed it.
    for seq in range(2, 51):
        d.admit("P1", 1, seq, 0)
    assert d.admit("P1", 1, 51, 40) == DedupOutcome.NEW
    assert d.watermarks()["P1"][1] == 0
    assert d.size() == 50
    assert d.admit("P1", 1, 1, 40) == DedupOutcome.NEW  # the late copy is delivered
    assert d.watermarks()["P1"][1] == 51
    assert d.size() == 0
    assert d.forgotten == 0
    assert d.admit("P1", 1, 30, 40) == DedupOutcome.DUPLICATE


def test_holes_far_below_the_stable_floor_are_forgotten_and_memory_stays_bounded() -> None:
    d = Deduplicator(epochs_per_origin=4, horizon=16)
    # Id 1 never comes (only a crashed predecessor had it).
    for seq in range(2, 400):
        d.admit("P1", 1, seq, max(0, seq - 8))
        assert d.size() <= 2 * 16 + 8
    assert d.forgotten == 1
    assert d.admit("P1", 1, 1, 391) == DedupOutcome.DUPLICATE
    assert d.watermarks()["P1"][1] == 399


def test_ids_far_below_the_stable_floor_are_duplicates() -> None:
    d = Deduplicator(epochs_per_origin=4, horizon=4)
    assert d.admit("P1", 1, 10, 9) == DedupOutcome.NEW
    assert d.forgotten == 5
    assert d.admit("P1", 1, 5, 0) == DedupOutcome.DUPLICATE
    assert d.admit("P1", 1, 6, 0) == DedupOutcome.NEW  # within the horizon: kept


def test_old_epochs_pruned_and_then_stale() -> None:
    d = Deduplicator(epochs_per_origin=2)
    assert d.admit("P1", 1, 1, 0) == DedupOutcome.NEW
    assert d.admit("P1", 2, 1, 0) == DedupOutcome.NEW
    assert d.admit("P1", 3, 1, 0) == DedupOutcome.NEW  # evicts epoch 1
    assert set(d.watermarks()["P1"]) == {2, 3}
    assert d.admit("P1", 1, 7, 0) == DedupOutcome.STALE_EPOCH
    assert set(d.watermarks()["P1"]) == {2, 3}
    # Other origins are unaffected by P1's pruning.
    assert d.admit("P2", 1, 1, 0) == DedupOutcome.NEW


def test_epoch_records_bounded_per_origin() -> None:
    d = Deduplicator(epochs_per_origin=3)
    for epoch in range(1, 11):
        d.admit("P1", epoch, 2, 0)  # each leaves one sparse id
    assert len(d.watermarks()["P1"]) == 3
    assert d.size() == 3


# ----------------------------------------------------------------- topology

NODES4 = node_names(4)
NODES8 = node_names(8)


def test_node_names() -> None:
    assert NODES4 == ["P1", "P2", "P3", "P4"]


def test_build_shapes() -> None:
    assert build("mesh", NODES4)["P1"] == ["P2", "P3", "P4"]
    assert build("ring", NODES4) == {"P1": ["P2"], "P2": ["P3"], "P3": ["P4"], "P4": ["P1"]}
    assert build("line", NODES4) == {
        "P1": ["P2"],
        "P2": ["P1", "P3"],
        "P3": ["P2", "P4"],
        "P4": ["P3"],
    }
    sq = build("squares", NODES8)
    assert all(len(out) == 2 for n, out in sq.items() if n not in ("P3", "P5"))
    assert "P5" in sq["P3"] and "P3" in sq["P5"]
    assert sum(len(out) for out in sq.values()) == 18


def test_build_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        build("star", NODES4)
    with pytest.raises(ValueError, match="8 nodes"):
        build("squares", NODES4)


@pytest.mark.parametrize(
    ("shape", "nodes"),
    [("mesh", NODES4), ("ring", NODES4), ("line", NODES4), ("squares", NODES8)],
)
def test_named_shapes_strongly_connected(shape: str, nodes: list[str]) -> None:
    assert strongly_connected(build(shape, nodes))


def test_one_way_line_not_strongly_connected() -> None:
    one_way = {"P1": ["P2"], "P2": ["P3"], "P3": []}
    assert not strongly_connected(one_way)
    assert not strongly_connected({"P1": [], "P2": []})


def test_in_neighbours() -> None:
    assert in_neighbours(build("ring", NODES4)) == {
        "P1": ["P4"],
        "P2": ["P1"],
        "P3": ["P2"],
        "P4": ["P3"],
    }
    assert in_neighbours(line(NODES4))["P2"] == ["P1", "P3"]


def test_echo_neighbours_empty_for_mesh() -> None:
    mesh = build("mesh", NODES4)
    assert all(echo_neighbours(mesh, n) == [] for n in NODES4)


def test_echo_neighbours_along_a_line() -> None:
    topo = line(NODES4)
    # Without P3, P2 cannot reach P4, so P3's messages must be echoed back to P3;
    # without P1, P2 still reaches every other node, so no echo to P1.
    assert echo_neighbours(topo, "P2") == ["P3"]
    assert echo_neighbours(topo, "P3") == ["P2"]
    assert echo_neighbours(topo, "P1") == ["P2"]
    assert echo_neighbours(topo, "P4") == ["P3"]
    assert echo_neighbours(build("ring", NODES4), "P2") == []  # no link back to the origin


def test_echo_neighbours_at_squares_bridge() -> None:
    sq = build("squares", NODES8)
    assert echo_neighbours(sq, "P3") == ["P5"]
    assert echo_neighbours(sq, "P5") == ["P3"]
    assert echo_neighbours(sq, "P1") == []
