"""`zmqcast check` on a real run whose logs are incomplete, as a real process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cluster import launch_auto, write_config


def _check(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zmqcast", "check", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(120)
def test_check_of_a_real_run_with_a_log_missing_or_torn(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    run_dir = tmp_path / "run"
    done = launch_auto(config, run_dir)
    assert done.returncode == 0, done.stdout + done.stderr

    # A torn last record (a node killed mid-write) is tolerated: the run still passes.
    torn = tmp_path / "torn"
    shutil.copytree(run_dir, torn)
    with (torn / "events" / "P2.jsonl").open("ab") as log:
        log.write(b'{"node":"P2","inc":1,"kind":"deli')
    checked = _check(torn)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VIOLATED" not in checked.stdout

    # Without P3's log, P3's multicast looks never sent: the check must say the
    # log is missing, not that the protocol broke integrity.
    (run_dir / "events" / "P3.jsonl").unlink()
    checked = _check(run_dir)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "missing event logs: P3 (named as a peer by P1, P2)" in checked.stdout
    assert "VIOLATED" not in checked.stdout
    assert "Traceback" not in checked.stdout + checked.stderr

    # A log that is a directory: one line naming it, exit 2.
    (run_dir / "events" / "P3.jsonl").mkdir()
    checked = _check(run_dir)
    assert checked.returncode == 2
    assert checked.stdout == ""
    assert checked.stderr.splitlines() == [
        f"error: {run_dir / 'events' / 'P3.jsonl'}: is a directory, not an event log"
    ]
