"""SimParams: validation, the core config it implies, and exact replay commands."""

from __future__ import annotations

import itertools
import shlex

import pytest
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.core.config import ChannelMode, Relay
from zmqcast.sim.runner import SimParams, Simulation, simulate


def test_window_reaches_the_core_and_reorder_limit_keeps_up() -> None:
    assert SimParams(window=8).core_config().window == 8
    assert SimParams(window=8).core_config().reorder_limit == 4096
    big = SimParams(window=10_000).core_config()
    assert (big.window, big.reorder_limit) == (10_000, 10_000)
    assert Simulation(SimParams(window=32)).cfg.window == 32


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": 65_537}, "window"),
        ({"messages": -1}, "messages"),
        ({"send_interval": 0.0}, "send_interval"),
        ({"max_time": 0.0}, "max_time"),
        ({"workload": "video"}, "workload"),
        ({"reorder": 1.5}, "reorder"),
        ({"reorder": -0.1}, "reorder"),
        ({"snapshots": 2}, "snapshots"),  # chat has no balances to snapshot
    ],
)
def test_bad_params_are_rejected(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        SimParams(**fields)  # type: ignore[arg-type]


def test_command_carries_every_non_default_setting_exactly() -> None:
    params = SimParams(
        nodes=4,
        messages=7,
        loss=0.1234567891,
        dup=0.05,
        reorder=0.35,
        topology="ring",
        channel=ChannelMode.UNORDERED,
        partition=True,
        crash=True,
        seed=99,
        workload="mixed",
        snapshots=2,
        variant="lai-yang",
        window=32,
        max_time=12.5,
        send_interval=0.02,
    )
    argv = shlex.split(params.command())
    flags = {a: b for a, b in itertools.pairwise(argv) if a.startswith("--")}
    assert argv[:2] == ["zmqcast", "sim"]
    assert float(flags["--loss"]) == params.loss  # not rounded to six digits
    assert float(flags["--reorder"]) == 0.35
    assert flags["--window"] == "32"
    assert flags["--workload"] == "mixed"
    assert float(flags["--max-time"]) == 12.5
    assert float(flags["--send-interval"]) == 0.02
    for flag in ("--reorder", "--partition", "--crash"):
        assert flag in argv


def test_defaults_keep_the_command_short() -> None:
    cmd = SimParams().command()
    for flag in ("--window", "--max-time", "--send-interval", "--workload"):
        assert flag not in cmd
    assert "--loss 0 " in cmd


def test_mixed_workload_multicasts_and_transfers_from_every_node() -> None:
    params = SimParams(nodes=3, messages=6, workload="mixed", snapshots=2, seed=4)
    result = simulate(params)
    assert result.ok, result.failure()
    multicasts = [e for e in result.events if e["kind"] == "multicast"]
    transfers = [e for e in result.events if e["kind"] == "app_send"]
    for node in ("P1", "P2", "P3"):
        assert sum(e["node"] == node for e in multicasts) == 6
        assert sum(e["node"] == node for e in transfers) == 6
    # Interleaved, not one kind after the other: some node sends a multicast
    # after one of its transfers and a transfer after one of its multicasts.
    order = sorted(multicasts + transfers, key=lambda e: (e["node"], e["lamport"]))
    kinds = ["".join(e["kind"][0] for e in order if e["node"] == n) for n in ("P1", "P2", "P3")]
    assert any("am" in k and "ma" in k for k in kinds), kinds
    # The bank is attached, so snapshots record balances and conservation is checked.
    assert result.summary["app"]["sent"] == 18
    assert result.snapshots and all(v.ok for v in result.snapshots)
    assert all(v.result("conservation").checked > 0 for v in result.snapshots)


def _sim(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sim", *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--window", "0"], "--window"),
        (["--window", "70000"], "--window"),
        (["--max-time", "0"], "--max-time"),
        (["--send-interval", "0"], "--send-interval"),
        (["--workload", "video"], "--workload"),
        (["--snapshots", "2"], "--snapshots"),
    ],
)
def test_sim_rejects_bad_new_flags(args: list[str], flag: str) -> None:
    code, err = _sim(*args)
    assert code == 2
    assert err.strip().startswith(f"error: {flag}: ")


def test_sim_runs_the_mixed_workload_with_a_small_window() -> None:
    code, err = _sim("--nodes", "3", "--messages", "5", "--workload", "mixed", "--window", "4")
    assert code == 0, err


def test_a_bad_relay_is_one_line_naming_the_flag() -> None:
    result = CliRunner().invoke(app, ["sim", "--relay", "gossip"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --relay: "), result.output


def test_the_replay_command_names_a_flooding_run_and_replays_it() -> None:
    params = SimParams(nodes=4, messages=3, relay=Relay.FLOOD, seed=5)
    assert "--relay flood" in params.command()
    assert "--relay" not in SimParams(nodes=4, messages=3, seed=5).command()
    argv = shlex.split(params.command())[1:]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "flood relay" in result.output.splitlines()[0]
