"""Stopping a child: SIGTERM first, and SIGKILL once the grace period is over.

The children here are tiny Python programs, not nodes: one shuts down on
SIGTERM, the other notes it and carries on. Each says ``ready`` once its
handler is in place, and the test reads that line before it signals, so the
signal never races the handler.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from zmqcast.runtime.spawn import Proc, stop, stop_all

STUBBORN = """
import signal
signal.signal(signal.SIGTERM, lambda *_: print("term", flush=True))
print("ready", flush=True)
while True:
    signal.pause()
"""
"""Prints ``term`` on SIGTERM and keeps running: only SIGKILL ends it."""

OBEDIENT = """
import signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
print("ready", flush=True)
while True:
    signal.pause()
"""
"""Exits with status 3 on SIGTERM."""


def _start(program: str) -> Proc:
    proc = subprocess.Popen(
        [sys.executable, "-c", program], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


@pytest.mark.timeout(30)
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    proc = _start(STUBBORN)
    began = time.monotonic()
    code = stop(proc, grace=1.0)
    waited = time.monotonic() - began
    assert code == -signal.SIGKILL
    assert 1.0 <= waited < 10.0
    assert proc.stdout is not None
    assert proc.stdout.read() == b"term\n"  # it was asked first
    proc.stdout.close()


@pytest.mark.timeout(30)
def test_a_child_that_stops_on_sigterm_keeps_its_own_status() -> None:
    proc = _start(OBEDIENT)
    assert stop(proc, grace=10.0) == 3
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.mark.timeout(30)
def test_stop_all_kills_only_the_ones_that_outlast_the_grace_period() -> None:
    procs = {"stubborn": _start(STUBBORN), "obedient": _start(OBEDIENT)}
    assert stop_all(procs, grace=1.0) == {"stubborn": -signal.SIGKILL, "obedient": 3}
    for proc in procs.values():
        assert proc.stdout is not None
        proc.stdout.close()
