"""The nemesis schedule: replayable from its seed, never unfair to the cluster, and
the stress report's verdict, which a required invariant that checked nothing fails."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zmqcast.check.report import InvariantResult
from zmqcast.cli import app
from zmqcast.cli.stress import replay_command, report_lines
from zmqcast.stress.harness import StressOptions, StressReport, still_coming_back
from zmqcast.stress.schedule import (
    AFTERLIFE,
    PAUSE,
    Plan,
    blocked_peers,
    build_schedule,
    spared_nodes,
)

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
    down: dict[str, float] = {}
    for action in schedule:
        assert 0 < action.at <= 20.0
        if action.kind == "kill":
            assert action.node not in down
            down[action.node] = action.at
            assert len(down) < nodes
        elif action.kind == "restart":
            killed_at = down.pop(action.node)
            assert PAUSE[0] <= action.at - killed_at <= PAUSE[1]
            # The new incarnation gets workload to be judged on before the end.
            assert action.at <= 20.0 - AFTERLIFE
    assert not down


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_spared_nodes_are_never_killed_and_the_others_are(seed: int, nodes: int) -> None:
    plan = _plan(seed, nodes, kill_every=0.5)
    spared = spared_nodes(plan)
    # ceil(N/3), at least two (validity needs two correct nodes), at most N - 1.
    assert len(spared) == min(nodes - 1, max(2, -(-nodes // 3)))
    assert list(spared) == sorted(spared, key=NODES.index)  # node order, no repeats
    assert spared == spared_nodes(plan)  # a pure function of the plan
    killed = {a.node for a in build_schedule(plan) if a.kind == "kill"}
    assert killed and not killed & set(spared)
    # 40 kills over at most 7 victims: every node that may be killed is.
    assert killed == set(NODES[:nodes]) - set(spared)


def test_the_spared_nodes_follow_the_seed() -> None:
    choices = {spared_nodes(_plan(seed, 5)) for seed in range(30)}
    assert len(choices) > 3  # not always the same nodes
    assert all(len(c) == 2 for c in choices)  # ceil(5/3) = 2
    assert len(spared_nodes(_plan(0, 8))) == 3


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
    for part in ("--loss 0.2", "--dup 0.05", "--reorder 0.2", "--kill-every 5", "--seed 3"):
        assert part in cmd
    assert "--partition-every 7" in cmd and "--variant lai-yang" in cmd


def test_bad_stress_flags_name_the_flag() -> None:
    runner = CliRunner()
    cases = [
        (["--duration", "0"], "--duration"),
        (["--loss", "1.5"], "--loss"),
        (["--reorder", "1.5"], "--reorder"),
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


def _report_with(*results: InvariantResult, required: tuple[str, ...]) -> StressReport:
    options = StressOptions(config=Path("c.json"), run_dir=Path("runs/x"), kill_every=2)
    report = StressReport(options, 5, "fifo", spared=("P2", "P5"), required=required)
    report.invariants.extend(results)
    return report


def test_a_required_invariant_over_nothing_fails_the_run_in_one_line() -> None:
    validity = InvariantResult("validity", True, 0, 0, "every node was restarted", unit="pairs")
    lamport = InvariantResult("lamport", True, 4466, 0, "", unit="events")
    report = _report_with(validity, lamport, required=("validity",))
    assert not report.ok and report.unchecked == [validity]
    lines = report_lines(report)
    assert "  nodes never restarted: 0 of 5; never killed: P2, P5" in lines
    assert "  validity                   not checked (0 pairs: every node was restarted)" in lines
    assert "  lamport                    held (4,466 events checked)" in lines
    assert lines[-1] == (
        "NOT CHECKED: validity (0 pairs: every node was restarted); "
        "the run was meant to exercise them"
    )


def test_an_invariant_the_run_did_not_set_out_to_test_may_check_nothing() -> None:
    restart = InvariantResult("restart-validity", True, 0, 0, "no node was restarted", unit="pairs")
    report = _report_with(restart, required=("validity",))
    assert report.ok
    assert report_lines(report)[-1] == "all invariants held (not exercised: restart-validity)"
    broken = InvariantResult("fifo", False, 10, 1, "P2#1 delivered P1:1:3 after P1:1:4")
    both = _report_with(broken, restart, required=("restart-validity",))
    assert report_lines(both)[-1] == (
        "INVARIANTS VIOLATED: fifo; NOT CHECKED: restart-validity "
        "(0 pairs: no node was restarted); the run was meant to exercise them"
    )


def test_the_run_is_extended_until_every_restarted_node_has_had_its_afterlife() -> None:
    # A restart the harness has not yet seen connected keeps the workload on;
    # one connected less than AFTERLIFE ago too; one connected long enough not.
    came_back: dict[str, float | None] = {"P3": None, "P4": 100.0, "P5": 90.0}
    assert still_coming_back(came_back, 100.0 + AFTERLIFE / 2) == ["P3", "P4"]
    came_back["P3"] = 101.0
    assert still_coming_back(came_back, 100.0 + AFTERLIFE) == ["P3"]
    assert still_coming_back(came_back, 101.0 + AFTERLIFE) == []
    assert still_coming_back({}, 0.0) == []
