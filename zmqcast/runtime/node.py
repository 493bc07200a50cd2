"""One node process: the poll loop that drives the sans-IO core over ZeroMQ.

The loop polls the sockets (and stdin in interactive mode) until the core's next
deadline, feeds every decoded frame to the core in one batch, fires timers,
sends what the core returns and prints and logs its deliveries and events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import select
import socket
import stat
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

import orjson

from zmqcast.check.trace import LOG_FAILED
from zmqcast.config import FAULT_KINDS, ClusterConfig, ConfigError, parse_fault_update
from zmqcast.core.bank import OPENING_BALANCE, Bank
from zmqcast.core.config import ChannelMode
from zmqcast.core.events import Delivery, Event, EventKind, Outputs, SnapshotFile
from zmqcast.core.frames import Data, Frame
from zmqcast.core.ledger import Ledger
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import DEFAULT_VARIANT, App, Variant
from zmqcast.fsutil import write_atomic
from zmqcast.runtime.admin import ADMIN_PREFIX, AdminError, Request, decode_request, encode_reply
from zmqcast.runtime.benchload import BenchLoad
from zmqcast.runtime.faults import FaultInjector
from zmqcast.runtime.ledger import read_ledger
from zmqcast.runtime.transport import Transport, decode_from
from zmqcast.runtime.workload import BankPlan, BankSchedule
from zmqcast.topology import echo_neighbours, in_neighbours, next_hops
from zmqcast.wire import MAX_INT, FrameError

ADMIN_LINK = f"router:{ADMIN_PREFIX}"
SEED_SCRIPT = ("Hello everyone!", "How are you?", "Final message from P3")
"""The seed's automatic mode, in English: node ``i`` sends line ``i``."""
BAD_FRAME_LOG_INTERVAL = 5.0
AUTO_TIMEOUT = 60.0
SHUTDOWN_FLUSH = 1.0
ACTIVITY_KINDS = frozenset(
    {
        EventKind.APP_SEND,
        EventKind.APP_RECV,
        EventKind.SNAP_CUT,
        EventKind.SNAP_RECORD,
        EventKind.SNAP_DONE,
    }
)
"""Events that show a bank run is still busy (it stops after a quiet grace period)."""
CHANNEL_KINDS = frozenset(
    {
        EventKind.RETRANSMIT,
        EventKind.GAP,
        EventKind.LOSS,
        EventKind.PEER_EPOCH,
        EventKind.SUSPECT,
        EventKind.ALIVE,
        EventKind.REPLAY,
        EventKind.SKIP,
        EventKind.LATE,
    }
)
"""Events ``--verbose`` prints on the console."""
LOG_FAILED_EXIT = 75
"""Exit status of a node that could not write its event log or a snapshot file.

75 is ``EX_TEMPFAIL`` of ``sysexits.h``: the node is fine, its disk is not, and
a restart once space is freed is the cure. A node without its log cannot be
checked, and a bank node's log is its ledger, so it stops rather than run on
unrecorded.
"""
TAIL_BLOCK = 1 << 16
"""Bytes read at a time when an event log is read backwards from its end."""
LOG_RESERVE = 1 << 13
"""Bytes of disk held beside the event log and given back to write the final
``stop`` record when the disk fills (a few filesystem blocks)."""


def script_line(index: int, node_id: str) -> str:
    """The message node number ``index`` (0-based) sends in ``--auto`` mode."""
    return SEED_SCRIPT[index] if index < len(SEED_SCRIPT) else f"Message from {node_id}"


def clock_text(wall: float) -> str:
    """``HH:MM:SS.mmm`` local time, as in the seed's console lines."""
    t = time.localtime(wall)
    return f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{int(wall * 1000) % 1000:03d}"


