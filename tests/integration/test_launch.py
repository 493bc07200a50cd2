"""`zmqcast launch` and `bin/zmqcast-cluster` as real process trees."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.integration.cluster import events_of, launch_auto, wait_until, write_config, zmqcast_cmd

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
