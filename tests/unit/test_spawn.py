"""The node command line built from typed flags, and how a node child is started.

Every launcher's argv comes from :func:`node_command`, so these pin the exact
argv for the shapes they use, and that every flag it emits is one `zmqcast
node` really takes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core

from zmqcast.cli import app
from zmqcast.runtime import spawn
from zmqcast.runtime.spawn import BankFlags, BenchFlags, Faults, NodeFlags, node_command

BASE = [sys.executable, "-m", "zmqcast", "node", "--config", "c.json", "--id", "P2"]
BASE += ["--run-dir", "runs/r"]


def _cmd(flags: NodeFlags | None = None) -> list[str]:
    return node_command(Path("c.json"), "P2", Path("runs/r"), flags)


def test_no_flags_is_config_id_and_run_dir_only() -> None:
    assert _cmd() == BASE
    assert _cmd(NodeFlags()) == BASE


def test_launch_flags_output_switches_then_faults_then_the_bank() -> None:
    flags = NodeFlags(
        auto=True,
        verbose=True,
        json=True,
        faults=Faults(loss=0.1, delay=0.05, seed=3),
        bank=BankFlags(rate=5.0, duration=86_400, snapshot_every=0),
    )
    assert _cmd(flags) == [
        *BASE,
        *("--auto", "--verbose", "--json"),
        *("--loss", "0.1", "--delay", "0.05", "--seed", "3"),
        *("--bank", "--rate", "5.0", "--duration", "86400", "--snapshot-every", "0"),
    ]


def test_zero_faults_are_passed_and_unset_ones_are_not() -> None:
    """0.0 overrides the config's value; ``None`` leaves it alone."""
    flags = NodeFlags(
        faults=Faults(loss=0.0, dup=0.0, reorder=0.2, seed=0),
        bank=BankFlags(rate=50.0, duration=10.0, snapshot_every=1.0, variant="all"),
    )
    assert _cmd(flags) == [
        *BASE,
        *("--loss", "0.0", "--dup", "0.0", "--reorder", "0.2", "--seed", "0"),
        *("--bank", "--rate", "50.0", "--duration", "10.0", "--snapshot-every", "1.0"),
        *("--variant", "all"),
    ]


def test_stress_flags_bank_with_a_variant_and_chat() -> None:
    bank = BankFlags(rate=20.0, duration=86400, snapshot_every=0, variant="lai-yang")
    assert _cmd(NodeFlags(bank=bank, chat_rate=0.0)) == [
        *BASE,
        *("--bank", "--rate", "20.0", "--duration", "86400", "--snapshot-every", "0"),
        *("--variant", "lai-yang", "--chat-rate", "0.0"),
    ]


@pytest.mark.parametrize(
    ("bench", "tail"),
    [
        (
            BenchFlags(size=64, expect=2000, send=1000, checkpoint=500),
            ["--bench-size", "64", "--bench-checkpoint", "500", "--bench-send", "1000"],
        ),
        (BenchFlags(size=1024, expect=3000), ["--bench-size", "1024", "--bench-checkpoint", "0"]),
    ],
)
def test_bench_flags_send_only_when_sending(bench: BenchFlags, tail: list[str]) -> None:
    assert _cmd(NodeFlags(bench=bench)) == [*BASE, *tail, "--bench-expect", str(bench.expect)]


def test_every_flag_built_is_an_option_of_zmqcast_node() -> None:
    every = NodeFlags(
        auto=True,
        verbose=True,
        json=True,
        faults=Faults(loss=0.1, dup=0.1, delay=0.1, reorder=0.1, seed=1),
        bank=BankFlags(rate=1, duration=1, snapshot_every=1, variant="all"),
        chat_rate=1,
        bench=BenchFlags(size=8, expect=1, send=1, checkpoint=1),
    )
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    node = group.commands["node"]
    known = {opt for param in node.params for opt in param.opts}
    built = [arg for arg in _cmd(every) if arg.startswith("--")]
    assert set(built) <= known, set(built) - known
    assert len(built) == len(set(built))


def test_spawn_node_wraps_the_command_and_sets_its_session_and_stdio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def fake_popen(argv: list[str], **kwargs: Any) -> None:
        seen.update(kwargs, argv=argv)

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    wrapper = ["ip", "netns", "exec", "zc-P2"]
    spawn.spawn_node(Path("c.json"), "P2", Path("runs/r"), stdout=7, wrapper=wrapper)
    assert seen["argv"] == [*wrapper, *BASE]
    assert (seen["stdin"], seen["stdout"], seen["stderr"]) == (
        subprocess.DEVNULL,
        7,
        subprocess.STDOUT,
    )
    assert seen["start_new_session"] is True
    assert seen["env"]["PYTHONUNBUFFERED"] == "1"

    seen.clear()
    spawn.spawn_node(Path("c.json"), "P2", Path("runs/r"), own_session=False, unbuffered=False)
    assert seen["argv"] == BASE and seen["stdout"] == subprocess.PIPE
    assert seen["start_new_session"] is False and seen["env"] is None
