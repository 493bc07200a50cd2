"""The supervision half of ``zmqcast launch``: output, input and exits of its nodes.

:class:`Launched` holds the node processes of one launch. A thread per node
copies the node's output to ours and, at the end of it, reaps the node and
reports its exit, so the launcher learns of an exit at once. The main thread
waits in :meth:`Launched.wait`, which says why a node ended when that was not
expected and stops the others when the launch cannot go on: a node that
failed to start (exit status 2, a bad flag or environment, such as an address
already in use), or any failed node of an ``--auto`` run, whose script needs
every node. :func:`route_stdin` hands the lines typed into the launcher to the
nodes, and says so when a line cannot be sent.
"""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import typer

from zmqcast.cli.errors import USAGE_EXIT
from zmqcast.runtime.spawn import Proc, kill, terminate

STOP_GRACE = 5.0
"""Seconds a stopping node has before it is killed (a node flushes for 1 s)."""
CONSOLE_EVENT = re.compile(r"^\[[^\]]+\] \[Lamport=")
"""A node's event line (a delivery may quote any text, ``error`` included)."""


@dataclass(frozen=True, slots=True)
class Exit:
    """How a node process ended."""

    node: str
    code: int
    """Its exit status, or minus the signal that killed it."""
    reason: str | None
    """The last error line it printed, if any."""

    def line(self) -> str:
        """``[P2] exited with status 2: <its error line>``, or the signal that killed it."""
        if self.code < 0:
            try:
                name = f" ({signal.Signals(-self.code).name})"
            except ValueError:
                name = ""
            text = f"[{self.node}] was killed by signal {-self.code}{name}"
        else:
            text = f"[{self.node}] exited with status {self.code}"
        return f"{text}: {self.reason}" if self.reason else text


def error_reason(node: str, line: str) -> str | None:
    """``line`` without the ``[node]`` prefix, if it reads as an error; else None."""
    if CONSOLE_EVENT.match(line) or "error" not in line.lower():
        return None
    return line.removeprefix(f"[{node}] ").strip() or None


