"""The seed demo over real node processes and real ZeroMQ sockets on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.cluster import launch_auto, write_config
from zmqcast.cli import app
from zmqcast.cli.check import load_events


@pytest.mark.timeout(120)
def test_seed_demo_delivers_everything_exactly_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "local3.json", 3)
    run_dir = tmp_path / "run"
    done = launch_auto(config, run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sent: Hello everyone!" in done.stdout
    assert "Delivered: Final message from P3 | from=P3" in done.stdout

    events = load_events(run_dir)
    sent = {(e["origin"], e["oepoch"], e["oseq"]): e for e in events if e["kind"] == "multicast"}
    assert len(sent) == 3
    for node in ("P1", "P2", "P3"):
        delivered = [
            (e["origin"], e["oepoch"], e["oseq"])
            for e in events
            if e["node"] == node and e["kind"] == "deliver"
        ]
        # Exactly once, everything but its own message.
        assert sorted(delivered) == sorted(k for k in sent if k[0] != node)
        ticks = [
            e["lamport"]
            for e in events
            if e["node"] == node and e["kind"] in {"multicast", "deliver", "duplicate", "held"}
        ]
        assert ticks == sorted(set(ticks)), f"{node}: Lamport values must strictly increase"
    for e in events:
        if e["kind"] == "deliver":
            assert e["lamport"] > sent[(e["origin"], e["oepoch"], e["oseq"])]["lamport"]

    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 0, checked.output
    assert "VIOLATED" not in checked.output


def test_node_with_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [{"id": "P1", "host": "127.0.0.1", "port": 99999}]}')
    result = CliRunner().invoke(app, ["node", "--config", str(bad), "--id", "P1"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1
    assert "nodes[0].port" in lines[0]


def test_node_with_unknown_id_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2)
    result = CliRunner().invoke(app, ["node", "--config", str(config), "--id", "P9"])
    assert result.exit_code == 2
    assert "--id" in result.output


@pytest.mark.timeout(60)
def test_the_seed_demo_runs_secure_too(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    run_dir = tmp_path / "run"
    done = launch_auto(config, run_dir, "--secure")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(secure)" in done.stderr + done.stdout
    delivered = [e for e in load_events(run_dir) if e["kind"] == "deliver"]
    assert len(delivered) == 6  # three lines, each delivered at the two other nodes
    assert not [e for e in load_events(run_dir) if e["kind"] == "bad_frame"]


@pytest.mark.timeout(150)
def test_seed_demo_under_injected_loss_passes_check(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    run_dir = tmp_path / "run"
    done = launch_auto(
        config,
        run_dir,
        *("--loss", "0.2", "--dup", "0.05", "--delay", "0.1", "--reorder", "0.2", "--seed", "7"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = load_events(run_dir)
    injected = {e["kind"] for e in events if e["kind"].startswith("inject_")}
    assert injected == {"inject_drop", "inject_dup", "inject_delay", "inject_reorder"}
    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 0, checked.output


def test_bad_loss_flag_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2)
    result = CliRunner().invoke(app, ["launch", str(config), "--loss", "1.5"])
    assert result.exit_code == 2
    assert "--loss" in result.output
