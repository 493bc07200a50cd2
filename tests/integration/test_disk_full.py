"""A node that cannot write its event log or a snapshot file stops cleanly.

It prints one line naming the file and the OS error, no traceback, exits with
:data:`LOG_FAILED_EXIT`, and `zmqcast check` reports it as failed instead of
blaming the protocol. ENOSPC is real: the log is ``/dev/full``, or lives on a
tmpfs of 64 KiB that is all but full.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import NodeProcess, write_config
from zmqcast.check.trace import LOG_FAILED
from zmqcast.cli import app
from zmqcast.driver import LOG_FAILED_EXIT
from zmqcast.runtime.spawn import Proc, kill, spawn_node

TIMEOUTS = {"heartbeat": 0.2, "suspect_after": 1.0}
ENOSPC_TEXT = "No space left on device (errno 28)"


def start_node(config: Path, node_id: str, run_dir: Path) -> Proc:
    """A node whose stderr is kept apart from its console, and whose stdin we hold."""
    return spawn_node(
        config,
        node_id,
        run_dir,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        own_session=False,
    )


def stderr_of(proc: Proc, timeout: float) -> str:
    """Wait for ``proc`` to end; what it wrote on stderr.

    Its stdin stays open (``communicate`` would close it): a node finishes at
    the end of its input, and these nodes must run until the disk stops them.
    """
    proc.wait(timeout=timeout)
    assert proc.stderr is not None
    return proc.stderr.read().decode()


def assert_one_error_line(stderr: str, node: str, path: Path, error: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"[{node}] error: cannot write {path}: {error}"), lines[0]
    assert f"exit status {LOG_FAILED_EXIT}" in lines[0]


def stop_record(log: Path) -> dict[str, object]:
    last = orjson.loads(log.read_bytes().splitlines()[-1])
    assert isinstance(last, dict)
    return last


@pytest.mark.timeout(60)
def test_a_log_on_dev_full_stops_the_node_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, timeouts=TIMEOUTS)
    run_dir = tmp_path / "run"
    log = run_dir / "events" / "P1.jsonl"
    log.parent.mkdir(parents=True)
    log.symlink_to("/dev/full")  # every write fails with ENOSPC
    proc = start_node(config, "P1", run_dir)
    stderr = stderr_of(proc, timeout=30)
    assert proc.returncode == LOG_FAILED_EXIT
    assert_one_error_line(stderr, "P1", log, ENOSPC_TEXT)


@pytest.mark.timeout(60)
def test_a_snapshot_file_that_cannot_be_written_stops_the_node(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 2, timeouts=TIMEOUTS)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "snapshots").write_bytes(b"")  # a file where the directory should be
    peer = NodeProcess(config, "P2", tmp_path / "fine")
    proc = start_node(config, "P1", broken)
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"/snapshot\n")
        proc.stdin.flush()
        stderr = stderr_of(proc, timeout=30)
    finally:
        kill(proc)
        assert peer.stop() == 0
    assert proc.returncode == LOG_FAILED_EXIT
    line = stderr.strip()
    assert "Traceback" not in stderr and "\n" not in line, stderr
    assert f"cannot write {broken / 'snapshots'}/P1-" in line
    assert line.split(": ", 2)[1].endswith("/P1.json")
    assert "Not a directory (errno 20)" in line
    # The log itself was fine: it ends saying why the node stopped.
    last = stop_record(broken / "events" / "P1.jsonl")
    assert last["kind"] == "stop" and last["reason"] == LOG_FAILED
    assert str(last["file"]).endswith("/P1.json")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards; the test is skipped if none can be had."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.timeout(120)
def test_a_full_disk_fails_the_node_and_check_says_so(tmp_path: Path, tiny_disk: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, timeouts=TIMEOUTS)
    run_dir = tmp_path / "run"
    log = run_dir / "events" / "P2.jsonl"
    log.parent.mkdir(parents=True)
    log.symlink_to(tiny_disk / "P2.jsonl")  # only P2's log is on the tiny disk
    # Fill the disk but for 16 KiB: the node holds 8 KiB back, the log gets the rest.
    st = os.statvfs(tiny_disk)
    (tiny_disk / "filler").write_bytes(bytes(st.f_bavail * st.f_frsize - (16 << 10)))

    nodes = {n: NodeProcess(config, n, run_dir) for n in ("P1", "P3")}
    p2 = start_node(config, "P2", run_dir)
    try:
        said: dict[str, list[str]] = {"P1": [], "P3": []}
        for k in range(60):  # each delivery at P2 logs ~250 bytes: far more than 8 KiB
            for n, proc in nodes.items():
                text = f"m{k} from {n}"
                proc.say(text)
                said[n].append(f"Delivered: {text} | from={n}")
        stderr = stderr_of(p2, timeout=60)
        assert p2.returncode == LOG_FAILED_EXIT
        assert_one_error_line(stderr, "P2", log, ENOSPC_TEXT)
        # The others carry on without it.
        nodes["P1"].wait_for_all(said["P3"], timeout=60)
        nodes["P3"].wait_for_all(said["P1"], timeout=60)
    finally:
        kill(p2)
        codes = {n: proc.stop() for n, proc in nodes.items()}
    assert codes == {"P1": 0, "P3": 0}

    # The reserve let the last record in: the log says why P2 stopped.
    last = stop_record(log)
    assert last["kind"] == "stop" and last["reason"] == LOG_FAILED
    assert last["file"] == str(log) and last["error"] == ENOSPC_TEXT

    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 1, checked.output
    assert "VIOLATED" not in checked.output, checked.output
    assert f"failed: could not write {log}: {ENOSPC_TEXT}" in checked.output
    validity = next(line for line in checked.output.splitlines() if "validity " in line)
    assert "held (" in validity and "not checked" not in validity, checked.output
