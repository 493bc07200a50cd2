"""``zmqcast.Node``: one cluster member inside your program, behind a blocking API.

The node's I/O loop (:class:`~zmqcast.runtime.node.NodeRuntime`) turns on a
background thread the node owns. Calls from any thread hand their work to that
loop through its inbox and wait on a :class:`concurrent.futures.Future`; the
loop alone touches the protocol core and the sockets. The node installs no
signal handlers, reads no stdin and prints nothing. ``zmqcast node`` is this
class plus a console and an application from :mod:`zmqcast.apps`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar

import zmq

from zmqcast.api.app import Application, NodeStart, Transaction
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
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.runtime.node import NodeRuntime

T = TypeVar("T")
StateFn = Callable[[], Any]
EventHook = Callable[[list[Event]], None]
CLOSE_TIMEOUT = 5.0
"""Default bound on how long :meth:`Node.close` flushes what is unreleased."""

_new_tuple = tuple.__new__


def as_config(config: ClusterConfig | Mapping[str, Any] | str | os.PathLike[str]) -> ClusterConfig:
    """A validated config from a loaded one, a dict, or a file path; :class:`ConfigError` if bad."""
    if isinstance(config, ClusterConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(dict(config))
    if isinstance(config, str | os.PathLike):
        return load_config(Path(config))
    raise ConfigError("(config)", f"must be a path, a dict or a ClusterConfig, got {type(config)}")


class _StateApp(Application):
    """The application of a node given only ``state=``: messages go to the queue."""

    def __init__(self, state: StateFn | None, sink: Sink) -> None:
        self._state = state
        self._sink = sink

    def state(self) -> Any:
        return None if self._state is None else self._state()

    def on_message(self, message: Message) -> None:
        self._sink(message)


class _CoreApp:
    """Adapts an :class:`Application` to the snapshot layer's app protocol."""

    def __init__(self, app: Application, lamport: Callable[[], int]) -> None:
        self._app = app
        self._lamport = lamport

    def state(self) -> Any:
        return self._app.state()

    def on_message(self, src: str, body: bytes) -> None:
        self._app.on_message(Message(src, body, self._lamport(), direct=True))

    def describe(self, body: bytes) -> dict[str, Any]:
        return self._app.describe(body)

    def payload(self, body: bytes) -> Any:
        return self._app.recorded(body)


Sink = Callable[[Message], None]


def _resolve(future: Future[Any], value: Any) -> None:
    """Resolve ``future`` unless its caller gave up on it (cancelled it)."""
    if not future.done():
        future.set_result(value)


def _announce(
    on_sent: Callable[[MessageId, int], None], mid: tuple[str, int, int], lamport: int
) -> None:
    on_sent(MessageId(*mid), lamport)


