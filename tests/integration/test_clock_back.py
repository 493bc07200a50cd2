"""A node restarted behind its predecessor's incarnation still comes back higher.

A clock far ahead is simulated by a record in P2's log carrying an incarnation
now + 10**9 ms (about 11.6 days) ahead: P2 starts above it and talks with P1,
which so learns an incarnation far above the wall clock. P2 is then restarted
with the wall clock far behind that incarnation, the situation of a clock that
stepped back. Before the fix it came back as the wall clock, lower, and P1
dropped every frame of it.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import NodeProcess, events_of, write_config
from zmqcast.cli import app
from zmqcast.config import load_config
from zmqcast.runtime.node import NodeRuntime

TIMEOUTS = {"heartbeat": 0.2, "suspect_after": 1.0}


@pytest.mark.timeout(120)
def test_a_restart_behind_the_clock_takes_previous_plus_one_and_still_talks(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.json", 2, timeouts=TIMEOUTS)
    run_dir = tmp_path / "run"
    log = run_dir / "events" / "P2.jsonl"
    log.parent.mkdir(parents=True)
    ahead = int(time.time() * 1000) + 10**9
    forged = {"node": "P2", "inc": ahead, "kind": "stop", "lamport": 0}
    forged.update(time=round(time.monotonic(), 6), reason="signal")
    log.write_bytes(orjson.dumps(forged) + b"\n")

    nodes = {n: NodeProcess(config, n, run_dir) for n in ("P1", "P2")}
    try:
        notice = nodes["P2"].wait_for("warning: the clock", timeout=30)
        assert f"previous incarnation {ahead}; starting as {ahead + 1}" in notice
        nodes["P1"].say("before")
        nodes["P2"].wait_for("Delivered: before | from=P1", timeout=30)
        nodes["P2"].say("hello")
        nodes["P1"].wait_for("Delivered: hello | from=P2", timeout=30)
        assert nodes["P2"].stop() == 0

        # P1 knows P2 as ahead + 1, far above the clock: a restart must exceed it.
        nodes["P2"] = NodeProcess(config, "P2", run_dir)
        notice = nodes["P2"].wait_for("warning: the clock", timeout=30)
        assert f"previous incarnation {ahead + 1}; starting as {ahead + 2}" in notice
        nodes["P1"].say("after")
        nodes["P2"].wait_for("Delivered: after | from=P1", timeout=30)
        nodes["P2"].say("reply")
        nodes["P1"].wait_for("Delivered: reply | from=P2", timeout=30)
    finally:
        codes = {n: proc.stop() for n, proc in nodes.items()}
    assert codes == {"P1": 0, "P2": 0}

    events = events_of(run_dir)
    starts = [e["inc"] for e in events if e["node"] == "P2" and e["kind"] == "start"]
    assert starts == [ahead + 1, ahead + 2]
    backs = [e for e in events if e["kind"] == "clock_back"]
    assert [(e["node"], e["inc"], e["previous"]) for e in backs] == [
        ("P2", ahead + 1, ahead),
        ("P2", ahead + 2, ahead + 1),
    ]
    assert all(e["wall_ms"] < ahead for e in backs)

    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 0, checked.output
    assert "VIOLATED" not in checked.output


def test_the_runtime_takes_its_clock_from_the_wall_ms_it_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(write_config(tmp_path / "c.json", 2))
    run_dir = tmp_path / "run"
    log = run_dir / "events" / "P1.jsonl"
    log.parent.mkdir(parents=True)
    log.write_bytes(b'{"node":"P1","inc":5000,"kind":"stop","lamport":0,"time":1.0}\n')
    runtime = NodeRuntime(cfg, "P1", run_dir, wall_ms=lambda: 1_000)
    try:
        assert runtime.inc == 5_001
        events = runtime.core.start(time.monotonic()).events
    finally:
        runtime.transport.close()
        runtime.log.close()
    assert [e["kind"] for e in events][:2] == ["clock_back", "start"]
    assert events[0]["inc"] == 5_001
    assert (events[0]["previous"], events[0]["wall_ms"]) == (5_000, 1_000)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "[P1] warning: the clock (1000 ms) is not past the previous incarnation 5000; "
        "starting as 5001"
    ]
