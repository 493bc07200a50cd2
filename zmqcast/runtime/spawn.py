"""Node child processes: their command line, their start, and their stop.

``zmqcast launch``, ``zmqcast bank``, the stress harness, the benchmarks and
the integration tests all run ``zmqcast node`` as a child process. They differ
only in the flags they pass, where the child's output goes, and whether it
runs in a session (and a network namespace) of its own; everything else is
here, once:

* :func:`node_command` turns typed flags (:class:`NodeFlags`) into the argv,
  so no caller spells a flag name or formats a value itself;
* :func:`spawn_node` starts that command;
* :func:`terminate`, :func:`stop`, :func:`stop_all`, :func:`kill` and
  :func:`kill_all` end it: SIGTERM for a graceful shutdown, SIGKILL after a
  bounded wait, or SIGKILL at once (the nemesis's ``kill -9``);
* :func:`supervised` forwards the launcher's Ctrl-C and SIGTERM to its nodes
  and leaves none running behind it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

K = TypeVar("K")

Stdio = int | IO[bytes]
"""Where a child's stream goes: ``subprocess.PIPE``, ``DEVNULL``, ``STDOUT`` or a file."""

Proc = subprocess.Popen[bytes]


def free_ports(count: int) -> list[int]:
    """Local ports the OS just handed out, for a cluster on 127.0.0.1."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def zmqcast_command(*args: str) -> list[str]:
    """The command line of ``zmqcast ARGS`` run with this interpreter.

    ``python -m zmqcast`` rather than the ``zmqcast`` script: the child then
    runs the same interpreter and the same checkout as its parent.
    """
    return [sys.executable, "-m", "zmqcast", *args]


@dataclass(frozen=True)
class Faults:
    """Loss-injection flags; a field left ``None`` keeps the config's value."""

    loss: float | None = None
    dup: float | None = None
    delay: float | None = None
    reorder: float | None = None
    seed: int | None = None

    def args(self) -> list[str]:
        """``--loss``, ``--dup``, ``--delay``, ``--reorder``, ``--seed``, as set."""
        out: list[str] = []
        for flag, value in (
            ("--loss", self.loss),
            ("--dup", self.dup),
            ("--delay", self.delay),
            ("--reorder", self.reorder),
            ("--seed", self.seed),
        ):
            if value is not None:
                out += [flag, str(value)]
        return out


@dataclass(frozen=True)
class BankFlags:
    """The bank workload (``--bank``): transfers, and snapshots the node starts."""

    rate: float
    """Transfers per second."""
    duration: float
    """Seconds of transfers."""
    snapshot_every: float
    """Seconds between snapshots this node initiates; 0 for none."""
    variant: str = ""
    """Snapshot variant or ``all``; empty for the channel mode's default."""

    def args(self) -> list[str]:
        """``--bank --rate R --duration D --snapshot-every S [--variant V]``."""
        out = ["--bank", "--rate", str(self.rate), "--duration", str(self.duration)]
        out += ["--snapshot-every", str(self.snapshot_every)]
        if self.variant:
            out += ["--variant", self.variant]
        return out


@dataclass(frozen=True)
class BenchFlags:
    """The benchmark workload: what to send, and how many deliveries end the run."""

    size: int
    """Message size in bytes."""
    expect: int
    """Deliveries to wait for before reporting."""
    send: int = 0
    """Messages to multicast as fast as possible; 0 for a receiver only."""
    checkpoint: int = 0
    """Note peak memory after this many messages; 0 for no checkpoint."""
    rate: float = 0.0
    """Messages per second to send at; 0: as fast as the windows allow."""

    def args(self) -> list[str]:
        """``--bench-size``, ``--bench-checkpoint``, ``--bench-send`` and
        ``--bench-rate`` if any, ``--bench-expect``."""
        out = ["--bench-size", str(self.size), "--bench-checkpoint", str(self.checkpoint)]
        if self.send:
            out += ["--bench-send", str(self.send)]
        if self.rate:
            out += ["--bench-rate", repr(self.rate)]
        return [*out, "--bench-expect", str(self.expect)]