def _fail(future: Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class _Tee(io.StringIO):
    """Keeps the node's warning lines (for error messages) and copies them to ``out``."""

    def __init__(self, out: TextIO | None) -> None:
        super().__init__()
        self._out = out

    def write(self, text: str) -> int:
        if self._out is not None:
            self._out.write(text)
        return super().write(text)

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()


@dataclass(slots=True)
class _Waiting:
    """A multicast or a point-to-point send waiting for window space."""

    bodies: list[bytes]
    dst: str | None
    future: Future[Any]
    """Resolved with the multicasts' :class:`MessageId` list, or None for a send."""
    deadline: float
    ids: list[MessageId]
    """The ids of the multicasts of ``bodies`` sent so far."""
    single: bool
    """Resolve with the one id (or None), not a list."""
    on_sent: Callable[[MessageId, int], None] | None = None
    """Called on the node's thread as a single multicast goes out, with its id
    and the Lamport time, before anything it causes (its own delivery)."""
    source: Iterator[bytes] | None = None
    """A stream's payloads, pulled as the window has room (``bodies`` then holds
    those pulled and not yet sent)."""
    count: int = 0
    """How many of a stream's payloads were sent."""


class Node:
    """One node of the cluster ``config``, run on a background thread.

    ``run_dir`` holds the event log and snapshot files (README, "Files"); by
    default a temporary directory removed on :meth:`close`. ``state`` returns
    the JSON-serialisable application state that every snapshot records at
    this node's cut. ``app`` instead is an :class:`~zmqcast.Application`
    whose methods the node calls on its own thread; messages then go to its
    ``on_message`` rather than to :meth:`receive`. ``on_event`` is called on
    the node's thread with every batch of events as the event log records
    them (README, "Event trace"). ``sender_log`` keeps the outgoing log that
    ``sender-log`` snapshots need (every node of the cluster must keep it to
    use that variant; lossy channels always do). ``warnings`` takes the
    node's warning lines (a clock that stepped back, a disk that filled).
    """

    def __init__(
        self,
        config: ClusterConfig | Mapping[str, Any] | str | os.PathLike[str],
        node_id: str,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        state: StateFn | None = None,
        app: Application | None = None,
        on_event: EventHook | None = None,
        sender_log: bool = False,
        warnings: TextIO | None = None,
        _sink: Sink | None = None,
        _wall_ms: Callable[[], int] | None = None,
    ) -> None:
        cfg = as_config(config)
        if not isinstance(node_id, str) or node_id not in cfg.ids:
            raise ValueError(
                f"node_id: no node {node_id!r} in the config (nodes: {', '.join(cfg.ids)})"
            )
        if state is not None and not callable(state):
            raise TypeError("state: must be a callable returning a JSON-serialisable value")
        if app is not None and state is not None:
            raise TypeError("state: give either state= or app= (whose state() it would be)")
        if app is not None and not isinstance(app, Application):
            raise TypeError(f"app: must be a zmqcast.Application, got {type(app).__name__}")
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event: must be a callable taking a list of events")
        self.config = cfg
        self.id = node_id
        self._tmp = (
            tempfile.TemporaryDirectory(prefix=f"zmqcast-{node_id}-") if run_dir is None else None
        )
        self.run_dir = Path(self._tmp.name) if self._tmp is not None else Path(str(run_dir))
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        sink: Sink = _sink if _sink is not None else self._messages.put
        self._app = app if app is not None else _StateApp(state, sink)
        self._errors = _Tee(warnings)
        self._waiting: deque[_Waiting] = deque()
        self._calls: set[Future[Any]] = set()
        """Work handed to the loop and not yet done (failed if the loop stops first)."""
        self._calls_lock = threading.Lock()
        self._closed = threading.Event()
        self.exit_status: int | None = None
        try:
            self._runtime = NodeRuntime(
                cfg,
                node_id,
                self.run_dir,
                err=self._errors,
                sender_log=sender_log,
                wall_ms=_wall_ms,
            )
        except zmq.ZMQError as exc:
            self._cleanup()
            endpoint = cfg.node(node_id).bind_endpoint
            # pyzmq appends the address to a bind error's strerror; it is named already.
            why = exc.strerror if exc.errno is None else zmq.strerror(exc.errno)
            raise OSError(exc.errno, f"node {node_id}: cannot bind {endpoint}: {why}") from None
        except BaseException:
            self._cleanup()
            raise
        runtime = self._runtime
        core = runtime.core
        try:
            self._app.on_start(
                NodeStart(node_id, runtime.inc, runtime.log.restarted, runtime.log.path, core.event)
            )
        except BaseException:
            runtime.close()
            self._cleanup()
            raise
        # Attached after on_start, which may restore what earlier incarnations applied.
        core.attach(_CoreApp(self._app, lambda: core.lamport), self._app.applied)
        runtime.status_fields.append(self._app.status_fields)
        driver = runtime.driver
        driver.delivery_listeners.append(self._deliveries)
        if on_event is not None:
            driver.event_listeners.append(on_event)
        self._runtime.hooks.append(self._serve_waiting)
        self._thread = threading.Thread(target=self._run, name=f"zmqcast-{node_id}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- the loop thread
    def _run(self) -> None:
        try:
            self.exit_status = self._runtime.run()
        finally:
            self._closed.set()
            self._fail_waiting(NodeClosed(f"node {self.id} is closed" + self._last_error()))
            self._fail_calls()

    def _deliveries(self, deliveries: list[Delivery]) -> None:
        on_message = self._app.on_message
        for d in deliveries:
            # tuple.__new__: a third of MessageId's own constructor, once per delivery.
            origin = d.origin
            mid = _new_tuple(MessageId, (origin, d.oepoch, d.oseq))
            on_message(_new_tuple(Message, (origin, d.body, d.lamport, False, mid)))

    def _serve_waiting(self, now: float) -> float:
        """Send what now fits the windows, in order; fail what waited too long."""
        driver = self._runtime.driver
        core = driver.core
        waiting = self._waiting
        while waiting:
            w = waiting[0]
            if w.source is not None:
                try:
                    if not self._pump(w):
                        break
                except Exception as exc:  # the source's, or a payload too large
                    _fail(w.future, exc)
                else:
                    _resolve(w.future, w.count)
            elif w.dst is None:
                if not core.can_multicast():
                    break
                if w.on_sent is not None:
                    mid = MessageId(*driver.multicast(w.bodies[0], partial(_announce, w.on_sent)))
                    _resolve(w.future, mid)
                    waiting.popleft()
                    continue
                taken = driver.multicast_batch(w.bodies[len(w.ids) :])
                # A batch's multicasts take consecutive sequence numbers.
                origin, epoch, last = core.last_multicast
                w.ids.extend(MessageId(origin, epoch, n) for n in range(last - taken + 1, last + 1))
                if len(w.ids) < len(w.bodies):
                    break
                _resolve(w.future, w.ids[0] if w.single else w.ids)
            else:
                if not core.can_send_app(w.dst):
                    break
                driver.send_app(w.dst, w.bodies[0])
                _resolve(w.future, None)
            waiting.popleft()
        due = float("inf")
        kept: deque[_Waiting] = deque()
        for w in waiting:
            if w.deadline <= now:
                what = "multicast" if w.dst is None else f"send to {w.dst}"
                sent = f" ({len(w.ids)} of {len(w.bodies)} sent)" if len(w.bodies) > 1 else ""
                if w.source is not None:
                    sent = f" ({w.count} sent)"
                _fail(
                    w.future,
                    Backpressure(f"{self.id}: {what} found no window space in time{sent}")
                )
            else:
                kept.append(w)
                due = min(due, w.deadline)
        self._waiting = kept
        return due

    def _pump(self, w: _Waiting) -> bool:
        """Send a stream's payloads while the window has room; True once it is exhausted."""
        assert w.source is not None
        driver = self._runtime.driver
        batch = self.config.core.max_batch
        while driver.core.can_multicast():
            if not w.bodies:
                w.bodies = [self._body(p) for p in itertools.islice(w.source, batch)]
                if not w.bodies:
                    return True
            taken = driver.multicast_batch(w.bodies)
            w.count += taken
            del w.bodies[:taken]
            if not taken:
                break
        return False

    def _fail_waiting(self, error: Exception) -> None:
        while self._waiting:
            _fail(self._waiting.popleft().future, error)

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

        self._submit(run, future)
        return future

    def _submit(self, work: Callable[[], None], future: Future[Any]) -> None:
        """Hand ``work`` to the loop; ``future`` fails with :class:`NodeClosed` if the
        loop stops before resolving it."""
        with self._calls_lock:
            self._calls.add(future)
        future.add_done_callback(self._forget_call)
        self._runtime.submit(work)
        if self._closed.is_set():  # the loop ended before it could take the work
            self._fail_calls()

    def _forget_call(self, future: Future[Any]) -> None:
        with self._calls_lock:
            self._calls.discard(future)

    def _fail_calls(self) -> None:
        """Fail the calls the loop will never run: it has stopped."""
        with self._calls_lock:
            pending = list(self._calls)
        error = NodeClosed(f"node {self.id} is closed" + self._last_error())
        for future in pending:
            with contextlib.suppress(InvalidStateError, RuntimeError):  # resolved meanwhile
                if future.set_running_or_notify_cancel():
                    future.set_exception(error)

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
        self,
        payload: bytes,
        *,
        timeout: float | None = None,
        on_sent: Callable[[MessageId, int], None] | None = None,
    ) -> Future[MessageId]:
        """Like :meth:`multicast`, but returns at once with a future of its id.

        ``on_sent(id, lamport)`` is called on the node's thread the moment the
        message goes out, before anything it causes (its own delivery): a
        console prints its "Sent" line there.
        """
        future: Future[MessageId] = self._queue_multicasts(
            [self._body(payload)], timeout, True, on_sent
        )
        return future

    def multicast_many_future(
        self, payloads: Iterable[bytes], *, timeout: float | None = None
    ) -> Future[list[MessageId]]:
        """Like :meth:`multicast_many`, but returns at once with a future of the ids."""
        bodies = [self._body(p) for p in payloads]
        if not bodies:
            done: Future[list[MessageId]] = Future()
            done.set_result([])
            return done
        many: Future[list[MessageId]] = self._queue_multicasts(bodies, timeout, False, None)
        return many

    def _queue_multicasts(
        self,
        bodies: list[bytes],
        timeout: float | None,
        single: bool,
        on_sent: Callable[[MessageId, int], None] | None,
    ) -> Any:
        deadline = self._deadline(timeout)
        future: Future[Any] = Future()
        self._check_open()
        waiting = _Waiting(bodies, None, future, deadline, [], single, on_sent)
        self._submit(lambda: self._waiting.append(waiting), future)
        return future

    def multicast_stream(
        self, payloads: Iterable[bytes], *, timeout: float | None = None
    ) -> Future[int]:
        """Multicast every payload ``payloads`` yields, pulled on the node's thread as
        the window has room; a future of how many were sent once it is exhausted.

        The iterable is the backpressure: nothing is pulled while a window is
        full, so a generator can stamp each payload as it goes out, and a
        slow peer holds the source back instead of filling memory. The
        future fails with :class:`Backpressure` once ``timeout`` passes, or
        with whatever the iterable raised.
        """
        deadline = self._deadline(timeout)
        future: Future[int] = Future()
        self._check_open()
        waiting = _Waiting([], None, future, deadline, [], False, None, iter(payloads))
        self._submit(lambda: self._waiting.append(waiting), future)
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
        waiting = _Waiting([body], dst, future, deadline, [], True)
        self._submit(lambda: self._waiting.append(waiting), future)
        return future

    def snapshot_future(self, variant: str | Variant | None = None) -> Future[Snapshot]:
        """Like :meth:`snapshot`, but returns at once with a future of the snapshot."""
        chosen = self._variant(variant)
        done: Future[Snapshot] = Future()
        driver = self._runtime.driver

        def start() -> str:
            def ended(ev: Event, record: dict[str, Any] | None) -> None:
                if ev["kind"] == EventKind.SNAP_DONE and record is not None:
                    _resolve(done, Snapshot.from_global(record))
                else:
                    _fail(done, SnapshotAborted(ev["sid"], str(ev.get("reason", "unknown"))))

            return driver.snapshot(chosen, ended)

        started = self._call(start)

        def failed_to_start(f: Future[str]) -> None:
            exc = f.exception()
            if exc is not None:
                done.set_exception(exc)

        started.add_done_callback(failed_to_start)
        return done

    def atomically_future(self, work: Callable[[Transaction], T]) -> Future[T]:
        """Like :meth:`atomically`, but returns at once with a future of its result."""
        if not callable(work):
            raise TypeError("work: must be a callable taking a zmqcast.Transaction")
        driver = self._runtime.driver

        def run() -> T:
            tx = Transaction(driver.core, driver.now())
            try:
                return work(tx)
            finally:
                # What was sent is sent even if the function raised afterwards.
                driver.multicasts += tx.multicasts
                driver.apply(tx.outputs)

        return self._call(run)

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

    def multicast_many(
        self, payloads: Iterable[bytes], *, timeout: float | None = None
    ) -> list[MessageId]:
        """Multicast every payload, in order, with one hand-over to the node's thread.

        Cheaper than a :meth:`multicast` per payload: the node sends as many
        as its windows take at each turn. Raises :class:`Backpressure` once
        ``timeout`` seconds have passed with some still unsent (those before
        them are sent).
        """
        return self.multicast_many_future(payloads, timeout=timeout).result()

    def atomically(self, work: Callable[[Transaction], T], *, timeout: float | None = None) -> T:
        """Run ``work(tx)`` on the node's thread and return its result.

        No snapshot cut and no message falls inside ``work``: change the
        state your :class:`~zmqcast.Application` reports and send what
        carries the change (``tx.send``, ``tx.multicast``) in one step, and a
        snapshot sees both or neither. Sends that do not fit a window raise
        :class:`Backpressure` at once; check ``tx.can_send(dst)`` first.
        """
        return self._wait(self.atomically_future(work), timeout, "atomically")

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
        """Counters: incarnation, Lamport time, traffic, unreleased items.

        After :meth:`close`, the counters as the node stopped.
        """
        runtime = self._runtime
        if not self._closed.is_set():
            # Answered while the node flushes on its way out, too.
            future: Future[NodeStatus] = Future()
            runtime.submit(lambda: future.set_result(NodeStatus.from_fields(runtime.status())))
            deadline = time.monotonic() + timeout
            while not self._closed.is_set():
                try:
                    return future.result(max(0.0, min(0.05, deadline - time.monotonic())))
                except FutureTimeout:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"status: no answer within {timeout} s") from None
        if runtime.final_status is None:
            raise NodeClosed(f"node {self.id} is closed" + self._last_error())
        return NodeStatus.from_fields(runtime.final_status)

    @property
    def last_activity(self) -> float:
        """When (``time.monotonic()``) a point-to-point message or a snapshot step
        last happened here: an application is busy while these go on."""
        return self._runtime.driver.last_activity

    @property
    def max_payload(self) -> int:
        """The largest payload a message carries, in bytes (set by the config's frame limit)."""
        return self._runtime.core.max_body

    @property
    def paused(self) -> bool:
        """True while an operator paused the workload (the admin lane's ``workload``
        request, which ``zmqcast stress`` sends to let the cluster settle)."""
        return self._runtime.paused

    @property
    def closed(self) -> bool:
        """True once the node's loop has stopped."""
        return self._closed.is_set()

    @property
    def inc(self) -> int:
        """This node's incarnation number."""
        return self._runtime.inc

    def close(self, timeout: float = CLOSE_TIMEOUT, *, reason: str = "done") -> None:
        """Flush what is unreleased for up to ``timeout`` seconds, then stop and free everything.

        ``reason`` is the ``stop`` record's: ``done`` (the default),
        ``signal`` or ``timeout`` (README, "Event trace").
        """
        if not self._closed.is_set():
            self._runtime.flush_bound = timeout
            self._runtime.stop(reason)
            self._thread.join(timeout + 5.0)
        self._cleanup()

    def request_close(self, reason: str = "signal") -> None:
        """Ask the node to flush and stop, without waiting (safe in a signal handler)."""
        if not self._closed.is_set():
            self._runtime.stop(reason)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the node's loop has stopped; False if ``timeout`` passed first."""
        return self._closed.wait(timeout)

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
