"""``zmqcast status``: a table of every node of a running cluster, down ones included."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import NodeProcess, events_of, wait_until, write_config
from zmqcast.cli import app


@pytest.mark.timeout(90)
def test_status_shows_every_node_and_a_silent_one_as_down(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    run_dir = tmp_path / "run"
    nodes = [NodeProcess(config, n, run_dir) for n in ("P1", "P2")]
    try:
        nodes[0].say("hello")
        nodes[1].wait_for("Delivered: hello | from=P1", 30)

        def started() -> dict[str, int]:
            return {e["node"]: e["inc"] for e in events_of(run_dir) if e["kind"] == "start"}

        wait_until(lambda: len(started()) == 2, 10, "both nodes to log their start")
        incs = started()
        runner = CliRunner()
        table = runner.invoke(app, ["status", "--config", str(config), "--timeout", "2"])
        assert table.exit_code == 1, table.output  # P3 is down
        lines = table.stdout.splitlines()
        assert lines[0].split()[:4] == ["node", "state", "incarnation", "lamport"]
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert rows["P1"][1:3] == ["up", str(incs["P1"])]
        assert rows["P2"][1:3] == ["up", str(incs["P2"])]
        assert rows["P3"][1] == "down"
        # P3 never answered its handshake: P1 is not connected to every peer.
        as_json = runner.invoke(app, ["status", "--config", str(config), "--json"])
        records = {r["node"]: r for r in map(orjson.loads, as_json.stdout.splitlines())}
        assert records["P3"] == {"node": "P3", "up": False}
        assert records["P1"]["up"] and records["P1"]["multicasts"] == 1
        assert records["P1"]["connected"] is False
        bad = runner.invoke(app, ["status", "--config", str(config), "--timeout", "0"])
        assert bad.exit_code == 2 and "--timeout" in bad.output
    finally:
        assert [n.stop() for n in nodes] == [0, 0]
