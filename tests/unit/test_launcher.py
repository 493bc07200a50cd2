"""The launcher's bookkeeping: exit lines, error reasons, routing and staged end of input.

The "nodes" here are small Python processes that echo their input, so the
routing is checked without ZeroMQ; tests/integration/test_launch.py runs the
real thing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from zmqcast.cli.launcher import Exit, Launched, error_reason, route_stdin

ECHO = (
    "import sys\n"
    "for line in sys.stdin:\n"
    "    print(sys.argv[1], 'got', line.strip(), flush=True)\n"
    "print(sys.argv[1], 'input ended', flush=True)\n"
)


def test_exit_lines_name_the_node_its_status_and_reason() -> None:
    assert Exit("P2", 2, "error: --id P2: in use").line() == (
        "[P2] exited with status 2: error: --id P2: in use"
    )
    assert Exit("P1", 0, None).line() == "[P1] exited with status 0"
    assert Exit("P3", -9, None).line() == "[P3] was killed by signal 9 (SIGKILL)"


def test_error_reasons_come_from_error_lines_not_from_deliveries() -> None:
    assert (
        error_reason("P2", "[P2] error: cannot write x: No space")
        == "error: cannot write x: No space"
    )
    assert (
        error_reason("P2", "error: --id P2: cannot use tcp://x")
        == "error: --id P2: cannot use tcp://x"
    )
    assert error_reason("P2", "RuntimeError: boom") == "RuntimeError: boom"
    delivery = "[P2] [Lamport=3] 10:00:00.000 - Delivered: an error | from=P1"
    assert error_reason("P2", delivery) is None
    assert error_reason("P2", "[P2] [Lamport=3] 10:00:00.000 - Sent: hi") is None


def _echoes(names: list[str]) -> dict[str, subprocess.Popen[bytes]]:
    return {
        name: subprocess.Popen(
            [sys.executable, "-c", ECHO, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in names
    }


@pytest.mark.timeout(60)
def test_lines_are_routed_and_input_ends_first_for_the_nodes_that_got_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    procs = _echoes(["P1", "P2", "P3"])
    launched = Launched(procs, dict.fromkeys(procs), auto=False, json=False)
    try:
        route_stdin(launched, [b"plain\n", b"P3: direct\n", b"P9: not a node\n"], staged=True)
        codes = launched.wait()
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    launched.join(timeout=10)
    out = capsys.readouterr().out.splitlines()
    assert codes == {"P1": 0, "P2": 0, "P3": 0}
    assert {"P1 got plain", "P3 got direct", "P1 got P9: not a node"} <= set(out)
    ended = [line.split()[0] for line in out if line.endswith("input ended")]
    # P2 was sent nothing: its input ends only once P1 and P3 have exited.
    assert ended[-1] == "P2" and sorted(ended) == ["P1", "P2", "P3"]


@pytest.mark.timeout(60)
def test_a_line_for_a_node_that_exited_is_refused_out_loud(
    capsys: pytest.CaptureFixture[str],
) -> None:
    procs = _echoes(["P1", "P2"])
    launched = Launched(procs, dict.fromkeys(procs), auto=False, json=False)
    try:
        procs["P1"].kill()
        procs["P1"].wait()
        route_stdin(launched, [b"P1: hello\n", b"plain\n"], staged=True)
        codes = launched.wait()
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    launched.join(timeout=10)
    captured = capsys.readouterr()
    assert codes == {"P1": -9, "P2": 0}
    assert "[launch] P1 has exited; line not sent" in captured.err
    assert "[P1] was killed by signal 9 (SIGKILL)" in captured.err
    assert "P2 got plain" in captured.out  # plain lines go to the first node still running
