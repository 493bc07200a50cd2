"""One node on ZeroMQ: the poll loop that runs a :class:`~zmqcast.driver.NodeDriver`.

The loop polls the sockets until the core's next deadline, feeds every decoded
frame to the driver in one batch, fires timers, and serves the admin lane.
Everything else a node does (its event log, snapshot files, deliveries) is the
driver's, which the simulator runs too; what a node is *for* (the seed's chat,
the bank, a benchmark, your program) is an application on
:class:`zmqcast.Node`, which runs this loop on a thread of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from zmqcast.check.trace import LOG_FAILED
from zmqcast.config import FAULT_KINDS, ClusterConfig, ConfigError, parse_fault_update
from zmqcast.core.config import ChannelMode
from zmqcast.core.events import Event, EventKind
from zmqcast.core.frames import Ack, Data, Frame
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.driver import (
    LOG_FAILED_EXIT,
    DirectorySnapshots,
    FileEventLog,
    NodeDriver,
    SystemClock,
    WriteFailed,
)
from zmqcast.driver.placement import place_core
from zmqcast.runtime.admin import ADMIN_PREFIX, AdminError, Request, decode_request, encode_reply
from zmqcast.runtime.faults import FaultInjector
from zmqcast.runtime.transport import Peer, Transport, decode_from
from zmqcast.security.policy import admin_refusal, op_refusal
from zmqcast.security.setup import node_keys
from zmqcast.topology import in_neighbours
from zmqcast.wire import FrameError

ADMIN_LINK = f"router:{ADMIN_PREFIX}"
BAD_FRAME_LOG_INTERVAL = 5.0
SHUTDOWN_FLUSH = 1.0
MAX_POLL = 0.05
"""Longest poll, in seconds: bounds how late a hook's own deadline is noticed."""


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
    """Runs node ``node_id`` of ``cfg`` over ZeroMQ until stopped."""

    def __init__(
        self,
        cfg: ClusterConfig,
        node_id: str,
        run_dir: Path,
        *,
        wall_ms: Callable[[], int] | None = None,
        err: TextIO | None = None,
        sender_log: bool = False,
    ) -> None:
        """``wall_ms`` is the clock the incarnation number is taken from (tests
        turn it back). Raises :class:`OSError` if the event log cannot be
        opened, :class:`~zmqcast.driver.IncarnationError` if no incarnation is
        left, and :class:`zmq.ZMQError` if the address cannot be bound.

        ``err`` takes the warning lines (a clock that stepped back, a failed
        write): standard error by default. ``sender_log`` keeps the log that
        ``sender-log`` snapshots need (always kept on lossy channels).
        """
        self.cfg = cfg
        self.id = node_id
        self.err = err if err is not None else sys.stderr
        self.run_dir = run_dir
        self.clock = SystemClock()
        self.log = FileEventLog(run_dir / "events" / f"{node_id}.jsonl", wall_ms=wall_ms)
        choice = self.log.choice
        self.inc = choice.inc
        out_peers = cfg.links[node_id]
        core_cfg = cfg.core
        if core_cfg.mode is ChannelMode.LOSSY or sender_log:
            core_cfg = dataclasses.replace(core_cfg, sender_log=True)
        try:
            self.transport = Transport(
                node_id,
                cfg.node(node_id).bind_endpoint,
                {p: cfg.node(p).endpoint for p in out_peers},
                ipv6=cfg.ipv6,
                keys=node_keys(cfg, node_id),
            )
        except BaseException:
            self.log.close()
            raise
        self.core = place_core(
            node_id,
            self.inc,
            cfg.links,
            core_cfg,
            self.clock.monotonic(),
            restarted=self.log.restarted,
        )
        self.driver = NodeDriver(
            self.core, self.clock, self.log, DirectorySnapshots(run_dir), self._inject
        )
        back = choice.clock_back_fields()
        if back is not None:
            self.core.event(EventKind.CLOCK_BACK, back)
            self._warn(
                f"warning: the clock ({choice.wall_ms} ms) is not past the "
                f"previous incarnation {choice.previous}; starting as {self.inc}"
            )
        self.faults = FaultInjector(
            cfg.faults, node_id, random.Random(f"{cfg.faults.seed}:{node_id}:{self.inc}")
        )
        self.bad = BadFrames()
        self._peers = frozenset(out_peers) | frozenset(in_neighbours(cfg.links)[node_id])
        """Who may send us frames: a well-formed frame from anyone else is counted
        and dropped like a malformed one."""
        self.stopping = False
        self.stop_reason = "signal"
        self.paused = False
        """True once an admin ``workload`` request paused the application's workload."""
        self.last_data = self.clock.monotonic()
        """When a peer last sent us a data frame (a peer still sending may need our acks)."""
        self.admin_waiters: dict[str, list[tuple[str, int]]] = {}
        """Snapshot id -> admin clients waiting for it to complete here."""
        self.hooks: list[Callable[[float], float]] = []
        """Called once per loop turn with the time; each returns when it next
        needs a turn (``inf`` for never), which bounds the poll."""
        self.status_fields: list[Callable[[], dict[str, Any]]] = []
        """Extra ``status`` fields, from the application (the bank's balance)."""
        self.flush_bound = SHUTDOWN_FLUSH
        """How long a stop waits for what is unreleased before it gives up."""
        self.final_status: dict[str, Any] | None = None
        """The last :meth:`status`, taken as the loop ended."""
        # Other threads hand work to the loop through the inbox, and wake the
        # poll through a socket pair that the transport's poller watches.
        self._inbox: deque[Callable[[], None]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.transport.watch(self._wake_r.fileno())

    def _warn(self, text: str) -> None:
        self.err.write(f"[{self.id}] {text}\n")
        self.err.flush()

    # ------------------------------------------------------------- frames out
    def _inject(self, frame: Frame) -> None:
        """Send one frame through the loss injector (config ``faults``)."""
        if not self.faults.active:
            self.transport.send(frame)
            return
        result = self.faults.send(frame, self.clock.monotonic())
        if result.faults:
            self.driver.record([self._fault_event(kind, f) for kind, f in result.faults])
        for f in result.frames:
            self.transport.send(f)

    def _fault_event(self, kind: str, frame: Frame) -> Event:
        return {
            "node": self.id,
            "inc": self.inc,
            "kind": kind,
            "lamport": self.core.lamport,
            "time": round(self.clock.monotonic(), 6),
            "ch": f"{frame.src}>{frame.dst}",
            "frame": frame.kind,
        }

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

    def stop(self, reason: str = "signal") -> None:
        """Ask the loop to flush what is unreleased (bounded) and end (thread-safe).

        ``reason`` goes into the ``stop`` record: ``signal`` (asked from
        outside), ``done`` (the application finished) or ``timeout``.
        """
        if not self.stopping:
            self.stop_reason = reason
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
        if the disk takes it, and :data:`~zmqcast.driver.LOG_FAILED_EXIT`.
        """
        try:
            return self._loop()
        except WriteFailed as failure:
            self._warn(failure.line())
            self.log.last_words(self._stop_event(LOG_FAILED), failure)
            return LOG_FAILED_EXIT
        finally:
            self.final_status = self.status()
            self.close()

    def close(self) -> None:
        """Release the sockets and files (after :meth:`run`, or instead of it)."""
        self.transport.close()
        self.log.close()
        self._wake_r.close()
        self._wake_w.close()

    def _loop(self) -> int:
        """The poll loop, then a graceful ``stop`` record; the exit status."""
        driver, core, clock = self.driver, self.core, self.clock
        driver.start()
        stop_deadline: float | None = None
        while True:
            now = clock.monotonic()
            if self.stopping:
                if stop_deadline is None:
                    stop_deadline = now + self.flush_bound
                if now >= stop_deadline or core.idle():
                    break
            self._run_inbox()
            due = min(core.next_deadline(), self.faults.next_deadline())
            for hook in self.hooks:
                due = min(due, hook(now))
            timeout = max(0.0, min(due - clock.monotonic(), MAX_POLL))
            frames = self._receive(int(timeout * 1000))
            if frames:
                driver.receive(frames)
                if any(type(f) is Data for f in frames):
                    self.last_data = clock.monotonic()
            driver.tick_if_due()
            for f in self.faults.due(clock.monotonic()):
                self.transport.send(f)
        self.driver.record([self._stop_event(self.stop_reason)])
        return 0

    def _stop_event(self, reason: str) -> Event:
        """The last record of a graceful shutdown; a killed node has none."""
        status = self.core.status()
        return {
            "node": self.id,
            "inc": self.inc,
            "kind": EventKind.STOP,
            "lamport": self.core.lamport,
            "time": round(self.clock.monotonic(), 6),
            "reason": reason,
            "unreleased": status.unreleased,
            "frames_sent": self.transport.sent_frames,
            "retransmits": status.retransmits,
        }

    def _receive(self, timeout_ms: int) -> list[Frame]:
        frames: list[Frame] = []
        now = self.clock.monotonic()
        # A DEALER whose frames went unacknowledged past suspect_after gets a
        # fresh connection (README, "Links that heal").
        self.transport.heal(self.cfg.core.suspect_after)
        # (link, reason) of everything refused: counted, and logged rate-limited.
        refused = [(f"zap:{r.address}", "auth") for r in self.transport.refusals()]
        for link, parts, peer in self.transport.receive(timeout_ms):
            if link.startswith(ADMIN_LINK):
                reason = self._admin(link[len("router:") :], parts, peer)
                if reason is not None:
                    refused.append((link, reason))
                continue
            if not self.faults.admit(link):
                continue
            try:
                # With security, peer.user is the id the connection's key belongs to.
                frame = decode_from(link, parts, self.cfg.max_frame_bytes, peer.user)
                if frame.dst != self.id:
                    raise FrameError("field:dst", f"addressed to {frame.dst!r}, not to us")
                if frame.src not in self._peers:
                    raise FrameError("stranger", f"{frame.src!r} is no neighbour of ours")
                if type(frame) is Ack:
                    self.transport.acked(frame.src)
                frames.append(frame)
            except FrameError as exc:
                refused.append((link, exc.reason))
        for link, reason in refused:
            report = self.bad.note(link, reason, now)
            if report is not None:
                self.driver.event(
                    EventKind.BAD_FRAME, {"link": link, "reason": reason, "count": report}
                )
        return frames

    def _admin(self, ident: str, parts: list[bytes], peer: Peer) -> str | None:
        """Serve one admin request (see :mod:`zmqcast.runtime.admin`), if policy allows.

        Returns the reason to count it under as a bad frame: ``auth`` for a
        client or an operation the policy refuses (:mod:`zmqcast.security.policy`),
        ``admin`` for a request that does not parse; None if it was served.
        """
        refusal = admin_refusal(
            self.cfg.admin, self.cfg.security is not None, peer.user, peer.address
        )
        try:
            req = decode_request(parts)
        except AdminError as exc:
            error = refusal or str(exc)
            self.transport.reply(ident, encode_reply(-1, False, {"error": error}))
            return "auth" if refusal else "admin"
        refusal = refusal or op_refusal(self.cfg.admin, req.op, peer.address)
        if refusal is not None:
            self.transport.reply(ident, encode_reply(req.id, False, {"error": refusal}))
            return "auth"
        try:
            fields = self._serve(ident, req)
        except AdminError as exc:
            self.transport.reply(ident, encode_reply(req.id, False, {"error": str(exc)}))
            return None
        self.transport.reply(ident, encode_reply(req.id, True, fields))
        return None

    def _serve(self, ident: str, req: Request) -> dict[str, Any]:
        if req.op == "status":
            return self.status()
        if req.op == "workload":
            run = req.args.get("run")
            if type(run) is not bool:
                raise AdminError("field run: must be true or false")
            self.paused = not run
            return {"workload": run}
        if req.op == "faults":
            return self._set_faults(req.args)
        variant_name = req.args.get("variant") or DEFAULT_VARIANT[self.cfg.core.mode].value
        try:
            variant = Variant(variant_name)
            sid = self.driver.snapshot(variant, self._answer_snapshot)
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        self.admin_waiters.setdefault(sid, []).append((ident, req.id))
        return {"phase": "started", "sid": sid, "variant": variant.value}

    def _answer_snapshot(self, ev: Event, _record: dict[str, Any] | None) -> None:
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
        self.driver.event(EventKind.FAULTS_SET, fields)
        return fields

    def status(self) -> dict[str, Any]:
        """Counters for tools and applications: traffic, what is unrepaired, what waits."""
        core = self.core.status()
        fields: dict[str, Any] = {
            "node": self.id,
            "inc": self.inc,
            "lamport": core.lamport,
            "multicasts": self.driver.multicasts,
            "delivered": self.driver.delivered,
            "connected": core.connected,
            "unreleased": core.unreleased,
            "ctl_unreleased": core.ctl_unreleased,
            "holdback": core.holdback,
            "snapshots_active": core.snapshots_active,
            "frames_sent": self.transport.sent_frames,
            "items_sent": core.items_sent,
            "retransmits": core.retransmits,
            "workload": not self.paused,
            "balance": None,
            "blocked": sorted(self.faults.blocked),
            "suspects": self.core.suspects(),
            "waiting_on": self.core.waiting_on(),
            "quiet": round(self.clock.monotonic() - self.last_data, 3),
        }
        for extra in self.status_fields:
            fields.update(extra())
        return fields
