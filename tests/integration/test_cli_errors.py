"""Environment errors at the CLI: one line naming what was wrong, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from tests.integration.cluster import write_config
from zmqcast.cli import app


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_node_whose_port_is_taken(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2)
    port = orjson.loads(config.read_bytes())["nodes"][0]["port"]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        result = CliRunner().invoke(
            app, ["node", "--config", str(config), "--id", "P1", "--run-dir", str(tmp_path / "r")]
        )
    finally:
        squatter.close()
    assert result.exit_code == 2
    line = _one_line(result.output)
    assert "--id P1" in line
    assert str(port) in line


def test_launch_with_unusable_run_dir(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["launch", str(config), "--run-dir", str(blocker / "run")])
    assert result.exit_code == 2
    assert "--run-dir" in _one_line(result.output)


def test_sim_with_unwritable_trace(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(
        app, ["sim", "--messages", "1", "--trace", str(blocker / "trace.jsonl")]
    )
    assert result.exit_code == 2
    assert "--trace" in result.output.splitlines()[-1]
    assert "Traceback" not in result.output


def test_check_with_malformed_events(tmp_path: Path) -> None:
    """Events with the common fields whose kind-specific fields are wrong."""
    events = tmp_path / "run" / "events"
    events.mkdir(parents=True)
    deliver = b'{"node": "P1", "inc": 1, "kind": "deliver", "lamport": 1, "time": 0.5}\n'
    (events / "P1.jsonl").write_bytes(deliver)  # no origin, oepoch, oseq...
    result = CliRunner().invoke(app, ["check", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "malformed event log" in _one_line(result.output)


def test_check_names_the_file_and_line_of_a_line_that_is_not_an_event(tmp_path: Path) -> None:
    events = tmp_path / "run" / "events"
    events.mkdir(parents=True)
    (events / "P1.jsonl").write_bytes(b'{"kind": "deliver"}\n{"kind": "start"}\n')
    result = CliRunner().invoke(app, ["check", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert _one_line(result.output) == (
        f'error: {events / "P1.jsonl"}:1: not an event: no "node" field'
    )


def test_check_skips_multicast_invariants_on_a_lean_trace(tmp_path: Path) -> None:
    """A lean trace has no deliveries; checking it would report false violations."""

    def run(trace: str) -> tuple[int, str]:
        events = tmp_path / trace / "events"
        events.mkdir(parents=True)
        for node in ("P1", "P2"):
            start: dict[str, Any] = {"node": node, "inc": 1, "kind": "start", "lamport": 0}
            start.update({"time": 0.0, "out": [], "in": [], "mode": "fifo", "trace": trace})
            lines = [start]
            if node == "P1":
                sent: dict[str, Any] = {"node": node, "inc": 1, "kind": "multicast", "lamport": 1}
                sent.update({"time": 0.1, "origin": "P1", "oepoch": 1, "oseq": 1, "size": 3})
                lines.append(sent)
            (events / f"{node}.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
        result = CliRunner().invoke(app, ["check", str(tmp_path / trace)])
        return result.exit_code, result.output

    code, output = run("full")
    assert code == 1 and "validity" in output and "VIOLATED" in output
    code, output = run("lean")
    assert code == 0, output
    assert "not checked" in output and "VIOLATED" not in output
