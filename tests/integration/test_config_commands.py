"""`zmqcast config` as real processes, run away from the checkout: the config it
prints is one that `launch` runs and `check` passes."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _zmqcast(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zmqcast", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_run_of_ports(count: int) -> int:
    """A base port such that ``base .. base + count - 1`` are free on 127.0.0.1 now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000)
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError(f"no {count} consecutive free ports")


def test_version_and_shipped_config_from_outside_the_checkout(tmp_path: Path) -> None:
    done = _zmqcast(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("zmqcast ")
    done = _zmqcast(tmp_path, "config", "show", "local3")
    assert done.returncode == 0, done.stderr
    assert '"port": 5001' in done.stdout


@pytest.mark.timeout(150)
def test_a_new_config_launches_and_checks(tmp_path: Path) -> None:
    base = _free_run_of_ports(3)
    made = _zmqcast(
        tmp_path, "config", "new", "--nodes", "3", "--topology", "ring", "--base-port", str(base)
    )
    assert made.returncode == 0, made.stderr
    (tmp_path / "ring3.json").write_text(made.stdout)
    launched = _zmqcast(tmp_path, "launch", "ring3.json", "--auto", "--run-dir", "run")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "Delivered: Final message from P3 | from=P3" in launched.stdout
    checked = _zmqcast(tmp_path, "check", "run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "validity          held" in checked.stdout
