"""kill -9 and restart one node of a real cluster under 20% injected loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.cluster import NodeProcess, events_of, write_config
from zmqcast.cli import app
from zmqcast.runtime.spawn import Faults, NodeFlags

FAULTS = NodeFlags(verbose=True, faults=Faults(loss=0.2, dup=0.05, seed=7))
PER_ROUND = 4


def _say_round(nodes: dict[str, NodeProcess], senders: list[str], tag: str) -> dict[str, str]:
    """Each sender multicasts PER_ROUND lines; return line -> origin."""
    said = {}
    for k in range(PER_ROUND):
        for n in senders:
            text = f"{tag} {n} #{k}"
            nodes[n].say(text)
            said[text] = n
    return said


def _expect(node: str, said: dict[str, str]) -> list[str]:
    return [f"Delivered: {text} | from={o}" for text, o in said.items() if o != node]


@pytest.mark.timeout(240)
def test_kill_9_and_restart_under_loss_every_correct_node_agrees(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, timeouts={"heartbeat": 0.2, "suspect_after": 1.0})
    run_dir = tmp_path / "run"
    nodes = {n: NodeProcess(config, n, run_dir, FAULTS) for n in ("P1", "P2", "P3")}
    try:
        before = _say_round(nodes, ["P1", "P2", "P3"], "before")
        for n, proc in nodes.items():
            proc.wait_for_all(_expect(n, before), timeout=60)

        nodes["P2"].kill()
        during = _say_round(nodes, ["P1", "P3"], "during")
        for n in ("P1", "P3"):
            nodes[n].wait_for_all(_expect(n, during), timeout=60)
        # The survivors notice the silent peer through the heartbeat.
        # Seen already, perhaps, while waiting for the deliveries above.
        for n in ("P1", "P3"):
            nodes[n].wait_for_all(["suspect: peer=P2"], timeout=30)

        nodes["P2"] = NodeProcess(config, "P2", run_dir, FAULTS)
        # Once both survivors hear the new P2, what they multicast comes after
        # its start, so restart-validity has pairs to check.
        for n in ("P1", "P3"):
            nodes[n].wait_for("alive: peer=P2", timeout=30)
        after = _say_round(nodes, ["P1", "P2", "P3"], "after")
        for n, proc in nodes.items():
            proc.wait_for_all(_expect(n, after), timeout=90)
        # Multicast while it was down, after its predecessor's crash: the
        # restarted node gets these through its neighbours' replay.
        nodes["P2"].wait_for_all(_expect("P2", during), timeout=60)
    finally:
        codes = {n: proc.stop() for n, proc in nodes.items()}
    assert codes == {"P1": 0, "P2": 0, "P3": 0}

    events = events_of(run_dir)
    incarnations = {e["inc"] for e in events if e["node"] == "P2" and e["kind"] == "start"}
    assert len(incarnations) == 2, "P2 ran twice, with two incarnations"
    assert any(e["kind"] == "inject_drop" for e in events)
    assert any(e["kind"] == "retransmit" for e in events)

    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 0, checked.output
    assert "restart-validity  held" in checked.output
    assert "agreement         held" in checked.output
