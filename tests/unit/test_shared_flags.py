"""Flags that several commands share have one meaning, one help text and one range.

``--reorder`` is a probability everywhere, ``--seed`` a non-negative integer
with the same help, ``--rate`` and ``--chat-rate`` the same range, and each
``--variant`` error lists exactly what that command accepts.
"""

from __future__ import annotations

import random
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.cli.options import MAX_RATE, REORDER_HELP, SEED_HELP, bare_reorder
from zmqcast.sim.network import FaultModel, SimNetwork
from zmqcast.sim.runner import SimParams, simulate

SEEDED = ("node", "launch", "sim", "sweep", "bank", "stress")
"""Every command that takes ``--seed``."""


def _config(tmp_path: Path, channel: str = "fifo") -> str:
    nodes = [{"id": f"P{i}", "host": "127.0.0.1", "port": 47_400 + i} for i in (1, 2, 3)]
    path = tmp_path / f"{channel}.json"
    path.write_bytes(orjson.dumps({"nodes": nodes, "channel": channel}))
    return str(path)


def _argv(command: str, config: str, *args: str) -> list[str]:
    """A command line of ``command`` that gets as far as checking ``args``."""
    if command == "node":
        return [command, "--config", config, "--id", "P1", *args]
    if command == "launch":
        return [command, config, *args]
    if command in ("bank", "stress", "snapshot"):
        return [command, "--config", config, *args]
    return [command, *args]


def _error(argv: list[str]) -> str:
    """The one line a bad flag prints (exit status 2, no traceback)."""
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def _option(command: str, name: str) -> Any:
    """The parsed option ``name`` of ``command``, as the CLI declares it."""
    group: Any = typer.main.get_command(app)
    cmd = group.commands[command]
    return next(p for p in cmd.params if name in getattr(p, "opts", ()))


# ------------------------------------------------------------------ --seed
def test_seed_has_one_help_text_everywhere() -> None:
    for command in SEEDED:
        assert _option(command, "--seed").help == SEED_HELP, command


@pytest.mark.parametrize("command", SEEDED)
@pytest.mark.parametrize("seed", ["-1", str(1 << 63)])
def test_a_bad_seed_gets_the_same_line_everywhere(tmp_path: Path, command: str, seed: str) -> None:
    line = _error(_argv(command, _config(tmp_path), "--seed", seed))
    assert line == f"error: --seed: must be an integer from 0 to 2^63 - 1, got {seed}"


# ------------------------------------------------------------------ rates
@pytest.mark.parametrize(
    ("command", "flag", "value", "low"),
    [
        ("node", "--chat-rate", "-1", "[0"),
        ("node", "--chat-rate", "100001", "[0"),
        ("launch", "--chat-rate", "100001", "[0"),
        ("stress", "--chat-rate", "100001", "[0"),
        ("stress", "--rate", "0", "(0"),
        ("stress", "--rate", "100001", "(0"),
        ("bank", "--rate", "100001", "(0"),
        ("launch", "--rate", "100001", "(0"),
    ],
)
def test_rates_have_one_range(
    tmp_path: Path, command: str, flag: str, value: str, low: str
) -> None:
    args = [flag, value]
    if command in ("node", "launch") and flag == "--rate":
        args.insert(0, "--bank")
    line = _error(_argv(command, _config(tmp_path), *args))
    assert line == f"error: {flag}: must be in {low}, {MAX_RATE:.0f}] per second, got {value}"


def test_node_rate_is_checked_with_bank(tmp_path: Path) -> None:
    line = _error(_argv("node", _config(tmp_path), "--bank", "--rate", "0"))
    assert line.startswith("error: --rate: must be in (0, 100000] per second")


# ------------------------------------------------------------------ --reorder
def test_reorder_is_a_probability_on_every_command(tmp_path: Path) -> None:
    config = _config(tmp_path)
    for command in ("node", "launch", "bank", "stress"):
        assert _option(command, "--reorder").help == REORDER_HELP, command
        line = _error(_argv(command, config, "--reorder", "1.5"))
        assert line == "error: --reorder: must be in [0, 1), got 1.5", command
    # The simulator's reordering delays frames; 1 delays every one of them.
    assert _error(["sim", "--reorder", "1.5"]) == "error: --reorder: must be in [0, 1], got 1.5"
    for command in ("sim", "bank", "stress", "node", "launch"):
        assert not _option(command, "--reorder").is_flag, command


