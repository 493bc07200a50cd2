"""The sweep's run generator: deterministic per seed, covers the matrix, obeys filters."""

from __future__ import annotations

import pytest

from zmqcast.core.snapshot import Variant
from zmqcast.sim.runner import DEFAULT_WINDOW, SimParams
from zmqcast.sim.sweep import (
    CHANNELS,
    MESSAGES,
    MIN_MESSAGES,
    WINDOWS,
    WORK_BUDGET,
    Matrix,
    MatrixError,
    RunOutcome,
    draw_run,
    draw_runs,
    messages_for,
    tally_by,
    tally_cells,
    work_per_turn,
)
from zmqcast.topology import SHAPES


def test_the_same_seed_gives_the_same_runs() -> None:
    assert draw_runs(Matrix(), 7, 50) == draw_runs(Matrix(), 7, 50)


def test_other_seeds_give_other_runs() -> None:
    assert draw_runs(Matrix(), 7, 20) != draw_runs(Matrix(), 8, 20)


def test_a_short_sweep_is_a_prefix_of_a_longer_one() -> None:
    assert draw_runs(Matrix(), 3, 200)[:40] == draw_runs(Matrix(), 3, 40)
    assert draw_run(Matrix(), 3, 17) == draw_runs(Matrix(), 3, 18)[17]


def test_enough_runs_cover_every_topology_channel_window_and_workload() -> None:
    runs = draw_runs(Matrix(), 0, 600)
    assert {p.topology for p in runs} == set(SHAPES)
    assert {p.channel.value for p in runs} == set(CHANNELS)
    assert {p.window for p in runs} == set(WINDOWS)
    assert {p.workload for p in runs} == {"chat", "bank", "mixed"}
    cells = {(p.topology, p.channel.value, p.window) for p in runs}
    assert len(cells) == len(SHAPES) * len(CHANNELS) * len(WINDOWS)
    assert {p.nodes for p in runs if p.topology != "squares"} == set(range(2, 9))
    for flag in ("partition", "crash"):
        assert {getattr(p, flag) for p in runs} == {True, False}, flag
    # Reordering: off, on for every frame, or on for a drawn share of them.
    rates = {p.reorder for p in runs}
    assert {0.0, 1.0} <= rates
    shares = rates - {0.0, 1.0}
    assert len(shares) > 10 and all(0.05 <= r <= 0.95 for r in shares)
    assert {p.dup == 0 for p in runs} == {True, False}
    assert 0.25 <= max(p.loss for p in runs) <= 0.3
    assert min(p.loss for p in runs) <= 0.05
    assert {p.snapshots for p in runs} == set(range(6))


def test_squares_always_gets_eight_nodes() -> None:
    runs = [p for p in draw_runs(Matrix(), 1, 300) if p.topology == "squares"]
    assert runs
    assert {p.nodes for p in runs} == {8}


def test_snapshots_only_with_bank_traffic_and_a_variant_the_channel_supports() -> None:
    runs = draw_runs(Matrix(), 2, 400)
    snapped = [p for p in runs if p.snapshots]
    assert snapped
    assert all(p.workload in ("bank", "mixed") for p in snapped)
    assert all(p.snapshots == 0 and p.variant == "" for p in runs if p.workload == "chat")
    for p in snapped:
        assert p.variant == "all" or Variant(p.variant).supports(p.channel)
    assert {p.variant for p in snapped} >= {"all", "sender-log", "lai-yang", "chandy-lamport"}


def test_filters_restrict_each_dimension() -> None:
    matrix = Matrix(
        nodes=(3, 4),
        topologies=("ring", "line"),
        channels=("lossy",),
        windows=(16,),
        workloads=("mixed",),
        max_time=50.0,
    )
    runs = draw_runs(matrix, 5, 60)
    assert {p.nodes for p in runs} == {3, 4}
    assert {p.topology for p in runs} == {"ring", "line"}
    assert {p.channel.value for p in runs} == {"lossy"}
    assert {p.window for p in runs} == {16}
    assert {p.workload for p in runs} == {"mixed"}
    assert {p.max_time for p in runs} == {50.0}


def test_squares_is_left_out_when_the_node_filter_excludes_eight() -> None:
    runs = draw_runs(Matrix(nodes=(3,)), 0, 100)
    assert "squares" not in {p.topology for p in runs}
    assert {p.nodes for p in runs} == {3}


@pytest.mark.parametrize(
    ("fields", "dimension"),
    [
        ({"nodes": (1,)}, "nodes"),
        ({"nodes": (9,)}, "nodes"),
        ({"nodes": ()}, "nodes"),
        ({"topologies": ("star",)}, "topology"),
        ({"channels": ("tcp",)}, "channel"),
        ({"windows": (0,)}, "window"),
        ({"windows": (70_000,)}, "window"),
        ({"workloads": ("video",)}, "workload"),
        ({"max_time": 0.0}, "max_time"),
        ({"topologies": ("squares",), "nodes": (3, 4)}, "nodes"),
    ],
)
def test_bad_filters_name_their_dimension(fields: dict[str, object], dimension: str) -> None:
    with pytest.raises(MatrixError) as caught:
        Matrix(**fields)  # type: ignore[arg-type]
    assert caught.value.dimension == dimension


def test_work_is_bounded_by_scaling_messages_down() -> None:
    for p in draw_runs(Matrix(), 4, 500):
        cost = p.nodes * work_per_turn(p.topology, p.nodes, p.workload) * p.messages
        assert p.messages >= MIN_MESSAGES
        assert p.messages <= MESSAGES[1]
        assert cost <= WORK_BUDGET or p.messages == MIN_MESSAGES, p.command()


def test_small_clusters_keep_the_drawn_message_count() -> None:
    assert messages_for(300, "mesh", 2, "chat") == 300
    assert messages_for(20, "ring", 3, "bank") == 20
    # A large mesh is scaled, but a larger draw still gives more messages.
    assert messages_for(300, "mesh", 8, "chat") < 300
    assert messages_for(100, "mesh", 8, "chat") < messages_for(300, "mesh", 8, "chat")


def test_every_drawn_command_carries_the_window_and_max_time() -> None:
    for p in draw_runs(Matrix(max_time=120.0), 9, 50):
        cmd = p.command()
        assert "--max-time 120" in cmd
        assert (f"--window {p.window}" in cmd) == (p.window != DEFAULT_WINDOW)


def _outcome(index: int, topology: str, window: int, failure: str | None) -> RunOutcome:
    params = SimParams(nodes=3, topology=topology, window=window, workload="bank")
    return RunOutcome(index, params, failure, "why" if failure else "")


def test_tally_groups_by_cell_in_matrix_order() -> None:
    outcomes = [
        _outcome(0, "ring", 8, None),
        _outcome(1, "mesh", 32, "validity"),
        _outcome(2, "mesh", 32, None),
        _outcome(3, "mesh", 8, None),
    ]
    cells = tally_cells(outcomes)
    assert list(cells) == [("mesh", "fifo", 8), ("mesh", "fifo", 32), ("ring", "fifo", 8)]
    assert (cells[("mesh", "fifo", 32)].runs, cells[("mesh", "fifo", 32)].passed) == (2, 1)
    assert cells[("mesh", "fifo", 32)].failed == 1
    by = tally_by(outcomes, lambda p: p.workload)
    assert (by["bank"].runs, by["bank"].passed) == (4, 3)
