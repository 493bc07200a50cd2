"""A silent peer is reported as suspected, then as alive when it speaks again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.cluster import NodeProcess, events_of, write_config
from zmqcast.runtime.spawn import NodeFlags


@pytest.mark.timeout(90)
def test_a_stopped_peer_is_suspected_then_alive_again(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.json", 2, timeouts={"heartbeat": 0.1, "suspect_after": 0.6}
    )
    run_dir = tmp_path / "run"
    p1 = NodeProcess(config, "P1", run_dir, NodeFlags(verbose=True))
    p2 = NodeProcess(config, "P2", run_dir)
    try:
        p2.say("before the silence")
        p1.wait_for("Delivered: before the silence | from=P2", timeout=30)
        # SIGSTOP freezes P2 without closing its sockets: a silent peer, not a dead one.
        os.kill(p2.proc.pid, signal.SIGSTOP)
        p1.wait_for("suspect: peer=P2", timeout=20)
        p1.say("while P2 is frozen")
        os.kill(p2.proc.pid, signal.SIGCONT)
        p1.wait_for("alive: peer=P2", timeout=20)
        p2.wait_for("Delivered: while P2 is frozen | from=P1", timeout=30)
        p2.say("after the silence")
        p1.wait_for("Delivered: after the silence | from=P2", timeout=30)
    finally:
        codes = [p1.stop(), p2.stop()]
    assert codes == [0, 0]
    kinds = [e["kind"] for e in events_of(run_dir) if e["node"] == "P1"]
    assert kinds.index("suspect") < kinds.index("alive")