@dataclass(frozen=True)
class NodeFlags:
    """Every option of ``zmqcast node`` beyond its config, id and run directory.

    The defaults pass nothing, so the node's own defaults apply.
    """

    auto: bool = False
    """Run the seed's script and exit once all is delivered (no stdin)."""
    verbose: bool = False
    json: bool = False
    faults: Faults = field(default_factory=Faults)
    bank: BankFlags | None = None
    chat_rate: float | None = None
    """Generated chat multicasts per second; ``None`` passes no ``--chat-rate``."""
    bench: BenchFlags | None = None

    def args(self) -> list[str]:
        """The flags, in a fixed order: output, faults, then the workloads."""
        switches = (("--auto", self.auto), ("--verbose", self.verbose), ("--json", self.json))
        out = [flag for flag, on in switches if on]
        out += self.faults.args()
        if self.bank is not None:
            out += self.bank.args()
        if self.chat_rate is not None:
            out += ["--chat-rate", str(self.chat_rate)]
        if self.bench is not None:
            out += self.bench.args()
        return out


def node_command(
    config: Path, node_id: str, run_dir: Path, flags: NodeFlags | None = None
) -> list[str]:
    """The command line of node ``node_id`` run with this interpreter."""
    base = ["node", "--config", str(config), "--id", node_id, "--run-dir", str(run_dir)]
    return zmqcast_command(*base, *(flags or NodeFlags()).args())


def spawn_node(
    config: Path,
    node_id: str,
    run_dir: Path,
    flags: NodeFlags | None = None,
    *,
    stdin: Stdio = subprocess.DEVNULL,
    stdout: Stdio = subprocess.PIPE,
    stderr: Stdio = subprocess.STDOUT,
    wrapper: Sequence[str] = (),
    own_session: bool = True,
    unbuffered: bool = True,
) -> Proc:
    """Start node ``node_id``; by default its output (stderr too) comes back on a pipe.

    ``wrapper`` goes before the command, e.g. ``ip netns exec NS`` to run the
    node in a network namespace of its own (``ip`` execs the node, so the
    process signalled is the node itself).

    ``own_session`` starts it in a session (so a process group) of its own:
    a terminal's Ctrl-C then reaches it only through its launcher, once, as
    SIGTERM (see :func:`supervised`). A test's nodes stay in the test's
    session, so an interrupted run takes them down with it.

    ``unbuffered`` sets ``PYTHONUNBUFFERED``, so each line reaches a log or a
    reader as it is printed; the benchmarks leave it off so that printing
    costs no more than in a run with its output on a terminal.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"} if unbuffered else None
    return subprocess.Popen(
        [*wrapper, *node_command(config, node_id, run_dir, flags)],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=env,
        start_new_session=own_session,
    )


def terminate(procs: Iterable[Proc]) -> None:
    """Ask every node still running to shut down gracefully (SIGTERM); do not wait."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def kill(proc: Proc) -> int:
    """``kill -9``: no shutdown, no flush, no ``stop`` event; its exit status once reaped."""
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


def kill_all(procs: Iterable[Proc]) -> None:
    """``kill -9`` every node still running and reap it: none is left behind."""
    for proc in procs:
        kill(proc)


def stop_all(procs: Mapping[K, Proc], grace: float) -> dict[K, int]:
    """SIGTERM every node, wait up to ``grace`` seconds in all, then SIGKILL the rest.

    Returns each node's exit status: its own if it stopped in time, else
    ``-SIGKILL``. Each wait lasts at least a tenth of a second even past the
    deadline, so a node that stops just then is not killed for lack of a look.
    """
    terminate(procs.values())
    deadline = time.monotonic() + grace
    codes: dict[K, int] = {}
    for key, proc in procs.items():
        try:
            codes[key] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            codes[key] = kill(proc)
    return codes


def stop(proc: Proc, grace: float) -> int:
    """SIGTERM, up to ``grace`` seconds for the graceful shutdown, then SIGKILL; the status."""
    return stop_all({0: proc}, grace)[0]


@contextlib.contextmanager
def supervised(procs: Mapping[str, Proc]) -> Iterator[list[Callable[[], None]]]:
    """Forward Ctrl-C and SIGTERM to the nodes; on the way out, kill any straggler.

    The launchers start their nodes in sessions of their own so that a
    terminal's Ctrl-C reaches them only through us, once, as SIGTERM; and
    whatever happens here, none is left running behind us. ``procs`` is read
    when a signal comes, so nodes may be added to it inside the block.

    Yields a list to which the caller may add callbacks, each called (in the
    main thread, from the signal handler) after a signal was forwarded.
    """
    on_signal: list[Callable[[], None]] = []

    def forward(signum: int, _frame: object) -> None:
        terminate(procs.values())
        for callback in on_signal:
            callback()

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield on_signal
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        kill_all(procs.values())
