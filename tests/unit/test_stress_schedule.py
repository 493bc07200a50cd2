"""The nemesis schedule: replayable from its seed, and never unfair to the cluster."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.cli.stress import replay_command
from zmqcast.stress.harness import StressOptions
from zmqcast.stress.schedule import Plan, blocked_peers, build_schedule

NODES = tuple(f"P{i}" for i in range(1, 9))


def _plan(seed: int, nodes: int = 8, **extra: float) -> Plan:
    args: dict[str, float] = {"kill_every": 1.5, "partition_every": 2.0, "snapshot_every": 0.5}
    args.update(extra)
    return Plan(
        nodes=NODES[:nodes],
        duration=20.0,
        variants=("chandy-lamport", "lai-yang"),
        seed=seed,
        **args,
    )


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert build_schedule(_plan(3)) == build_schedule(_plan(3))
    assert build_schedule(_plan(3)) != build_schedule(_plan(4))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_kills_leave_someone_up_and_every_victim_comes_back(seed: int, nodes: int) -> None:
    schedule = build_schedule(_plan(seed, nodes))
    down: set[str] = set()
    for action in schedule:
        assert 0 < action.at <= 20.0
        if action.kind == "kill":
            assert action.node not in down
            down.add(action.node)
            assert len(down) < nodes
        elif action.kind == "restart":
            down.remove(action.node)
    assert not down


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_partitions_split_everyone_into_two_sides_and_heal(seed: int, nodes: int) -> None:
    schedule = build_schedule(_plan(seed, nodes))
    open_partition = False
    for action in schedule:
        if action.kind == "partition":
            assert not open_partition
            open_partition = True
            a, b = action.sides
            assert a and b and not set(a) & set(b)
            assert set(a) | set(b) == set(NODES[:nodes])
            for node in a:
                assert blocked_peers(action.sides, node) == sorted(b)
        elif action.kind == "heal":
            open_partition = False
    assert not open_partition


def test_snapshots_rotate_initiators_and_variants() -> None:
    snaps = [a for a in build_schedule(_plan(1, 3)) if a.kind == "snapshot"]
    assert [a.node for a in snaps[:4]] == ["P1", "P2", "P3", "P1"]
    assert [a.variant for a in snaps[:3]] == ["chandy-lamport", "lai-yang", "chandy-lamport"]
    none = build_schedule(_plan(1, 3, kill_every=0, partition_every=0, snapshot_every=0))
    assert none == []


def test_the_replay_command_carries_every_flag() -> None:
    options = StressOptions(
        config=Path("configs/local3.json"),
        run_dir=Path("runs/x"),
        duration=20,
        loss=0.2,
        dup=0.05,
        reorder=0.2,
        kill_every=5,
        partition_every=7,
        variants=("lai-yang",),
        seed=3,
    )
    cmd = replay_command(options)
    for part in ("--loss 0.2", "--dup 0.05", "--reorder", "--kill-every 5", "--seed 3"):
        assert part in cmd
    assert "--partition-every 7" in cmd and "--variant lai-yang" in cmd


def test_bad_stress_flags_name_the_flag() -> None:
    runner = CliRunner()
    cases = [
        (["--duration", "0"], "--duration"),
        (["--loss", "1.5"], "--loss"),
        (["--kill-every", "0.01"], "--kill-every"),
        (["--variant", "chandy"], "--variant"),
        (["--seed", "-1"], "--seed"),
        (["--rate", "0"], "--rate"),
        (["--netns", "maybe"], "--netns"),
    ]
    for args, flag in cases:
        result = runner.invoke(app, ["stress", "--config", "configs/local3.json", *args])
        assert result.exit_code == 2, result.output
        assert flag in result.output and "Traceback" not in result.output
    lossy = runner.invoke(
        app, ["stress", "--config", "configs/local3.json", "--no-repair", "--variant", "lai-yang"]
    )
    assert lossy.exit_code == 2 and "--variant" in lossy.output
