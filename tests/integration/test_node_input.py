"""`zmqcast node` fed from a pipe: it finishes at the end of its input, and says
when typed input waits for window space."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.cluster import (
    NodeProcess,
    events_of,
    wait_until,
    write_config,
    zmqcast_cmd,
)
from zmqcast.runtime.spawn import spawn_node, stop

FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}


def _piped_node(config: Path, run_dir: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``printf TEXT | zmqcast node --config C --id P1``, run to its end."""
    return subprocess.run(
        zmqcast_cmd("node", "--config", str(config), "--id", "P1", "--run-dir", str(run_dir)),
        input=text,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )


def _started(run_dir: Path) -> set[str]:
    return {e["node"] for e in events_of(run_dir) if e["kind"] == "start"}


@pytest.mark.timeout(90)
def test_a_node_finishes_at_the_end_of_its_input(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)  # default timeouts: as a user runs it
    run_dir = tmp_path / "run"
    peers = [NodeProcess(config, node, run_dir) for node in ("P2", "P3")]
    try:
        wait_until(lambda: _started(run_dir) == {"P2", "P3"}, 30, "P2 and P3 to start")
        done = _piped_node(config, run_dir, "a\nb\n")
        assert done.returncode == 0, done.stdout
        assert "Sent: a" in done.stdout and "Sent: b" in done.stdout
        assert "end of input" not in done.stdout  # everything was released in time
        for peer in peers:
            # The origin released both lines only once every peer had them.
            peer.wait_for_all(["Delivered: a | from=P1", "Delivered: b | from=P1"], 10)
    finally:
        codes = [peer.stop() for peer in peers]
    assert codes == [0, 0]


@pytest.mark.timeout(60)
def test_a_stalled_node_says_once_whom_it_waits_for(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, window=4, **FAST)
    # Only P1 runs: nothing it sends is ever acknowledged.
    done = _piped_node(config, tmp_path / "run", "".join(f"line {i}\n" for i in range(10)))
    lines = done.stdout.splitlines()
    assert sum(" - Sent: line " in line for line in lines) == 4, done.stdout
    notices = [line for line in lines if "waiting for window space" in line]
    assert notices == ["[P1] waiting for window space: P2, P3 have not acknowledged"]
    # At the end of its input it gives up within its bound, says what is left, exits 0.
    assert done.returncode == 0, done.stdout
    assert lines[-1] == (
        "[P1] end of input: stopping with 6 lines not sent and 8 items unreleased "
        "(P2, P3 have not acknowledged)"
    )


@pytest.mark.timeout(90)
def test_a_node_with_dev_null_for_input_relays_until_signalled(tmp_path: Path) -> None:
    """``< /dev/null`` is no input, not the end of it: the relay stays up."""
    config = write_config(tmp_path / "c.json", 3, links="line", **FAST)
    run_dir = tmp_path / "run"
    relay = spawn_node(config, "P2", run_dir, stdin=subprocess.DEVNULL, own_session=False)
    ends = [NodeProcess(config, node, run_dir) for node in ("P1", "P3")]
    try:
        wait_until(lambda: _started(run_dir) == {"P1", "P2", "P3"}, 30, "every node to start")
        ends[0].say("through the relay")
        # P3 hears P1 only through P2 (a line P1-P2-P3).
        ends[1].wait_for_all(["Delivered: through the relay | from=P1"], 30)
        assert relay.poll() is None, "the relay ended on its own"
    finally:
        codes = [node.stop() for node in ends]
        relay_code = stop(relay, 10.0)
    assert codes == [0, 0]
    assert relay_code == 0
