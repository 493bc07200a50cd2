"""Helpers to run real node processes on 127.0.0.1 and wait on what they do."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from zmqcast.cli.check import load_events
from zmqcast.runtime.spawn import NodeFlags, free_ports, kill, spawn_node, stop, zmqcast_command

zmqcast_cmd = zmqcast_command
"""The command line of ``zmqcast ARGS`` run with this interpreter (the tests' short name)."""


def write_config(path: Path, count: int, **extra: Any) -> Path:
    """A config of ``count`` nodes P1..Pn on fresh local ports, plus ``extra`` fields."""
    nodes = [
        {"id": f"P{i + 1}", "host": "127.0.0.1", "port": port}
        for i, port in enumerate(free_ports(count))
    ]
    path.write_bytes(orjson.dumps({"nodes": nodes, **extra}))
    return path


def launch_auto(config: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `zmqcast launch CONFIG --auto` as a real process tree and wait for it."""
    return subprocess.run(
        zmqcast_cmd("launch", str(config), "--auto", "--run-dir", str(run_dir), *extra),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    """The run's events so far (a torn last line of a live log is skipped)."""
    if not any((run_dir / "events").glob("*.jsonl")):
        return []
    return load_events(run_dir)


class LineProcess:
    """A running process whose stdout lines can be awaited and whose stdin takes lines."""

    def __init__(self, proc: subprocess.Popen[bytes], name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.put(raw.decode("utf-8", "replace"))

    def type(self, text: str) -> None:
        """Write one line on the process's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, needle: str, timeout: float) -> str:
        """The first output line from now on that contains ``needle``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.output.append(line)
            if needle in line:
                return line
        raise AssertionError(
            f"{self.name} never printed {needle!r}; output was:\n{''.join(self.output)}"
        )

    def wait_for_all(self, needles: list[str], timeout: float) -> None:
        """Wait until every one of ``needles`` has appeared in some output line."""
        missing = set(needles)
        missing -= {n for n in missing for line in self.output if n in line}
        deadline = time.monotonic() + timeout
        while missing:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"{self.name} never printed {sorted(missing)}; output was:\n"
                    + "".join(self.output)
                ) from None
            self.output.append(line)
            missing = {n for n in missing if n not in line}


class NodeProcess(LineProcess):
    """A running `zmqcast node` whose stdout lines can be awaited."""

    def __init__(
        self, config: Path, node_id: str, run_dir: Path, flags: NodeFlags | None = None
    ) -> None:
        self.node_id = node_id
        proc = spawn_node(config, node_id, run_dir, flags, stdin=subprocess.PIPE, own_session=False)
        super().__init__(proc, node_id)

    def say(self, text: str) -> None:
        """Type one line on the node's stdin: it multicasts it."""
        self.type(text)

    def stop(self) -> int:
        """SIGTERM, and the exit status of the graceful shutdown (SIGKILL after 15 s)."""
        return stop(self.proc, grace=15)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush."""
        kill(self.proc)