def _blocks_backwards(log: BinaryIO, size: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` blocks of the first ``size`` bytes of ``log``, last block first."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        log.seek(start)
        yield start, log.read(end - start)
        end = start


def open_event_log_tail(path: Path) -> int:
    """Cut a torn last line off an existing event log; return the log's size.

    A predecessor killed with ``kill -9`` in the middle of a write (or stopped
    by a full disk) leaves a partial record. Appending after it would bury it
    mid-file, where a reader cannot tell it from corruption, so it is dropped
    before the new incarnation appends. Only the end of the log is read.
    """
    try:
        with path.open("rb+") as log:
            size = log.seek(0, 2)
            keep = 0
            for start, block in _blocks_backwards(log, size):
                if start + len(block) == size and block.endswith(b"\n"):
                    return size
                cut = block.rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
            # No newline at all: the whole log is one torn record.
            if keep != size:
                log.truncate(keep)
            return keep
    except FileNotFoundError:
        return 0


def _complete_lines_backwards(log: BinaryIO, size: int) -> Iterator[bytes]:
    """The complete lines of ``log``, last first; a torn last line is skipped."""
    carry = b""
    torn = True  # what follows the last newline: a torn record, or nothing
    for _, block in _blocks_backwards(log, size):
        parts = (block + carry).split(b"\n")
        carry = parts[0]  # may continue in the block before this one
        for part in reversed(parts[1:]):
            if torn:
                torn = False
                continue
            yield part
    if not torn:
        yield carry


def last_incarnation(path: Path) -> int | None:
    """The ``inc`` of the last complete record of the event log at ``path``, if any.

    The log is read backwards from its end, so a long log costs a block or two:
    the last record is the predecessor's, the highest incarnation so far.
    Lines that are not a JSON object with an integer ``inc`` are passed over.
    """
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            for line in _complete_lines_backwards(log, size):
                try:
                    ev = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if type(ev) is dict and type(ev.get("inc")) is int:
                    inc: int = ev["inc"]
                    return inc
    except FileNotFoundError:
        pass
    return None


def wall_clock_ms() -> int:
    """Unix time in milliseconds: the usual incarnation number."""
    return int(time.time() * 1000)


class IncarnationError(ValueError):
    """No incarnation number is left above the previous one (the log says 2**53 - 1)."""


@dataclass(frozen=True, slots=True)
class IncarnationChoice:
    """The incarnation a node starts as, and what it was chosen from."""

    inc: int
    previous: int | None
    """The last incarnation in the node's event log, None on a first start."""
    wall_ms: int
    """The wall clock at start, in milliseconds."""

    @property
    def clock_back(self) -> bool:
        """The clock is not past the previous incarnation: it stepped back."""
        return self.previous is not None and self.wall_ms <= self.previous

    def clock_back_fields(self) -> dict[str, int] | None:
        """The fields of the ``clock_back`` event to log, or None if the clock is fine."""
        if self.previous is None or not self.clock_back:
            return None
        return {"previous": self.previous, "wall_ms": self.wall_ms}


def choose_incarnation(previous: int | None, wall_ms: int) -> IncarnationChoice:
    """``max(wall_ms, previous + 1)``: an incarnation that grows whatever the clock does.

    Peers drop frames of an incarnation lower than one they know, so a node
    whose clock stepped back behind its predecessor's start must still come
    back higher. Raise :class:`IncarnationError` if no number fits the wire's
    ``2**53 - 1``.
    """
    floor = 1 if previous is None else previous + 1
    inc = max(wall_ms, floor)
    if inc > MAX_INT:
        raise IncarnationError(
            f"the event log's last incarnation is {previous}; no higher one fits in 2**53 - 1"
        )
    return IncarnationChoice(inc, previous, wall_ms)


class WriteFailed(Exception):
    """A write to the event log or to a snapshot file failed: the node must stop."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.error = error
        super().__init__(self.line())

    def reason(self) -> str:
        """The OS error, e.g. ``No space left on device (errno 28)``."""
        err = self.error
        if err.strerror and err.errno is not None:
            return f"{err.strerror} (errno {err.errno})"
        return str(err)

    def line(self) -> str:
        """The one line a stopping node prints: the file and the OS error."""
        return (
            f"error: cannot write {self.path}: {self.reason()}; "
            f"stopping with exit status {LOG_FAILED_EXIT}"
        )


def hold_reserve(path: Path) -> IO[bytes] | None:
    """Hold :data:`LOG_RESERVE` bytes of disk on the event log's filesystem.

    An unlinked temporary file next to the log's real file: closing it gives
    the space back (and so does the kernel if the process is killed), which
    lets a node whose disk filled still write its final ``stop`` record. Best
    effort: None if the log is not a regular file (``/dev/full`` in tests) or
    the space cannot be had.
    """
    real = path.resolve()
    if real.exists() and not real.is_file():
        return None
    try:
        # Held open for the node's life, so no context manager.
        reserve = tempfile.TemporaryFile(dir=real.parent)  # noqa: SIM115
    except OSError:
        return None
    try:
        reserve.write(bytes(LOG_RESERVE))
        reserve.flush()
    except OSError:
        reserve.close()
        return None
    return reserve


@dataclass(slots=True)
class BadFrames:
    """Counts malformed frames and logs at most once per peer per interval."""

    counts: dict[str, int] = field(default_factory=dict)
    _last_log: dict[str, float] = field(default_factory=dict)
    _since_log: dict[str, int] = field(default_factory=dict)

    def note(self, link: str, reason: str, now: float) -> int | None:
        """Count one; return how many to report now, or None to stay quiet."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self._since_log[link] = self._since_log.get(link, 0) + 1
        if now - self._last_log.get(link, -1e18) < BAD_FRAME_LOG_INTERVAL:
            return None
        self._last_log[link] = now
        pending = self._since_log.pop(link)
        return pending


class NodeRuntime:
    """Runs node ``node_id`` of ``cfg`` until stopped (or, in auto mode, done)."""

    def __init__(
        self,
        cfg: ClusterConfig,
        node_id: str,
        run_dir: Path,
        *,
        auto: bool = False,
        verbose: bool = False,
        json_output: bool = False,
        out: TextIO | None = None,
        bank: BankPlan | None = None,
        chat_rate: float = 0.0,
        bench: BenchLoad | None = None,
        wall_ms: Callable[[], int] = wall_clock_ms,
        stdin: bool = False,
        err: TextIO | None = None,
        app: App | None = None,
        on_deliveries: Callable[[list[Delivery]], None] | None = None,
        sender_log: bool = False,
    ) -> None:
        """``wall_ms`` is the clock the incarnation number is taken from (tests
        turn it back); :class:`IncarnationError` if no incarnation is left.

        ``stdin``: multicast the lines typed on standard input. ``out`` and
        ``err`` take the console and the error lines (standard output and
        error by default). ``app`` is the application whose state snapshots
        record and which takes point-to-point messages (the bank's, if
        ``bank`` is set). ``on_deliveries`` takes every batch of deliveries
        instead of the console. ``sender_log`` keeps the log that
        ``sender-log`` snapshots need (always kept on lossy channels).
        """
        self.cfg = cfg
        self.id = node_id
        self.auto = auto
        self.verbose = verbose
        self.json_output = json_output
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.read_stdin = stdin
        self.on_deliveries = on_deliveries
        me = cfg.node(node_id)
        log_dir = run_dir / "events"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{node_id}.jsonl"
        restarted = open_event_log_tail(self.log_path) > 0
        # An incarnation must grow across restarts: milliseconds of wall time
        # do, unless the clock stepped back; the log's last record then says
        # which number the predecessor had.
        previous = last_incarnation(self.log_path) if restarted else None
        choice = choose_incarnation(previous, wall_ms())
        self.inc = choice.inc
        # Unbuffered: one write per batch of events, and after a failed write
        # nothing is left in a buffer to fail again at close.
        self.log = self.log_path.open("ab", buffering=0)
        self._reserve = hold_reserve(self.log_path)
        out_peers = cfg.links[node_id]
        self.run_dir = run_dir
        self.plan = bank
        core_cfg = cfg.core
        # Sender logs hold app messages only: free for a benchmark's multicasts.
        if (
            core_cfg.mode is ChannelMode.LOSSY
            or (bank is not None and Variant.SENDER_LOG in bank.variants)
            or bench is not None
            or sender_log
        ):
            core_cfg = dataclasses.replace(core_cfg, sender_log=True)
        self.transport = Transport(
            node_id,
            me.bind_endpoint,
            {p: cfg.node(p).endpoint for p in out_peers},
            ipv6=cfg.ipv6,
        )
        self.core = NodeCore(
            node_id,
            self.inc,
            out_peers,
            in_neighbours(cfg.links)[node_id],
            core_cfg,
            time.monotonic(),
            echo_to=echo_neighbours(cfg.links, node_id),
            restarted=restarted,
            members=cfg.ids,
            routes=next_hops(cfg.links, node_id),
        )
        back = choice.clock_back_fields()
        if back is not None:
            self.core.event(EventKind.CLOCK_BACK, back)
            self.err.write(
                f"[{node_id}] warning: the clock ({choice.wall_ms} ms) is not past the "
                f"previous incarnation {choice.previous}; starting as {self.inc}\n"
            )
            self.err.flush()
        self.faults = FaultInjector(
            cfg.faults, node_id, random.Random(f"{cfg.faults.seed}:{node_id}:{self.inc}")
        )
        self.bad = BadFrames()
        self._peers = frozenset(out_peers) | frozenset(in_neighbours(cfg.links)[node_id])
        """Who may send us frames: a well-formed frame from anyone else is counted
        and dropped like a malformed one."""
        self.stopping = False
        self.pending_input: list[bytes] = []
        self._partial_line = b""
        self.delivered_from: set[str] = set()
        self.index = cfg.ids.index(node_id)
        self.bank: Bank | None = None
        self.schedule: BankSchedule | None = None
        self._last_activity = time.monotonic()
        seed = f"{cfg.faults.seed}:{node_id}:{self.inc}"
        if bank is not None:
            ledger = read_ledger(self.log_path, node_id) if restarted else Ledger()
            balance = OPENING_BALANCE if ledger.balance is None else ledger.balance
            self.bank = Bank(out_peers, random.Random(f"bank:{seed}"), balance)
            self.core.attach(self.bank, ledger.received)
            self.core.event(
                EventKind.BANK_OPEN, {"balance": balance, "restored": ledger.balance is not None}
            )
            self.schedule = BankSchedule(
                bank, self.index, len(cfg.ids), random.Random(f"schedule:{seed}")
            )
        elif app is not None:
            self.core.attach(app)
        self.sent_script = False
        self.workload_on = True
        """False once an admin ``workload`` request stopped transfers and chat."""
        self.chat_rate = chat_rate
        self.bench = bench
        """Benchmark workload (``--bench-send``/``--bench-expect``); quiet console."""
        self._released_at: float | None = None
        self._chat_rng = random.Random(f"chat:{seed}")
        self._next_chat = float("inf")
        self.multicasts = 0
        self.delivered = 0
        self.admin_waiters: dict[str, list[tuple[str, int]]] = {}
        """Snapshot id -> admin clients waiting for it to complete here."""
        self.snapshot_waiters: dict[str, list[Callable[[Event, dict[str, Any] | None], None]]] = {}
        """Snapshot id -> callbacks for its end here: the ``snap_done`` or
        ``snap_abort`` event, and the global record if it completed."""
        self._globals: dict[str, dict[str, Any]] = {}
        self.hooks: list[Callable[[float], float]] = []
        """Called once per loop turn with the time; each returns when it next
        needs a turn (``inf`` for never), which bounds the poll."""
        self.flush_bound = SHUTDOWN_FLUSH
        """How long a stop waits for what is unreleased before it gives up."""
        self.finishing = False
        """Standard input ended: the node multicasts what is left of it, and
        stops once all of it is released (see :meth:`_finished`)."""
        self._finish_left = float("inf")
        self._finish_deadline = float("inf")
        self._stalled = False
        """Typed input waits for window space, and the node has said so."""
        # Other threads hand work to the loop through the inbox, and wake the
        # poll through a socket pair that the transport's poller watches.
        self._inbox: deque[Callable[[], None]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.transport.watch(self._wake_r.fileno())

    # ------------------------------------------------------------- output
    def _log_events(self, events: list[Event]) -> None:
        if not events:
            return
        wall = round(time.time(), 3)
        chunks = []
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for ev in events:
            ev["wall"] = wall
            chunks.append(dumps(ev, option=newline))
            if self.json_output:
                self.out.write(orjson.dumps(ev).decode() + "\n")
            elif self.verbose and ev["kind"] in CHANNEL_KINDS:
                self._line(ev["lamport"], f"{ev['kind']}: " + _fields(ev))
        self._append(b"".join(chunks))

    def _append(self, data: bytes) -> None:
        """Write ``data`` to the event log; :class:`WriteFailed` if it cannot be.

        A short write (the disk filled mid-record) is retried, so the error of
        the retry is what is reported.
        """
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += self.log.write(view[done:])
        except OSError as exc:
            raise WriteFailed(self.log_path, exc) from None

    def _line(self, lamport: int, text: str) -> None:
        self.out.write(f"[{self.id}] [Lamport={lamport}] {clock_text(time.time())} - {text}\n")
        self.out.flush()

    def apply(self, outputs: Outputs) -> None:
        # The core's events first: an injected fault is stamped with the clock
        # after the whole batch, so logging it earlier would seem to turn the
        # clock back.
        self._log_events(outputs.events)
        for frame in outputs.frames:
            self._inject(frame)
        self.delivered += len(outputs.deliveries)
        if self.bench is not None:
            now = time.monotonic()
            for d in outputs.deliveries:
                self.bench.note_delivery(d.body, now)
        if self.on_deliveries is not None:
            if outputs.deliveries:
                self.delivered_from.update(d.origin for d in outputs.deliveries)
                self.on_deliveries(outputs.deliveries)
        else:
            for d in outputs.deliveries:
                self.delivered_from.add(d.origin)
                if not self.json_output and self.bench is None:
                    self._line(d.lamport, f"Delivered: {printable(d.body)} | from={d.origin}")
        for f in outputs.files:
            self._write_snapshot_file(f)
        for ev in outputs.events:
            if ev["kind"] in ACTIVITY_KINDS:
                self._last_activity = time.monotonic()
            if ev["kind"] in (EventKind.SNAP_DONE, EventKind.SNAP_ABORT):
                if self.admin_waiters:
                    self._answer_snapshot(ev)
                waiters = self.snapshot_waiters.pop(ev["sid"], [])
                record = self._globals.pop(ev["sid"], None)
                for waiter in waiters:
                    waiter(ev, record)
            if not self.json_output:
                self._console_event(ev)

    def _console_event(self, ev: Event) -> None:
        """Snapshot milestones always, transfers with ``--verbose``."""
        kind = ev["kind"]
        if kind == EventKind.SNAP_CUT:
            raw = ev["state"]
            state = (
                " ".join(f"{k}={v}" for k, v in raw.items())
                if isinstance(raw, dict)
                else orjson.dumps(raw).decode()
            )
            self._line(ev["lamport"], f"Snapshot {ev['sid']} ({ev['variant']}) cut: {state}")
        elif kind == EventKind.SNAP_DONE:
            ms = ev["duration"] * 1000
            self._line(
                ev["lamport"], f"Snapshot {ev['sid']} complete in {ms:.1f} ms ({ev['nodes']} nodes)"
            )
        elif kind == EventKind.SNAP_ABORT:
            self._line(ev["lamport"], f"Snapshot {ev['sid']} aborted: {ev['reason']}")
        elif self.verbose and kind == EventKind.APP_SEND:
            self._line(ev["lamport"], f"Sent: transfer {ev.get('amount')} to {ev['dst']}")
        elif self.verbose and kind == EventKind.APP_RECV:
            self._line(ev["lamport"], f"Received: transfer {ev.get('amount')} from {ev['from']}")

    def _write_snapshot_file(self, f: SnapshotFile) -> None:
        if f.name == "global" and f.sid in self.snapshot_waiters:
            self._globals[f.sid] = f.content
        path = self.run_dir / "snapshots" / f.sid / f"{f.name}.json"
        try:
            write_atomic(path, orjson.dumps(f.content, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            raise WriteFailed(path, exc) from None

    def _inject(self, frame: Frame) -> None:
        """Send one frame through the loss injector (config ``faults``)."""
        if not self.faults.active:
            self.transport.send(frame)
            return
        result = self.faults.send(frame, time.monotonic())
        if result.faults:
            self._log_events([self._fault_event(kind, f) for kind, f in result.faults])
        for f in result.frames:
            self.transport.send(f)

    def _fault_event(self, kind: str, frame: Frame) -> Event:
        return {
            "node": self.id,
            "inc": self.inc,
            "kind": kind,
            "lamport": self.core.lamport,
            "time": round(time.monotonic(), 6),
            "ch": f"{frame.src}>{frame.dst}",
            "frame": frame.kind,
        }

    def _multicast(self, text: str) -> None:
        outputs = self.core.multicast(text.encode(), time.monotonic())
        self.multicasts += 1
        if not self.json_output:
            self._line(self.core.lamport, f"Sent: {printable(text.encode())}")
        self.apply(outputs)

    # ------------------------------------------------------------- other threads
    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the loop's thread at its next turn (thread-safe)."""
        self._inbox.append(work)
        self.wake()

    def wake(self) -> None:
        """Cut the loop's current poll short (thread-safe)."""
        # BlockingIOError: a wake-up is already pending; OSError: the loop has ended.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        """Ask the loop to flush what is unreleased (bounded) and end (thread-safe)."""
        self.stopping = True
        self.wake()

    def _run_inbox(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        inbox = self._inbox
        while inbox:
            inbox.popleft()()

    # ------------------------------------------------------------- loop
    def run(self) -> int:
        """Serve until stopped; return the exit status.

        A failed write to the event log or a snapshot file stops the node:
        one line on stderr, a last ``stop`` record with reason ``log_failed``
        if the disk takes it, and :data:`LOG_FAILED_EXIT`.
        """
        try:
            return self._loop()
        except WriteFailed as failure:
            self.err.write(f"[{self.id}] {failure.line()}\n")
            self.err.flush()
            self._last_words(failure)
            return LOG_FAILED_EXIT
        finally:
            self.close()

    def close(self) -> None:
        """Release the sockets and files (after :meth:`run`, or instead of it)."""
        self.transport.close()
        self.log.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._reserve is not None:
            self._reserve.close()
            self._reserve = None

    def _last_words(self, failure: WriteFailed) -> None:
        """Try to end the log with a ``stop`` record that says why; ignore failure.

        The reserve is given back first, and a record torn by the failed write
        is cut (complete records before it stay), so the ``stop`` record gets
        a line of its own.
        """
        if self._reserve is not None:
            self._reserve.close()
            self._reserve = None
        ev = self._stop_event(LOG_FAILED)
        ev.update(file=str(failure.path), error=failure.reason(), wall=round(time.time(), 3))
        try:
            if stat.S_ISREG(os.fstat(self.log.fileno()).st_mode):
                open_event_log_tail(self.log_path)
            self.log.write(orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
        except OSError:
            pass

    def _loop(self) -> int:
        """The poll loop, then a graceful ``stop`` record; the exit status."""
        self.apply(self.core.start(time.monotonic()))
        started = time.monotonic()
        done_at: float | None = None
        stop_deadline: float | None = None
        stdin_open = self.read_stdin and _has_input(sys.stdin)
        status = 0
        while True:
            now = time.monotonic()
            if self.stopping and stop_deadline is None:
                stop_deadline = now + self.flush_bound
            if stop_deadline is not None and (now >= stop_deadline or self._idle()):
                break
            if self.finishing and not self.stopping and self._finished(now):
                break
            if self.auto:
                self._auto_step()
                if done_at is None and self._auto_done():
                    done_at = now
                if done_at is not None and now - done_at >= 2 * self.cfg.core.rto_max:
                    break
                if now - started > AUTO_TIMEOUT:
                    self.out.write(f"[{self.id}] error: auto mode did not finish in time\n")
                    status = 1
                    break
            if self.chat_rate > 0:
                self._chat_step(now)
            if self.bench is not None:
                self._bench_step(now)
            if self.schedule is not None:
                finished = self._bank_step(now)
                if finished is not None:
                    status = finished
                    break
            if stdin_open and not self.stopping:
                stdin_open = self._read_stdin()
                if not stdin_open and self._input_only():
                    self.finishing = True
            self._flush_input()
            self._run_inbox()
            due = min(self.core.next_deadline(), self.faults.next_deadline())
            for hook in self.hooks:
                due = min(due, hook(now))
            if self.schedule is not None and self.workload_on:
                due = min(due, self.schedule.next_deadline())
            if self.chat_rate > 0 and self.workload_on and self.core.can_multicast():
                due = min(due, self._next_chat)
            timeout = max(0.0, min(due - time.monotonic(), 0.05))
            frames = self._receive(int(timeout * 1000))
            now = time.monotonic()
            if frames:
                self.apply(self.core.receive_many(frames, now))
                if done_at is not None and any(type(f) is Data for f in frames):
                    # A peer still (re)sends to us: it may need our acks.
                    done_at = now
            if now >= self.core.next_deadline():
                self.apply(self.core.tick(now))
            for f in self.faults.due(now):
                self.transport.send(f)
        reason = "signal" if self.stopping else ("done" if status == 0 else "timeout")
        self._log_events([self._stop_event(reason)])
        if self.bench is not None:
            record = self.bench.summary(self.id, self.transport.sent_frames, self._released_at)
            self.out.write("BENCH " + orjson.dumps(record).decode() + "\n")
            self.out.flush()
        return status

    def _stop_event(self, reason: str) -> Event:
        """The last record of a graceful shutdown; a killed node has none."""
        status = self.core.status()
        return {
            "node": self.id,
            "inc": self.inc,
            "kind": EventKind.STOP,
            "lamport": self.core.lamport,
            "time": round(time.monotonic(), 6),
            "reason": reason,
            "unreleased": status.unreleased,
            "frames_sent": self.transport.sent_frames,
            "retransmits": status.retransmits,
        }

    def _receive(self, timeout_ms: int) -> list[Frame]:
        frames: list[Frame] = []
        now = time.monotonic()
        for link, parts in self.transport.receive(timeout_ms):
            if link.startswith(ADMIN_LINK):
                self._admin(link[len("router:") :], parts)
                continue
            if not self.faults.admit(link):
                continue
            try:
                frame = decode_from(link, parts, self.cfg.max_frame_bytes)
                if frame.dst != self.id:
                    raise FrameError("field:dst", f"addressed to {frame.dst!r}, not to us")
                if frame.src not in self._peers:
                    raise FrameError("stranger", f"{frame.src!r} is no neighbour of ours")
                frames.append(frame)
            except FrameError as exc:
                report = self.bad.note(link, exc.reason, now)
                if report is not None:
                    self._log_events(
                        [
                            {
                                "node": self.id,
                                "inc": self.inc,
                                "kind": EventKind.BAD_FRAME,
                                "lamport": self.core.lamport,
                                "time": round(now, 6),
                                "link": link,
                                "reason": exc.reason,
                                "count": report,
                            }
                        ]
                    )
        return frames

    def _read_stdin(self) -> bool:
        """Queue every complete line waiting on stdin; False once it is closed.

        Reads the file descriptor directly: a buffered ``readline`` would pull
        several lines into Python's buffer, where ``select`` no longer sees them.
        """
        fd = sys.stdin.fileno()
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return True
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if self._partial_line:
                self.pending_input.append(self._partial_line)
                self._partial_line = b""
            return False
        *lines, self._partial_line = (self._partial_line + chunk).split(b"\n")
        self.pending_input.extend(t for line in lines if (t := line.rstrip(b"\r")))
        return True

    def _flush_input(self) -> None:
        while self.pending_input:
            text = self.pending_input[0].decode("utf-8", "replace")
            if text.startswith("/"):
                self.pending_input.pop(0)
                self._command(text)
                continue
            if not self.core.can_multicast():
                self._note_stall()
                return
            self._stalled = False
            self.pending_input.pop(0)
            if len(text.encode()) > self.core.max_body:
                self.out.write(
                    f"[{self.id}] error: line of {len(text.encode())} bytes not sent: "
                    f"a message carries at most {self.core.max_body}\n"
                )
                continue
            self._multicast(text)

    def _note_stall(self) -> None:
        """Say once per stall that typed input waits, and for whom."""
        if self._stalled:
            return
        self._stalled = True
        waiting = self.core.waiting_on()
        text = f"[{self.id}] waiting for window space"
        if waiting:
            verb = "has" if len(waiting) == 1 else "have"
            text += f": {', '.join(waiting)} {verb} not acknowledged"
        self.err.write(text + "\n")
        self.err.flush()

    def _input_only(self) -> bool:
        """Typed input is all this node has to do: no script, no workload."""
        return not self.auto and self.schedule is None and not self.chat_rate and self.bench is None

    @property
    def finish_bound(self) -> float:
        """How long a node whose input ended waits while nothing moves:
        ``max(flush_bound, 2 * rto_max)``, time for a retransmission at the
        longest backoff to be answered."""
        return max(self.flush_bound, 2 * self.cfg.core.rto_max)

    def _finished(self, now: float) -> bool:
        """True once a node whose input ended may stop.

        That is once every line is multicast and everything it sent is
        released (and no snapshot it takes part in is under way), or once
        :attr:`finish_bound` seconds have passed in which the work left (lines
        not sent, items unreleased) reached no new low. So a long input is
        sent in full as long as its peers keep acknowledging, and peers that
        are gone cost a few seconds, not the node's life.
        """
        if not self.pending_input and self.core.settled():
            return True
        status = self.core.status()
        left = len(self.pending_input) + status.unreleased + status.ctl_unreleased
        if left < self._finish_left:
            self._finish_left = left
            self._finish_deadline = now + self.finish_bound
        if now < self._finish_deadline:
            return False
        text = f"[{self.id}] end of input: stopping with "
        if self.pending_input:
            text += f"{_count(len(self.pending_input), 'line')} not sent and "
        text += f"{_count(status.unreleased, 'item')} unreleased"
        waiting = self.core.waiting_on()
        if waiting:
            verb = "has" if len(waiting) == 1 else "have"
            text += f" ({', '.join(waiting)} {verb} not acknowledged)"
        self.err.write(text + "\n")
        self.err.flush()
        return True

    def _command(self, text: str) -> None:
        """Interactive commands: ``/snapshot [VARIANT]``."""
        name, _, arg = text[1:].partition(" ")
        if name != "snapshot":
            self.out.write(f"[{self.id}] unknown command /{name} (try /snapshot [variant])\n")
            return
        wanted = arg.strip()
        if wanted and wanted not in {v.value for v in Variant}:
            names = ", ".join(v.value for v in Variant)
            self.out.write(f"[{self.id}] cannot snapshot: no variant {wanted!r} (try {names})\n")
            return
        try:
            variant = Variant(wanted) if wanted else DEFAULT_VARIANT[self.cfg.core.mode]
            sid, outputs = self.core.snapshot(variant, time.monotonic())
        except ValueError as exc:
            self.out.write(f"[{self.id}] cannot snapshot: {exc}\n")
            return
        self.apply(outputs)
        self._line(self.core.lamport, f"Snapshot {sid} started")

    # ------------------------------------------------------------- bank mode
    def _bank_step(self, now: float) -> int | None:
        """Run the bank plan; return an exit status once the node should stop."""
        schedule, bank, plan = self.schedule, self.bank, self.plan
        assert schedule is not None and bank is not None and plan is not None
        core = self.core
        if schedule.started is None:
            if core.connected() or self.stopping:
                schedule.start(now)
            return None
        if not self.stopping and self.workload_on:
            for _ in range(schedule.transfers_due(now)):
                transfer = bank.next_transfer(core.can_send_app)
                if transfer is not None:
                    self.apply(core.send_app(transfer[0], transfer[1], now))
            variant = schedule.snapshot_due(now)
            if variant is not None:
                self.apply(core.snapshot(variant, now)[1])
        if now < schedule.end:
            return None
        if core.settled() and now - self._last_activity >= plan.grace:
            return 0
        if now - schedule.end > plan.limit:
            self.out.write(f"[{self.id}] error: the bank run did not settle in time\n")
            return 1
        return None

    def _bench_step(self, now: float) -> None:
        """Send what the benchmark still has to; say ``BENCH-DONE`` once finished.

        A node is finished when everything it sent is released and it has
        every delivery it expects. It keeps running (its peers may still need
        its acks and relays) until the driver stops it with SIGTERM.
        """
        bench = self.bench
        assert bench is not None
        core = self.core
        if bench.sending and core.connected():
            while bench.sending and core.can_multicast():
                t = time.monotonic()
                want = min(bench.send - bench.sent, self.cfg.core.max_batch)
                taken, outputs = core.multicast_batch([bench.body(t)] * want, t)
                self.apply(outputs)
                self.multicasts += taken
                for _ in range(taken):
                    bench.note_send(t)
        if bench.send and not bench.sending and self._released_at is None and self._idle():
            self._released_at = now
        released = not bench.send or self._released_at is not None
        if not bench.done and not bench.sending and bench.received_all and released:
            bench.done = True
            self.out.write("BENCH-DONE\n")
            self.out.flush()

    def _chat_step(self, now: float) -> None:
        """Multicast chat lines at ``chat_rate`` per second while the workload runs."""
        if self._next_chat == float("inf"):
            if not self.core.connected():
                return
            self._next_chat = now + self._chat_rng.expovariate(self.chat_rate)
        if self.stopping or not self.workload_on:
            self._next_chat = max(self._next_chat, now)
            return
        while self._next_chat <= now and self.core.can_multicast():
            self._multicast(f"chat {self.multicasts + 1} from {self.id}#{self.inc}")
            self._next_chat += self._chat_rng.expovariate(self.chat_rate)
        # Backpressure: the skipped time is not made up in a burst later.
        self._next_chat = max(self._next_chat, now)

    # ------------------------------------------------------------- admin lane
    def _admin(self, ident: str, parts: list[bytes]) -> None:
        """Serve one admin request (see :mod:`zmqcast.runtime.admin`)."""
        try:
            req = decode_request(parts)
        except AdminError as exc:
            self.transport.reply(ident, encode_reply(-1, False, {"error": str(exc)}))
            return
        try:
            fields = self._serve(ident, req)
        except AdminError as exc:
            self.transport.reply(ident, encode_reply(req.id, False, {"error": str(exc)}))
            return
        self.transport.reply(ident, encode_reply(req.id, True, fields))

    def _serve(self, ident: str, req: Request) -> dict[str, Any]:
        if req.op == "status":
            return self.status()
        if req.op == "workload":
            run = req.args.get("run")
            if type(run) is not bool:
                raise AdminError("field run: must be true or false")
            self.workload_on = run
            return {"workload": run}
        if req.op == "faults":
            return self._set_faults(req.args)
        variant_name = req.args.get("variant") or DEFAULT_VARIANT[self.cfg.core.mode].value
        try:
            variant = Variant(variant_name)
            sid, outputs = self.core.snapshot(variant, time.monotonic())
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        self.admin_waiters.setdefault(sid, []).append((ident, req.id))
        self.apply(outputs)
        self._line(self.core.lamport, f"Snapshot {sid} started")
        return {"phase": "started", "sid": sid, "variant": variant.value}

    def _answer_snapshot(self, ev: Event) -> None:
        waiting = self.admin_waiters.pop(ev["sid"], [])
        if ev["kind"] == EventKind.SNAP_DONE:
            path = (self.run_dir / "snapshots" / ev["sid"] / "global.json").resolve()
            fields = {"phase": "done", "sid": ev["sid"], "path": str(path)}
            fields.update(duration=ev["duration"], nodes=ev["nodes"])
        else:
            fields = {"phase": "aborted", "sid": ev["sid"], "reason": ev["reason"]}
        for ident, rid in waiting:
            self.transport.reply(ident, encode_reply(rid, True, fields))

    def _set_faults(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            config = parse_fault_update(args, list(self.cfg.ids), self.faults.config)
        except ConfigError as exc:
            raise AdminError(f"field {exc.field}: {exc.message}") from None
        rates = {name: float(getattr(config, name)) for name in FAULT_KINDS}
        blocked = args.get("blocked", sorted(self.faults.blocked))
        if type(blocked) is not list or not all(type(b) is str for b in blocked):
            raise AdminError("field blocked: must be a list of node ids")
        unknown = set(blocked) - set(self.cfg.ids)
        if unknown:
            raise AdminError(
                f"field blocked: not nodes of the config: {', '.join(sorted(unknown))}"
            )
        self.faults.update(config, set(blocked))
        fields = {**rates, "blocked": sorted(blocked)}
        self._log_events(
            [
                {
                    "node": self.id,
                    "inc": self.inc,
                    "kind": EventKind.FAULTS_SET,
                    "lamport": self.core.lamport,
                    "time": round(time.monotonic(), 6),
                    **fields,
                }
            ]
        )
        return fields

    def status(self) -> dict[str, Any]:
        """Counters for tools: traffic, what is still unrepaired, and the workload."""
        core = self.core.status()
        return {
            "node": self.id,
            "inc": self.inc,
            "lamport": core.lamport,
            "multicasts": self.multicasts,
            "delivered": self.delivered,
            "connected": core.connected,
            "unreleased": core.unreleased,
            "ctl_unreleased": core.ctl_unreleased,
            "holdback": core.holdback,
            "snapshots_active": core.snapshots_active,
            "frames_sent": self.transport.sent_frames,
            "retransmits": core.retransmits,
            "workload": self.workload_on,
            "balance": self.bank.balance if self.bank is not None else None,
            "blocked": sorted(self.faults.blocked),
            "suspects": self.core.suspects(),
        }

    # ------------------------------------------------------------- auto mode
    def _auto_step(self) -> None:
        if self.sent_script or self.stopping:
            return
        earlier = set(self.cfg.ids[: self.index])
        if earlier <= self.delivered_from and self.core.can_multicast():
            self.sent_script = True
            self._multicast(script_line(self.index, self.id))

    def _auto_done(self) -> bool:
        others = set(self.cfg.ids) - {self.id}
        if not (self.sent_script and others <= self.delivered_from):
            return False
        if self._idle():
            return True
        # A peer that finished its script may stop before our last
        # retransmission reaches it; once every peer still holding items of
        # ours has gone silent, waiting longer cannot help.
        suspected = self.core.detector.suspected
        return all(suspected.get(p, False) for p in self.core.waiting_on())

    def _idle(self) -> bool:
        """Nothing this node sent is still unreleased."""
        return self.core.idle()


def _count(n: int, noun: str) -> str:
    """``1 line``, ``6 lines``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _has_input(stream: TextIO | None) -> bool:
    """Whether standard input can bring lines to multicast.

    ``/dev/null`` (a service manager's default, or ``< /dev/null``) brings
    none, and its end is no request to stop: such a node relays until it is
    signalled. A pipe, a file or a terminal is read, and its end finishes the
    node.
    """
    if stream is None or stream.closed:
        return False
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISCHR(mode) and not os.isatty(stream.fileno()))


def printable(body: bytes) -> str:
    """``body`` as console text: control characters shown as escapes.

    A peer's payload must not drive the reader's terminal (colours, cursor
    moves, a cleared screen), so everything but printable text is escaped.
    """
    text = body.decode("utf-8", "replace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _fields(ev: dict[str, Any]) -> str:
    skip = {"node", "inc", "kind", "lamport", "time", "wall"}
    return " ".join(f"{k}={v}" for k, v in ev.items() if k not in skip)