def test_sim_reorder_one_replays_the_former_switch_exactly() -> None:
    """At 1 no draw decides whether a frame is delayed, so the network's
    generator makes exactly the draws of the former ``--reorder`` switch."""
    net = SimNetwork(FaultModel(reorder=1.0), random.Random(5))
    plain = random.Random(5)
    for i in range(100):
        [at] = net.arrivals("P1", "P2", "data", float(i))
        assert at == float(i) + (0.001 + plain.uniform(0.0, 0.02))


def test_sim_reorder_delays_about_its_share_of_frames() -> None:
    net = SimNetwork(FaultModel(reorder=0.3), random.Random(1))
    delayed = sum(net.arrivals("P1", "P2", "data", 0.0) != [0.001] for _ in range(4000))
    assert 1000 <= delayed <= 1400
    quiet = SimNetwork(FaultModel(reorder=0.0), random.Random(1))
    assert all(quiet.arrivals("P1", "P2", "data", 0.0) == [0.001] for _ in range(100))


def test_a_partial_reorder_run_replays_from_its_command() -> None:
    params = SimParams(nodes=4, messages=20, loss=0.1, reorder=0.4, seed=8)
    first = simulate(params)
    assert first.ok, first.failure()
    assert first.summary["faults"]["reordered"] > 0
    argv = shlex.split(params.command())[1:]
    assert argv[argv.index("--reorder") + 1] == "0.4"
    replay = CliRunner().invoke(app, [*argv, "--json"])
    assert replay.exit_code == 0, replay.output
    assert orjson.loads(replay.stdout)["virtual_time"] == first.summary["virtual_time"]


# ------------------------------------------------------------------ --variant
def test_each_variant_error_lists_exactly_what_the_command_takes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    every = "chandy-lamport, lai-yang, sender-log or all"
    for command in ("bank", "stress"):
        line = _error(_argv(command, config, "--variant", "marker"))
        assert line == f"error: --variant: must be one of {every}, got 'marker'"
    line = _error(_argv("node", config, "--bank", "--variant", "marker"))
    assert line == f"error: --variant: must be one of {every}, got 'marker'"
    one = "chandy-lamport, lai-yang or sender-log"
    for variant in ("all", "marker"):
        line = _error(_argv("snapshot", config, "--initiator", "P1", "--variant", variant))
        assert line == f"error: --variant: must be one of {one}, got {variant!r}"


def test_a_variant_the_channels_cannot_carry_names_those_they_can(tmp_path: Path) -> None:
    lossy = _config(tmp_path, "lossy")
    line = _error(_argv("bank", lossy, "--variant", "lai-yang"))
    assert line == (
        "error: --variant: lai-yang does not work over lossy channels (these do: sender-log)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sim", "--reorder", "--seed", "3"], ["sim", "--reorder", "1", "--seed", "3"]),
        (["sim", "--seed", "3", "--reorder"], ["sim", "--seed", "3", "--reorder", "1"]),
        (["stress", "--reorder", "--loss", "0.1"], ["stress", "--reorder", "0.2", "--loss", "0.1"]),
        (["bank", "--reorder", "0.05"], ["bank", "--reorder", "0.05"]),
        (["sim", "--loss", "0.3"], ["sim", "--loss", "0.3"]),
    ],
)
def test_a_bare_reorder_means_the_commands_default(argv: list[str], expected: list[str]) -> None:
    assert bare_reorder(argv) == expected


def test_a_replay_command_with_a_bare_reorder_runs_as_with_reorder_1() -> None:
    """Replay commands printed before ``--reorder`` took a number still work."""
    base = [sys.executable, "-m", "zmqcast", "sim", "--nodes", "4", "--messages", "20"]
    tail = ["--topology", "ring", "--loss", "0.2", "--seed", "5"]
    bare = subprocess.run([*base, "--reorder", *tail], capture_output=True, text=True, check=False)
    one = subprocess.run(
        [*base, "--reorder", "1", *tail], capture_output=True, text=True, check=False
    )
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == one.stdout
    assert "reordered" in bare.stdout and " 0 reordered" not in bare.stdout