class Launched:
    """The nodes of one launch, their output, their input and their exits."""

    def __init__(
        self,
        procs: dict[str, Proc],
        colours: dict[str, str | None],
        *,
        auto: bool,
        json: bool,
    ) -> None:
        self.procs = procs
        self.order = list(procs)
        self.auto = auto
        self.json = json
        self.console = threading.Lock()
        """Held while a line is printed, so lines of different nodes never mix."""
        self._state = threading.Condition()
        self._exited: dict[str, int] = {}
        self._exits: queue.Queue[Exit] = queue.Queue()
        self._input_ended = False
        self._stop_requested = False
        self._reasons: dict[str, str] = {}
        self._pumps = [
            threading.Thread(target=self._pump, args=(node, colours[node]), daemon=True)
            for node in procs
        ]
        for pump in self._pumps:
            pump.start()

    # ---------------------------------------------------------------- output
    def say(self, text: str) -> None:
        """One line of the launcher's own, on stderr."""
        with self.console:
            typer.echo(text, err=True)

    def _pump(self, node: str, colour: str | None) -> None:
        """Copy the node's output to ours; once it ends, reap the node and report."""
        proc = self.procs[node]
        stream: IO[bytes] | None = proc.stdout
        if stream is not None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                reason = error_reason(node, line)
                if reason is not None:
                    self._reasons[node] = reason
                # With --json our stdout carries events only; a node's error
                # line (its stderr shares the pipe) goes to our stderr.
                err = self.json and not line.startswith("{")
                with self.console:
                    typer.secho(line, fg=colour, err=err)
        code = proc.wait()
        with self._state:
            self._exited[node] = code
            self._state.notify_all()
        self._exits.put(Exit(node, code, self._reasons.get(node) if code else None))

    # ---------------------------------------------------------------- input
    def running(self, node: str) -> bool:
        with self._state:
            return node not in self._exited

    def still_running(self) -> list[str]:
        """The nodes still running, in the config's order."""
        with self._state:
            return [n for n in self.order if n not in self._exited]

    def send(self, node: str, line: bytes) -> bool:
        """Write one line to the node's stdin; False if the node has exited."""
        proc = self.procs[node]
        if proc.stdin is None or not self.running(node):
            return False
        try:
            proc.stdin.write(line if line.endswith(b"\n") else line + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return False
        return True

    def end_input(self, fed: Iterable[str], *, staged: bool) -> None:
        """Our stdin ended: end the nodes' input too, so that each one finishes.

        ``staged``: first the nodes that were sent lines, and the others once
        those have exited. A node whose input ends finishes once all it sent
        is released; one that was sent nothing would finish at once, before
        the lines of the others reached it.
        """
        with self._state:
            self._input_ended = True
        first = [n for n in fed if n in self.procs]
        rest = [n for n in self.order if n not in first]
        self._close(first)
        if staged:
            with self._state:
                self._state.wait_for(lambda: all(n in self._exited for n in first))
        self._close(rest)

    def _close(self, nodes: Iterable[str]) -> None:
        for node in nodes:
            stdin = self.procs[node].stdin
            if stdin is not None:
                with contextlib.suppress(BrokenPipeError, ValueError):
                    stdin.close()

    # ---------------------------------------------------------------- exits
    def request_stop(self) -> None:
        """The launcher was told to stop (Ctrl-C, SIGTERM): its nodes are stopping."""
        self._stop_requested = True

    def _expected(self, code: int) -> bool:
        """A clean exit that needs no word: a finished ``--auto`` run, the end of
        our input, or a stop we asked for."""
        if code != 0:
            return False
        with self._state:
            return self.auto or self._input_ended or self._stop_requested

    def wait(self) -> dict[str, int]:
        """Wait for every node to exit; return each one's exit status.

        A node that ends unexpectedly is named with its status and its last
        error line. One that failed to start (status 2), or any failed node of
        an ``--auto`` run, stops the launch: the others are stopped at once.
        Nodes still running :data:`STOP_GRACE` seconds into a stop are killed.
        """
        codes: dict[str, int] = {}
        stopping_since: float | None = None
        while len(codes) < len(self.procs):
            now = time.monotonic()
            if stopping_since is None and self._stop_requested:
                stopping_since = now
            if stopping_since is not None and now - stopping_since > STOP_GRACE:
                for node, proc in self.procs.items():
                    if node not in codes:
                        kill(proc)
            try:
                # Bounded, so that a forwarded signal is noticed.
                ended = self._exits.get(timeout=0.2)
            except queue.Empty:
                continue
            codes[ended.node] = ended.code
            if not self._expected(ended.code):
                self.say(ended.line())
            fatal = ended.code == USAGE_EXIT or (self.auto and ended.code != 0)
            if fatal and stopping_since is None:
                others = [n for n in self.order if n not in codes]
                if others:
                    self.say(f"[launch] {ended.node} failed; stopping {', '.join(others)}")
                self._stop_requested = True
                stopping_since = time.monotonic()
                terminate(self.procs[n] for n in others)
        return codes

    def join(self, timeout: float) -> None:
        """Let the output threads print what is left."""
        deadline = time.monotonic() + timeout
        for pump in self._pumps:
            pump.join(timeout=max(0.0, deadline - time.monotonic()))


def route_stdin(launched: Launched, lines: Iterable[bytes], *, staged: bool) -> None:
    """Hand each line typed into the launcher to a node, then end their input.

    ``P2: text`` goes to P2; any other line to the first node still running.
    A line that cannot be sent is not dropped silently: the launcher says so.
    """
    fed: list[str] = []
    for raw in lines:
        target, sep, rest = raw.partition(b":")
        name = target.strip().decode("utf-8", "replace")
        if sep and name in launched.procs:
            if not launched.send(name, rest.lstrip()):
                launched.say(f"[launch] {name} has exited; line not sent")
                continue
            dest = name
        else:
            # A node may die just before its exit is noticed: then the next one.
            taker = next((n for n in launched.still_running() if launched.send(n, raw)), None)
            if taker is None:
                launched.say("[launch] every node has exited; line not sent")
                continue
            dest = taker
        if dest not in fed:
            fed.append(dest)
    launched.end_input(fed, staged=staged)
