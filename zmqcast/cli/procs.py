"""Node child processes of the launchers: Ctrl-C forwarding and no orphans."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator, Mapping


def terminate(procs: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """Ask every node still running to shut down gracefully (SIGTERM)."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


@contextlib.contextmanager
def supervised(procs: Mapping[str, subprocess.Popen[bytes]]) -> Iterator[None]:
    """Forward Ctrl-C and SIGTERM to the nodes; on the way out, kill any straggler.

    The nodes run in their own sessions so that a terminal's Ctrl-C reaches
    them only through us, once, as SIGTERM; and whatever happens here, none is
    left running behind us.
    """

    def forward(signum: int, _frame: object) -> None:
        terminate(procs)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
