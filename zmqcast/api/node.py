"""``zmqcast.Node``: one cluster member inside your program, behind a blocking API.

The node's I/O loop (the same :class:`~zmqcast.runtime.node.NodeRuntime` that
``zmqcast node`` runs) turns on a background thread the node owns. Calls from
any thread hand their work to that loop through its inbox and wait on a
:class:`concurrent.futures.Future`; the loop alone touches the protocol core
and the sockets. The node installs no signal handlers, reads no stdin and
prints nothing.
"""

from __future__ import annotations

import io
import os
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import zmq

from zmqcast.api.types import (
    Backpressure,
    Message,
    MessageId,
    NodeClosed,
    NodeStatus,
    Snapshot,
    SnapshotAborted,
)
from zmqcast.config import ClusterConfig, ConfigError, load_config, parse_config
from zmqcast.core.events import Delivery, Event, EventKind
from zmqcast.core.payload import payload_fields
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.runtime.node import NodeRuntime

T = TypeVar("T")
StateFn = Callable[[], Any]
CLOSE_TIMEOUT = 5.0
"""Default bound on how long :meth:`Node.close` flushes what is unreleased."""


def as_config(config: ClusterConfig | Mapping[str, Any] | str | os.PathLike[str]) -> ClusterConfig:
    """A validated config from a loaded one, a dict, or a file path; :class:`ConfigError` if bad."""
    if isinstance(config, ClusterConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(dict(config))
    if isinstance(config, str | os.PathLike):
        return load_config(Path(config))
    raise ConfigError("(config)", f"must be a path, a dict or a ClusterConfig, got {type(config)}")


class _App:
    """The application side the core sees: the user's state and point-to-point messages."""

    def __init__(self, state: StateFn | None, lamport: Callable[[], int], sink: Sink) -> None:
        self._state = state
        self._lamport = lamport
        self._sink = sink

    def state(self) -> Any:
        return None if self._state is None else self._state()

    def on_message(self, src: str, body: bytes) -> None:
        self._sink(Message(src, body, self._lamport(), direct=True))

    def describe(self, body: bytes) -> dict[str, Any]:
        return {"size": len(body)}

    def payload(self, body: bytes) -> Any:
        return payload_fields(body)


Sink = Callable[[Message], None]


class _Discard(io.StringIO):
    """A console that keeps nothing: a library prints nothing."""

    def write(self, text: str) -> int:
        return len(text)


@dataclass(slots=True)
class _Waiting:
    """A multicast or a point-to-point send waiting for window space."""

    body: bytes
    dst: str | None
    future: Future[Any]
    """Resolved with the multicast's :class:`MessageId`, or None for a send."""
    deadline: float


class Node:
    """One node of the cluster ``config``, run on a background thread.

    ``run_dir`` holds the event log and snapshot files (README, "Files"); by
    default a temporary directory removed on :meth:`close`. ``state`` returns
    the JSON-serialisable application state that every snapshot records at
    this node's cut. ``sender_log`` keeps the outgoing log that ``sender-log``
    snapshots need (every node of the cluster must keep it to use that
    variant; lossy channels always do).
    """

    def __init__(
        self,
        config: ClusterConfig | Mapping[str, Any] | str | os.PathLike[str],
        node_id: str,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        state: StateFn | None = None,
        sender_log: bool = False,
        _sink: Sink | None = None,
    ) -> None:
        cfg = as_config(config)
        if not isinstance(node_id, str) or node_id not in cfg.ids:
            raise ValueError(
                f"node_id: no node {node_id!r} in the config (nodes: {', '.join(cfg.ids)})"
            )
        if state is not None and not callable(state):
            raise TypeError("state: must be a callable returning a JSON-serialisable value")
        self.config = cfg
        self.id = node_id
        self._tmp = (
            tempfile.TemporaryDirectory(prefix=f"zmqcast-{node_id}-") if run_dir is None else None
        )
        self.run_dir = Path(self._tmp.name) if self._tmp is not None else Path(str(run_dir))
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._sink: Sink = _sink if _sink is not None else self._messages.put
        self._errors = io.StringIO()
        self._waiting: deque[_Waiting] = deque()
        self._closed = threading.Event()
        self.exit_status: int | None = None
        try:
            self._runtime = NodeRuntime(
                cfg,
                node_id,
                self.run_dir,
                out=_Discard(),
                err=self._errors,
                app=_App(state, lambda: self._runtime.core.lamport, self._sink),
                on_deliveries=self._deliveries,
                sender_log=sender_log,
            )
        except zmq.ZMQError as exc:
            self._cleanup()
            endpoint = cfg.node(node_id).bind_endpoint
            raise OSError(f"node {node_id}: cannot bind {endpoint}: {exc.strerror}") from None
        except BaseException:
            self._cleanup()
            raise
        self._runtime.hooks.append(self._serve_waiting)
        self._thread = threading.Thread(target=self._run, name=f"zmqcast-{node_id}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- the loop thread
    def _run(self) -> None:
        try:
            self.exit_status = self._runtime.run()
        finally:
            self._closed.set()
            self._fail_waiting(NodeClosed(f"node {self.id} is closed"))

    def _deliveries(self, deliveries: list[Delivery]) -> None:
        sink = self._sink
        for d in deliveries:
            sink(Message(d.origin, d.body, d.lamport, False, MessageId(d.origin, d.oepoch, d.oseq)))

    def _serve_waiting(self, now: float) -> float:
        """Send what now fits the windows, in order; fail what waited too long."""
        core = self._runtime.core
        waiting = self._waiting
        while waiting:
            w = waiting[0]
            fits = core.can_multicast() if w.dst is None else core.can_send_app(w.dst)
            if not fits:
                break
            waiting.popleft()
            if w.dst is None:
                self._runtime.multicasts += 1
                self._runtime.apply(core.multicast(w.body, now))
                w.future.set_result(MessageId(*core.last_multicast))
            else:
                self._runtime.apply(core.send_app(w.dst, w.body, now))
                w.future.set_result(None)
        due = float("inf")
        kept: deque[_Waiting] = deque()
        for w in waiting:
            if w.deadline <= now:
                what = "multicast" if w.dst is None else f"send to {w.dst}"
                w.future.set_exception(
                    Backpressure(f"{self.id}: {what} found no window space in time")
                )
            else:
                kept.append(w)
                due = min(due, w.deadline)
        self._waiting = kept
        return due

    def _fail_waiting(self, error: Exception) -> None:
        while self._waiting:
            self._waiting.popleft().future.set_exception(error)

    def _call(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on the loop thread; its result or exception on the future."""
        future: Future[T] = Future()
        self._check_open()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(work())
            except Exception as exc:  # handed to the caller, not raised in the loop
                future.set_exception(exc)

        self._runtime.submit(run)
        return future

    def _check_open(self) -> None:
        if self._closed.is_set() or self._runtime.stopping:
            raise NodeClosed(f"node {self.id} is closed" + self._last_error())

    def _last_error(self) -> str:
        lines = self._errors.getvalue().strip().splitlines()
        return f" ({lines[-1]})" if lines else ""

    @staticmethod
    def _wait(future: Future[T], timeout: float | None, what: str) -> T:
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"{what}: no answer within {timeout} s") from None

    # ------------------------------------------------------------- checks
    def _body(self, payload: bytes) -> bytes:
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload: must be bytes, got {type(payload).__name__}")
        body = bytes(payload)
        limit = self._runtime.core.max_body
        if len(body) > limit:
            raise ValueError(f"payload: {len(body)} bytes, more than a message carries ({limit})")
        return body

    @staticmethod
    def _deadline(timeout: float | None) -> float:
        if timeout is None:
            return float("inf")
        if timeout < 0:
            raise ValueError(f"timeout: must not be negative, got {timeout}")
        return time.monotonic() + timeout

    # ------------------------------------------------------------- futures (the async API's base)
    def multicast_future(
        self, payload: bytes, *, timeout: float | None = None
    ) -> Future[MessageId]:
        """Like :meth:`multicast`, but returns at once with a future of its id."""
        body = self._body(payload)
        deadline = self._deadline(timeout)
        future: Future[MessageId] = Future()
        self._check_open()
        self._runtime.submit(lambda: self._waiting.append(_Waiting(body, None, future, deadline)))
        return future

    def send_future(
        self, dst: str, payload: bytes, *, timeout: float | None = None
    ) -> Future[None]:
        """Like :meth:`send`, but returns at once with a future."""
        peers = self._runtime.core.out_peers
        if dst not in peers:
            out = ", ".join(peers) or "none"
            raise ValueError(f"dst: {dst!r} is not an out-neighbour of {self.id} (they are: {out})")
        body = self._body(payload)
        deadline = self._deadline(timeout)
        future: Future[None] = Future()
        self._check_open()
        self._runtime.submit(lambda: self._waiting.append(_Waiting(body, dst, future, deadline)))
        return future

    def snapshot_future(self, variant: str | Variant | None = None) -> Future[Snapshot]:
        """Like :meth:`snapshot`, but returns at once with a future of the snapshot."""
        chosen = self._variant(variant)
        done: Future[Snapshot] = Future()
        runtime = self._runtime

        def start() -> str:
            sid, outputs = runtime.core.snapshot(chosen, time.monotonic())

            def ended(ev: Event, record: dict[str, Any] | None) -> None:
                if ev["kind"] == EventKind.SNAP_DONE and record is not None:
                    done.set_result(Snapshot.from_global(record))
                else:
                    done.set_exception(SnapshotAborted(sid, str(ev.get("reason", "unknown"))))

            runtime.snapshot_waiters.setdefault(sid, []).append(ended)
            runtime.apply(outputs)
            return sid

        started = self._call(start)

        def failed_to_start(f: Future[str]) -> None:
            exc = f.exception()
            if exc is not None:
                done.set_exception(exc)

        started.add_done_callback(failed_to_start)
        return done

    def _variant(self, variant: str | Variant | None) -> Variant:
        if variant is None:
            return DEFAULT_VARIANT[self.config.core.mode]
        try:
            return Variant(variant)
        except ValueError:
            names = ", ".join(v.value for v in Variant)
            raise ValueError(f"variant: must be one of {names}, got {variant!r}") from None

    # ------------------------------------------------------------- the blocking API
    def multicast(self, payload: bytes, *, timeout: float | None = None) -> MessageId:
        """Multicast ``payload`` to every node; return its id once it is sent.

        Waits while a window is full (a slow or unreachable peer holds it);
        raises :class:`Backpressure` once ``timeout`` seconds have passed.
        """
        return self.multicast_future(payload, timeout=timeout).result()

    def send(self, dst: str, payload: bytes, *, timeout: float | None = None) -> None:
        """Send ``payload`` to out-neighbour ``dst`` alone, reliably and in order.

        These point-to-point messages are what snapshots record as channel
        state. Waits for window space like :meth:`multicast`.
        """
        self.send_future(dst, payload, timeout=timeout).result()

    def receive(self, timeout: float | None = None) -> Message:
        """The next delivered multicast or point-to-point message.

        Raises :class:`TimeoutError` if none comes within ``timeout`` seconds,
        and :class:`NodeClosed` once the node is closed and nothing is left.
        """
        deadline = self._deadline(timeout)
        while True:
            wait = min(deadline - time.monotonic(), 0.1)
            try:
                return self._messages.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if self._closed.is_set() and self._messages.empty():
                    raise NodeClosed(f"node {self.id} is closed") from None
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.id}: nothing received in {timeout} s") from None

    def __iter__(self) -> Iterator[Message]:
        """Every message as it comes, until the node is closed."""
        while True:
            try:
                yield self.receive()
            except NodeClosed:
                return

    def snapshot(self, variant: str | Variant | None = None, *, timeout: float = 60.0) -> Snapshot:
        """Take a global snapshot with this node as initiator; return it once complete.

        ``variant``: ``chandy-lamport`` (fifo channels), ``lai-yang`` or
        ``sender-log``; by default the channel mode's own. Raises
        :class:`SnapshotAborted` if it aborts and :class:`TimeoutError` if it
        does not complete within ``timeout`` seconds.
        """
        return self._wait(self.snapshot_future(variant), timeout, "snapshot")

    def status(self, *, timeout: float = 5.0) -> NodeStatus:
        """Counters: incarnation, Lamport time, traffic, unreleased items."""
        runtime = self._runtime
        return self._wait(
            self._call(lambda: NodeStatus.from_fields(runtime.status())), timeout, "status"
        )

    @property
    def inc(self) -> int:
        """This node's incarnation number."""
        return self._runtime.inc

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush what is unreleased for up to ``timeout`` seconds, then stop and free everything."""
        if not self._closed.is_set():
            self._runtime.flush_bound = timeout
            self._runtime.stop()
            self._thread.join(timeout + 5.0)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Node:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed.is_set() else "running"
        return f"<zmqcast.Node {self.id} inc={self.inc} {state}>"
