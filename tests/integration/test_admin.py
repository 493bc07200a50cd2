"""The admin lane against real nodes: `zmqcast snapshot`, live partitions, bank restarts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq
from typer.testing import CliRunner

from tests.integration.cluster import (
    NodeProcess,
    events_of,
    wait_until,
    write_config,
    zmqcast_cmd,
)
from zmqcast.cli import app
from zmqcast.cli.check import check_run
from zmqcast.config import load_config
from zmqcast.runtime.admin import AdminClient
from zmqcast.runtime.spawn import BankFlags, Faults, NodeFlags
from zmqcast.stress.cluster import Cluster

FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}


def _status(config: Path, node: str) -> dict[str, Any]:
    with AdminClient(load_config(config).node(node).endpoint) as client:
        reply = client.call("status", timeout=5)
    assert reply is not None and reply["ok"], reply
    return reply


@pytest.mark.timeout(90)
def test_snapshot_command_asks_a_launched_cluster(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    launch = subprocess.Popen(
        zmqcast_cmd("launch", str(config), "--bank", "--rate", "40", "--run-dir", str(run_dir)),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: sum(e["kind"] == "app_recv" for e in events_of(run_dir)) >= 20,
            30,
            "transfers on the launched cluster",
        )
        for variant in ("chandy-lamport", "lai-yang"):
            done = subprocess.run(
                zmqcast_cmd(
                    "snapshot", "--config", str(config), "--initiator", "P2", "--variant", variant
                ),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            written = [ln for ln in done.stdout.splitlines() if "global snapshot written" in ln]
            path = Path(written[0].rsplit(" ", 1)[1])
            snap = orjson.loads(path.read_bytes())
            assert snap["variant"] == variant and snap["initiator"] == "P2"
            assert set(snap["records"]) == {"P1", "P2", "P3"}
            assert "total money (balances + in channels): 3000" in done.stdout
    finally:
        launch.terminate()
        launch.wait(timeout=20)
    assert check_run(run_dir, require_snapshots=True)


def test_snapshot_command_errors_name_the_flag(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    runner = CliRunner()
    cases = [
        (["--initiator", "P9"], "--initiator"),
        (["--initiator", "P1", "--variant", "all"], "--variant"),
        (["--initiator", "P1", "--variant", "lai"], "--variant"),
        (["--initiator", "P1", "--timeout", "0"], "--timeout"),
        # Nothing listens on the config's ports: a clear error, not a hang.
        (["--initiator", "P1"], "did not answer"),
    ]
    for args, needle in cases:
        result = runner.invoke(app, ["snapshot", "--config", str(config), *args])
        assert result.exit_code == 2, result.output
        assert needle in result.output
        assert "Traceback" not in result.output


@pytest.mark.timeout(60)
def test_a_partition_set_over_the_admin_lane_holds_and_heals(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, **FAST)
    run_dir = tmp_path / "run"
    nodes = [NodeProcess(config, p, run_dir) for p in ("P1", "P2")]
    endpoints = {p: load_config(config).node(p).endpoint for p in ("P1", "P2")}
    try:
        for p in ("P1", "P2"):

            def connected(p: str = p) -> bool:
                return bool(_status(config, p)["connected"])

            wait_until(connected, 10, f"{p} to connect")
        for me, other in (("P1", "P2"), ("P2", "P1")):
            with AdminClient(endpoints[me]) as client:
                reply = client.call("faults", timeout=5, blocked=[other])
            assert reply is not None and reply["blocked"] == [other]
        nodes[0].say("across the cut")
        wait_until(lambda: _status(config, "P1")["retransmits"] >= 3, 20, "retransmissions")
        assert _status(config, "P2")["delivered"] == 0
        for me in ("P1", "P2"):
            with AdminClient(endpoints[me]) as client:
                assert client.call("faults", timeout=5, blocked=[]) is not None
        nodes[1].wait_for("Delivered: across the cut", 20)
    finally:
        codes = [n.stop() for n in nodes]
    assert codes == [0, 0]
    kinds = [e["kind"] for e in events_of(run_dir)]
    assert kinds.count("faults_set") == 4 and "inject_block" in kinds


@pytest.mark.timeout(90)
def test_a_killed_bank_node_reopens_at_its_logged_balance(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    bank = BankFlags(rate=80, duration=60, snapshot_every=0)
    args = NodeFlags(faults=Faults(loss=0.1), bank=bank)
    nodes = {p: NodeProcess(config, p, run_dir, args) for p in ("P1", "P2", "P3")}

    def received(node: str) -> int:
        return sum(e["kind"] == "app_recv" and e["node"] == node for e in events_of(run_dir))

    try:
        wait_until(lambda: received("P2") >= 30, 30, "P2 to receive transfers")
        nodes["P2"].kill()
        nodes["P2"] = NodeProcess(config, "P2", run_dir, args)
        wait_until(lambda: received("P2") >= 80, 30, "the new P2 to receive transfers")
    finally:
        codes = [n.stop() for n in nodes.values()]
    assert codes == [0, 0, 0]
    opens = [e for e in events_of(run_dir) if e["kind"] == "bank_open" and e["node"] == "P2"]
    assert [o["restored"] for o in opens] == [False, True]
    first_inc = opens[0]["inc"]
    balance = 1000
    for e in events_of(run_dir):
        if e["node"] == "P2" and e["inc"] == first_inc and e["kind"] in ("app_send", "app_recv"):
            balance += e["amount"] if e["kind"] == "app_recv" else -e["amount"]
    assert opens[1]["balance"] == balance
    assert check_run(run_dir)


def test_the_stress_cluster_tells_a_crash_from_a_kill(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, **FAST)
    # A flag the node refuses: it exits with status 2 at once, as a crash would.
    flags = NodeFlags(chat_rate=-5)
    cluster = Cluster(load_config(config), config, tmp_path / "run", flags)
    try:
        cluster.start("P1")
        cluster.start("P2")
        cluster.kill("P2")
        wait_until(lambda: bool(cluster.check_exits() or cluster.crashed), 20, "P1 to exit")
        assert cluster.crashed == [("P1", 2)]
        assert cluster.check_exits() == []  # reported once
    finally:
        cluster.close()


def test_bad_node_workload_flags_name_the_flag(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, **FAST)
    runner = CliRunner()
    for args, flag in [
        (["--bench-send", "-1"], "--bench-send"),
        (["--bench-expect", "-1"], "--bench-expect"),
        (["--bench-checkpoint", "-5"], "--bench-checkpoint"),
        (["--bench-size", "4"], "--bench-size"),
        (["--chat-rate", "-1"], "--chat-rate"),
    ]:
        result = runner.invoke(app, ["node", "--config", str(config), "--id", "P1", *args])
        assert result.exit_code == 2, result.output
        assert flag in result.output and "Traceback" not in result.output


@pytest.mark.timeout(60)
def test_malformed_admin_requests_get_errors_and_the_node_keeps_serving(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, **FAST)
    endpoint = load_config(config).node("P1").endpoint
    node = NodeProcess(config, "P1", tmp_path / "run")
    try:
        wait_until(lambda: _status(config, "P1")["lamport"] >= 0, 20, "P1 to answer")
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"~tester")
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        bad = [
            b"not json",
            orjson.dumps({"v": 1, "k": "admin", "id": 1, "op": "reboot"}),
            orjson.dumps({"v": 1, "k": "admin", "id": 2, "op": "faults", "loss": 7}),
            orjson.dumps({"v": 1, "k": "admin", "id": 3, "op": "workload", "run": "yes"}),
            orjson.dumps({"v": 1, "k": "admin", "id": 4, "op": "snapshot", "variant": "nope"}),
            orjson.dumps({"v": 1, "k": "admin", "id": 5, "op": "faults", "dup": 1.0}),
            orjson.dumps({"v": 1, "k": "admin", "id": 6, "op": "faults", "links": "x"}),
            orjson.dumps({"v": 1, "k": "admin", "id": 7, "op": "faults", "links": [1, 2]}),
            orjson.dumps(
                {"v": 1, "k": "admin", "id": 8, "op": "faults", "links": {"X>Y": {"loss": 0.5}}}
            ),
            orjson.dumps(
                {"v": 1, "k": "admin", "id": 9, "op": "faults", "links": {"P1>P2": {"loss": 2.0}}}
            ),
            orjson.dumps({"v": 1, "k": "admin", "id": 10, "op": "faults", "blocked": ["P9"]}),
        ]
        errors = []
        for request in bad:
            sock.send(request)
            assert sock.poll(5000), "no reply to a malformed request"
            reply = orjson.loads(sock.recv())
            assert reply["ok"] is False
            errors.append(reply["error"])
        sock.close()
        ctx.term()
        assert "not JSON" in errors[0] and "field op" in errors[1]
        assert "field loss" in errors[2] and "field run" in errors[3]
        assert "nope" in errors[4]
        # Fault settings are validated as a config's faults block is.
        assert "field dup: must be in [0, 1)" in errors[5]
        assert "field faults.links" in errors[6] and "field faults.links" in errors[7]
        assert "faults.links.X>Y" in errors[8]
        assert "faults.links.P1>P2.loss" in errors[9]
        assert "not nodes of the config: P9" in errors[10]
        # Still serving, and the bad fault settings were not applied.
        status = _status(config, "P1")
        assert status["workload"] is True and status["blocked"] == []
    finally:
        assert node.stop() == 0
