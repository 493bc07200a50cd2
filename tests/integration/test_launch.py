"""`zmqcast launch` and `bin/zmqcast-cluster` as real process trees."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import (
    LineProcess,
    events_of,
    launch_auto,
    wait_until,
    write_config,
    zmqcast_cmd,
)
from zmqcast.cli import app

REPO = Path(__file__).resolve().parents[2]
FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}
CONSOLE_LINE = re.compile(r"^\[P\d\] \[Lamport=\d+\] \d\d:\d\d:\d\d\.\d{3} - \S")


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue  # gone while we looked
        if text.encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _started(run_dir: Path, count: int) -> bool:
    return len({e["node"] for e in events_of(run_dir) if e["kind"] == "start"}) == count


@pytest.mark.timeout(90)
def test_interactive_launch_routes_lines_and_ctrl_c_leaves_no_orphans(tmp_path: Path) -> None:
    config = write_config(tmp_path / "orphans.json", 3, **FAST)
    run_dir = tmp_path / "run"
    launcher = subprocess.Popen(
        zmqcast_cmd("launch", str(config), "--run-dir", str(run_dir)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _started(run_dir, 3), 30, "three nodes to start")
        assert len(processes_mentioning(str(config))) == 4  # the launcher and its nodes
        assert launcher.stdin is not None
        launcher.stdin.write(b"P2: hello from two\nto the first node\n")
        launcher.stdin.flush()

        def delivered() -> set[tuple[str, str]]:
            return {(e["node"], e["origin"]) for e in events_of(run_dir) if e["kind"] == "deliver"}

        expected = {("P1", "P2"), ("P3", "P2"), ("P2", "P1"), ("P3", "P1")}
        wait_until(lambda: expected <= delivered(), 30, "both lines to be delivered")
        launcher.send_signal(signal.SIGINT)
        out, _ = launcher.communicate(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    text = out.decode()
    assert launcher.returncode == 0, text
    assert "Delivered: hello from two | from=P2" in text
    assert "Delivered: to the first node | from=P1" in text
    assert processes_mentioning(str(config)) == []
    stops = {e["node"] for e in events_of(run_dir) if e["kind"] == "stop"}
    assert stops == {"P1", "P2", "P3"}, "every node shut down gracefully"


@pytest.mark.timeout(90)
def test_cluster_script_runs_the_demo(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [str(REPO / "bin" / "zmqcast-cluster"), str(config), "--auto", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Delivered: How are you? | from=P2" in done.stdout


@pytest.mark.timeout(90)
def test_json_output_is_one_event_per_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    done = launch_auto(config, tmp_path / "run", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    events = [orjson.loads(line) for line in done.stdout.splitlines()]
    kinds = {e["kind"] for e in events}
    assert {"start", "multicast", "deliver"} <= kinds
    for e in events:
        assert {"node", "inc", "kind", "lamport", "time", "wall"} <= e.keys()
    delivered = [e for e in events if e["kind"] == "deliver"]
    assert len(delivered) == 6
    assert all({"origin", "oepoch", "oseq", "ch", "cseq"} <= e.keys() for e in delivered)


@pytest.mark.timeout(120)
def test_verbose_shows_channel_events_in_the_seed_format(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    done = launch_auto(config, tmp_path / "run", "--verbose", "--loss", "0.3", "--seed", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()[1:]  # after "run directory: ..."
    assert lines
    bad = [line for line in lines if not CONSOLE_LINE.match(line)]
    assert bad == []
    assert any(" - retransmit: " in line for line in lines)
    assert any(" - Sent: Hello everyone!" in line for line in lines)


class Launcher(LineProcess):
    """An interactive `zmqcast launch` whose output lines can be awaited."""

    def __init__(self, config: Path, run_dir: Path) -> None:
        proc = subprocess.Popen(
            zmqcast_cmd("launch", str(config), "--run-dir", str(run_dir)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        super().__init__(proc, "launch")

    def rest(self, timeout: float) -> str:
        """Wait for the launcher to exit; everything it printed."""
        self.proc.wait(timeout=timeout)
        while True:
            try:
                self.output.append(self.lines.get(timeout=5))
            except queue.Empty:
                return "".join(self.output)


def node_pid(config: Path, node: str) -> int:
    """The pid of node ``node`` of the launch of ``config``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(config).encode() in cmdline and f"\0--id\0{node}\0".encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no process of node {node}")


@pytest.mark.timeout(60)
def test_a_node_that_cannot_start_stops_the_launch_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    port = orjson.loads(config.read_bytes())["nodes"][1]["port"]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        # Bounded by the test's timeout: before, P1 and P3 waited out the
        # auto mode's 60 s for a P2 that never came.
        done = launch_auto(config, tmp_path / "run")
    finally:
        squatter.close()
    assert done.returncode != 0, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    reason = (
        f"[P2] exited with status 2: error: --id P2: cannot use tcp://127.0.0.1:{port}: "
        "Address already in use"
    )
    assert reason in lines, done.stderr
    assert "[launch] P2 failed; stopping P1, P3" in lines
    assert "Traceback" not in done.stdout + done.stderr
    assert processes_mentioning(str(config)) == []


@pytest.mark.timeout(120)
def test_interactive_launch_says_when_a_node_dies_and_a_line_cannot_be_sent(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    launcher = Launcher(config, run_dir)
    try:
        wait_until(lambda: _started(run_dir, 3), 30, "three nodes to start")
        os.kill(node_pid(config, "P2"), signal.SIGKILL)
        launcher.wait_for("[P2] was killed by signal 9 (SIGKILL)", 20)
        launcher.type("P2: are you there?")
        launcher.wait_for("[launch] P2 has exited; line not sent", 20)
        os.kill(node_pid(config, "P1"), signal.SIGTERM)
        launcher.wait_for("[P1] exited with status 0", 20)
        # Plain lines go to the first node still running.
        launcher.type("after the first node")
        launcher.wait_for("[P3] [Lamport=", 20)
        assert launcher.proc.stdin is not None
        launcher.proc.stdin.close()
        text = launcher.rest(timeout=30)
    finally:
        if launcher.proc.poll() is None:
            launcher.proc.kill()
    assert "Sent: after the first node" in text
    assert launcher.proc.returncode == 1, text
    assert "nodes exited with errors: P2" in text
    assert "Traceback" not in text


@pytest.mark.timeout(90)
def test_end_of_input_finishes_every_launched_node(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        zmqcast_cmd("launch", str(config), "--run-dir", str(run_dir)),
        input="hello\nP3: from three\n",
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = events_of(run_dir)
    delivered = {(e["node"], e["payload"]) for e in events if e["kind"] == "deliver"}
    assert delivered == {
        ("P2", "hello"),
        ("P3", "hello"),
        ("P1", "from three"),
        ("P2", "from three"),
    }
    stops = {e["node"]: e["reason"] for e in events if e["kind"] == "stop"}
    assert stops == {"P1": "done", "P2": "done", "P3": "done"}
    assert processes_mentioning(str(config)) == []


@pytest.mark.timeout(120)
def test_launch_takes_the_config_as_an_argument_or_as_config_like_every_command(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    done = subprocess.run(
        zmqcast_cmd("launch", "--config", str(config), "--auto", "--run-dir", str(tmp_path / "r")),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Delivered: Final message from P3" in done.stdout
    both = CliRunner().invoke(app, ["launch", str(config), "--config", str(config)])
    assert both.exit_code == 2 and "give the config once" in both.output
    neither = CliRunner().invoke(app, ["launch", "--auto"])
    assert neither.exit_code == 2 and "--config: missing" in neither.output
