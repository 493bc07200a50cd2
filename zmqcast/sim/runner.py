"""The deterministic cluster simulator: N node cores on virtual time.

The seed is split into one :class:`random.Random` per subsystem (see
:func:`subsystem_rng`): the network's frame fates, the crash and partition
schedule, the workload and the snapshot schedule each draw from their own
generator. Turning snapshots on or changing the workload therefore leaves the
network's sequence of decisions and the fault plan as they were, which keeps a
failing run recognisable while it is being narrowed down.

Every frame the cores emit is encoded with :mod:`zmqcast.wire` when it goes on
the simulated network and decoded when it arrives, as the ZeroMQ transport does,
so a codec bug shows up in the simulator's invariants instead of hiding behind
in-memory values.

Events are processed from a heap ordered by ``(time, insertion order)``, so the
same parameters give the same trace, byte for byte.

Each simulated node is the :class:`~zmqcast.driver.NodeDriver` a real node
runs, on a :class:`~zmqcast.driver.VirtualClock` the simulator advances, with
its event log and snapshot files kept in memory.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from zmqcast.check import CheckReport, check_multicast
from zmqcast.check.snapshot import SnapshotFiles, SnapshotVerdict, check_snapshots
from zmqcast.core.bank import OPENING_BALANCE, Bank
from zmqcast.core.config import ChannelMode, CoreConfig, Relay
from zmqcast.core.events import Event, EventKind, SnapshotFile
from zmqcast.core.frames import Frame
from zmqcast.core.ledger import Ledger, replay
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import DEFAULT_VARIANT, Variant
from zmqcast.driver import MemoryEventLog, MemorySnapshots, NodeDriver, VirtualClock
from zmqcast.driver.placement import place_core
from zmqcast.sim.network import FaultModel, SimNetwork
from zmqcast.topology import (
    build,
    in_neighbours,
    next_hops,
    node_names,
    strongly_connected,
)
from zmqcast.wire import FrameError, decode, encode

_NEVER = float("inf")
SIM = "sim"
WORKLOADS = ("chat", "bank", "mixed")
BANK_WORKLOADS = ("bank", "mixed")
"""Workloads that move money, so snapshots and conservation can be checked."""
_CORE_DEFAULTS = CoreConfig()
DEFAULT_WINDOW = _CORE_DEFAULTS.window
MAX_WINDOW = 65536
DEFAULT_MAX_TIME = 900.0
DEFAULT_SEND_INTERVAL = 0.01
MAX_BURST = 256
_AT_LEAST_WINDOW = ("reorder_limit", "dedup_horizon")
"""Core limits that must be at least the window (the core validates them)."""
SUBSYSTEMS = ("net", "faults", "workload", "snapshots")
"""The subsystems that each draw from their own generator."""


def subsystem_rng(seed: int, subsystem: str) -> random.Random:
    """The generator of one subsystem, derived from the run's seed.

    String seeds are hashed with SHA-512 by :class:`random.Random`, so the
    derivation is the same in every process, whatever ``PYTHONHASHSEED`` is.
    """
    if subsystem not in SUBSYSTEMS:
        raise ValueError(f"subsystem: must be one of {', '.join(SUBSYSTEMS)}")
    return random.Random(f"{seed}:{subsystem}")


def _flag_number(value: float) -> str:
    """``value`` as a flag argument that parses back to exactly the same float."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


class CodecError(RuntimeError):
    """The wire codec rejected or changed a frame that the core built.

    This is a bug in :mod:`zmqcast.wire` (or a core value the codec cannot
    carry), never a simulated fault, so it stops the run.
    """


@dataclass(frozen=True, slots=True)
class SimParams:
    """Everything that determines a simulated run."""

    nodes: int = 3
    messages: int = 10
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    """Probability that a frame gets a random extra delay (see
    :class:`FaultModel`); 1 delays every frame."""
    topology: str = "mesh"
    channel: ChannelMode = ChannelMode.FIFO
    partition: bool = False
    crash: bool = False
    seed: int = 0
    send_interval: float = DEFAULT_SEND_INTERVAL
    """Mean virtual time between two multicasts of one node."""
    max_time: float = DEFAULT_MAX_TIME
    """Virtual time by which the run must be quiet; past it, liveness fails."""
    workload: str = "chat"
    """``chat``: every node multicasts ``messages`` messages. ``bank``: every
    node makes ``messages`` transfers to random out-neighbours instead.
    ``mixed``: every node does both, ``messages`` of each, interleaved."""
    snapshots: int = 0
    """Snapshots to take during the run, initiated by rotating nodes."""
    variant: str = ""
    """Snapshot variant; empty for the channel mode's own, ``all`` to rotate
    through every variant the mode supports."""
    window: int = DEFAULT_WINDOW
    """The core's flow-control window (:attr:`CoreConfig.window`)."""
    relay: Relay = Relay.TREE
    """How multicasts spread (:attr:`CoreConfig.relay`)."""
    burst: int = 1
    """Most multicasts one chat turn sends at once, as one batch
    (:meth:`NodeCore.multicast_batch`); each turn draws how many, from 1 to
    this. Above 1, origins and relays handle runs of messages, as under load."""

    def __post_init__(self) -> None:
        # ``reorder=True`` (the former switch) is the probability 1.
        object.__setattr__(self, "reorder", float(self.reorder))
        if not 0.0 <= self.reorder <= 1.0:
            raise ValueError("reorder: must be in [0, 1]")
        if self.nodes < 2:
            raise ValueError("nodes: need at least 2")
        if self.messages < 0:
            raise ValueError("messages: must not be negative")
        if self.send_interval <= 0:
            raise ValueError("send_interval: must be positive")
        if not self.max_time > 0:
            raise ValueError("max_time: must be positive")
        if not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window: must be between 1 and {MAX_WINDOW}")
        if self.workload not in WORKLOADS:
            raise ValueError(f"workload: must be one of {', '.join(WORKLOADS)}")
        if self.snapshots < 0:
            raise ValueError("snapshots: must not be negative")
        if not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"burst: must be between 1 and {MAX_BURST}")
        if self.snapshots and not self.has_bank:
            # The snapshot checker judges recorded balances: without a bank
            # every snapshot would be reported as broken.
            raise ValueError("snapshots: need a workload with transfers (bank or mixed)")
        self.variants()  # validates ``variant`` against the channel mode

    @property
    def has_bank(self) -> bool:
        """True if the workload moves money (``bank`` or ``mixed``)."""
        return self.workload in BANK_WORKLOADS

    def core_config(self) -> CoreConfig:
        """The core configuration these parameters call for.

        Limits that must not be below the window are raised with it.
        """
        raised = {n: max(getattr(_CORE_DEFAULTS, n), self.window) for n in _AT_LEAST_WINDOW}
        return dataclasses.replace(
            _CORE_DEFAULTS, mode=self.channel, relay=self.relay, window=self.window, **raised
        )

    def variants(self) -> list[Variant]:
        """The snapshot variants this run rotates through."""
        if not self.variant:
            return [DEFAULT_VARIANT[self.channel]]
        if self.variant == "all":
            return [v for v in Variant if v.supports(self.channel)]
        try:
            chosen = Variant(self.variant)
        except ValueError:
            names = ", ".join(v.value for v in Variant)
            raise ValueError(f"variant: must be one of {names} or all") from None
        if not chosen.supports(self.channel):
            raise ValueError(f"variant: {chosen.value} does not work over {self.channel.value}")
        return [chosen]

    def command(self) -> str:
        """The CLI command that replays exactly this run (floats included)."""
        parts = [
            "zmqcast sim",
            f"--nodes {self.nodes}",
            f"--messages {self.messages}",
            f"--loss {_flag_number(self.loss)}",
            f"--dup {_flag_number(self.dup)}",
        ]
        if self.reorder:
            parts.append(f"--reorder {_flag_number(self.reorder)}")
        parts += [f"--topology {self.topology}", f"--channel {self.channel.value}"]
        if self.partition:
            parts.append("--partition")
        if self.crash:
            parts.append("--crash")
        if self.workload != "chat":
            parts.append(f"--workload {self.workload}")
        if self.snapshots:
            parts.append(f"--snapshots {self.snapshots}")
        if self.variant:
            parts.append(f"--variant {self.variant}")
        if self.window != DEFAULT_WINDOW:
            parts.append(f"--window {self.window}")
        if self.relay is not Relay.TREE:
            parts.append(f"--relay {self.relay.value}")
        if self.burst != 1:
            parts.append(f"--burst {self.burst}")
        if self.max_time != DEFAULT_MAX_TIME:
            parts.append(f"--max-time {_flag_number(self.max_time)}")
        if self.send_interval != DEFAULT_SEND_INTERVAL:
            parts.append(f"--send-interval {_flag_number(self.send_interval)}")
        parts.append(f"--seed {self.seed}")
        return " ".join(parts)


@dataclass(slots=True)
class SimResult:
    params: SimParams
    events: list[Event]
    report: CheckReport
    summary: dict[str, Any]
    quiesced: bool
    end_time: float
    snapshots: list[SnapshotVerdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.quiesced and self.report.ok and all(v.ok or v.aborted for v in self.snapshots)

    def failure(self) -> tuple[str, str] | None:
        """What went wrong, as ``(name, detail)``; None if the run passed.

        A violated multicast invariant is named first (it is usually the
        cause), then ``liveness`` (not quiet by ``max_time``), then
        ``snapshot`` with the first failed snapshot's line.
        """
        if self.ok:
            return None
        violated = self.report.first_violation()
        if violated is not None:
            return violated.name, violated.detail
        if not self.quiesced:
            return "liveness", f"not quiet by t={self.params.max_time:g}"
        bad = next(v for v in self.snapshots if not (v.ok or v.aborted))
        return "snapshot", bad.line()


@dataclass(order=True, slots=True)
class _Scheduled:
    time: float
    order: int
    kind: str = field(compare=False)
    node: str = field(compare=False)
    data: Any = field(compare=False, default=None)


class Simulation:
    """Runs one :class:`SimParams` to quiescence and checks the trace."""

    CHECK_EVERY = 0.05

    def __init__(
        self, params: SimParams, cfg: CoreConfig | None = None, record: bool = True
    ) -> None:
        """With ``record=False`` no trace is kept (for very long runs); the
        invariants are then not checked, but :attr:`footprints` is sampled."""
        self.params = params
        self.record = record
        self.multicasts = 0
        self.footprints: list[tuple[int, int]] = []
        """``(multicasts so far, largest node footprint)`` at every quiet check."""
        self.cfg = cfg or params.core_config()
        if self.cfg.mode is not params.channel:
            raise ValueError("cfg.mode: must match the simulated channel mode")
        if self.cfg.window != params.window:
            raise ValueError("cfg.window: must match the simulated window")
        if Variant.SENDER_LOG in params.variants() and params.snapshots:
            self.cfg = dataclasses.replace(self.cfg, sender_log=True)
        self.files: list[SnapshotFile] = []
        self.banks: dict[str, Bank] = {}
        self._pending_snapshots = 0
        self.net_rng = subsystem_rng(params.seed, "net")
        self.fault_rng = subsystem_rng(params.seed, "faults")
        self.workload_rng = subsystem_rng(params.seed, "workload")
        self.snapshot_rng = subsystem_rng(params.seed, "snapshots")
        self.names = node_names(params.nodes)
        self.topology = build(params.topology, self.names)
        if not strongly_connected(self.topology):
            raise ValueError(f"topology: {params.topology} is not strongly connected")
        self.incoming = in_neighbours(self.topology)
        self.routes = {n: next_hops(self.topology, n) for n in self.names}
        self.net = SimNetwork(
            FaultModel(loss=params.loss, dup=params.dup, reorder=params.reorder), self.net_rng
        )
        self.events: list[Event] = []
        self.clock = VirtualClock()
        self._log = MemoryEventLog(self.events, keep=record)
        self._store = MemorySnapshots(self.files if record else [])
        self.drivers: dict[str, NodeDriver | None] = {n: None for n in self.names}
        """The running incarnation of each node; None while it is down."""
        self.incarnation: dict[str, int] = {n: 0 for n in self.names}
        chats = params.messages if params.workload != "bank" else 0
        transfers = params.messages if params.has_bank else 0
        self.chats_left: dict[str, int] = {n: chats for n in self.names}
        """Multicasts each node still has to send."""
        self.transfers_left: dict[str, int] = {n: transfers for n in self.names}
        """Transfer turns each node still has to take."""
        self.blocked: dict[str, bool] = {n: False for n in self.names}
        self.crashes = 0
        self.partitions = 0
        self.retired_retransmits = 0
        self.retired_losses = 0
        self._queue: list[_Scheduled] = []
        self._order = 0
        self._timer: dict[str, float] = {n: _NEVER for n in self.names}
        self._pending_faults = 0
        self._last_data = 0.0
        # Bumped at every boot so that a send chain from a crashed incarnation dies.
        self._send_token: dict[str, int] = {n: 0 for n in self.names}
        self.now = 0.0

    # ------------------------------------------------------------- scheduling
    def _push(self, time: float, kind: str, node: str, data: Any = None) -> None:
        self._order += 1
        heapq.heappush(self._queue, _Scheduled(time, self._order, kind, node, data))

    def _left(self, name: str) -> int:
        """Workload turns (multicasts and transfers) ``name`` still has to take."""
        return self.chats_left[name] + self.transfers_left[name]

    def _plan(self) -> None:
        p = self.params
        phase = max(p.messages * p.send_interval, 0.5)
        work = self.workload_rng
        for name in self.names:
            self._push(0.0, "boot", name)
            if self._left(name):
                self._push(work.uniform(0.0, p.send_interval), "send", name, 1)
        faults = self.fault_rng
        if p.crash:
            for _ in range(max(1, p.nodes // 3)):
                self._push(faults.uniform(0.05, phase), "crash", faults.choice(self.names))
                self._pending_faults += 1
        if p.partition:
            for _ in range(1 + faults.randrange(2)):
                self._push(faults.uniform(0.05, phase), "partition", SIM)
                self._pending_faults += 1
        variants = p.variants()
        for i in range(p.snapshots):
            initiator = self.names[i % len(self.names)]
            at = self.snapshot_rng.uniform(0.02, phase)
            self._push(at, "snapshot", initiator, variants[i % len(variants)])
            self._pending_snapshots += 1
        self._push(self.CHECK_EVERY, "check", SIM)

    # ------------------------------------------------------------- main loop
    def run(self) -> SimResult:
        self._plan()
        quiesced = False
        while self._queue:
            ev = heapq.heappop(self._queue)
            self.now = self.clock.now = ev.time
            if ev.kind == "check":
                self._sample()
                if self._quiet():
                    quiesced = True
                    break
                if self.now >= self.params.max_time:
                    break
                self._push(self.now + self.CHECK_EVERY, "check", SIM)
                continue
            self._handle(ev)
        return self._result(quiesced)

    def _handle(self, ev: _Scheduled) -> None:
        kind = ev.kind
        node = ev.node
        if kind == "frame":
            driver = self.drivers[node]
            if driver is None:
                self.net.counts.to_down_node += 1
                return
            # Frames that reach a node at the same instant are read in one
            # poll, as a real node's loop does, and handed over together.
            frames = [self._decode(ev.data)]
            queue = self._queue
            while queue and queue[0].time == ev.time and queue[0].kind == "frame":
                if queue[0].node != node:
                    break
                frames.append(self._decode(heapq.heappop(queue).data))
            driver.receive(frames)
            self._after(driver)
        elif kind == "tick":
            driver = self.drivers[node]
            if driver is None or ev.data != driver.inc or ev.time != self._timer[node]:
                return
            self._timer[node] = _NEVER
            driver.tick()
            self._after(driver)
        elif kind == "send":
            if ev.data == self._send_token[node]:
                self._try_send(node)
        elif kind == "boot":
            self._boot(node)
        elif kind == EventKind.CRASH:
            self._crash(node)
        elif kind == "restart":
            self._pending_faults -= 1
            self._boot(node)
        elif kind == EventKind.PARTITION:
            self._partition()
        elif kind == "snapshot":
            self._pending_snapshots -= 1
            driver = self.drivers[node]
            if driver is not None:
                driver.snapshot(ev.data)
                self._after(driver)
        elif kind == EventKind.HEAL:
            self._pending_faults -= 1
            self.net.heal()
            self._sim_event(EventKind.HEAL, {})
        else:  # pragma: no cover - the planner only creates the kinds above
            raise AssertionError(kind)

    def _live_cores(self) -> list[NodeCore]:
        return [d.core for d in self.drivers.values() if d is not None]

    def _sample(self) -> None:
        sizes = [c.footprint().total() for c in self._live_cores()]
        self.footprints.append((self.multicasts, max(sizes, default=0)))

    def _transmit(self, frame: Frame) -> None:
        """A driver's ``send``: put the frame on the simulated network."""
        now = self.now
        kind = frame.kind
        if kind == "data":
            self._last_data = now
        times = self.net.arrivals(frame.src, frame.dst, kind, now)
        if times:
            # Encoded once, decoded at every arrival (a duplicate too), as on
            # a real network. A frame the network drops is never seen.
            wire = (encode(frame), frame)
            for at in times:
                self._push(at, "frame", frame.dst, wire)

    def _after(self, driver: NodeDriver) -> None:
        """After a call into a node: retry a workload turn the window held up, re-arm its timer."""
        core = driver.core
        name = core.id
        if self.blocked[name] and core.can_multicast():
            self.blocked[name] = False
            self._try_send(name)
        due = core.next_deadline()
        if due < self._timer[name]:
            at = max(due, self.now)
            self._timer[name] = at
            self._push(at, "tick", name, core.inc)

    def _decode(self, wire: tuple[list[bytes], Frame]) -> Frame:
        """The frame as the receiver's transport would decode it from the bytes.

        The decoded value must equal the one the sender's core built: a field
        the codec loses or alters would otherwise only show up as a subtle
        protocol misbehaviour, if at all.
        """
        parts, sent = wire
        try:
            frame = decode(parts, max_size=self.cfg.max_frame_bytes)
        except FrameError as exc:
            raise CodecError(f"decode rejected a {sent.kind} frame: {exc}") from exc
        if frame != sent:
            raise CodecError(f"a {sent.kind} frame changed in encode/decode: {sent!r} -> {frame!r}")
        return frame

    # ------------------------------------------------------------- workload
    def _try_send(self, name: str) -> None:
        """Take one workload turn of ``name``: a multicast or a transfer.

        In the ``mixed`` workload the kind of the turn is drawn from the
        workload generator, in proportion to what is left of each kind.
        """
        driver = self.drivers[name]
        if driver is None or not self._left(name):
            return
        if not driver.core.can_multicast():
            self.blocked[name] = True
            return
        chats = self.chats_left[name]
        transfers = self.transfers_left[name]
        if transfers and (not chats or self.workload_rng.randrange(chats + transfers) >= chats):
            self._transfer(name, driver)
        else:
            self._chat(name, driver)
        if self._left(name):
            gap = self.workload_rng.expovariate(1.0 / self.params.send_interval)
            self._push(self.now + gap, "send", name, self._send_token[name])

    def _chat(self, name: str, driver: NodeDriver) -> None:
        """Multicast the next message, or with ``burst`` a drawn number of them
        at once (as many as the windows take; the turn found room for one)."""
        left = self.chats_left[name]
        number = self.params.messages - left + 1
        if self.params.burst > 1:
            count = min(left, self.workload_rng.randint(1, self.params.burst))
            bodies = [f"{name} says #{number + i}".encode() for i in range(count)]
            taken = driver.multicast_batch(bodies)
        else:
            driver.multicast(f"{name} says #{number}".encode())
            taken = 1
        self.chats_left[name] -= taken
        self.multicasts += taken
        self._after(driver)

    def _transfer(self, name: str, driver: NodeDriver) -> None:
        bank = self.banks[name]
        # Debit and send are one step: no cut can fall between them.
        transfer = bank.next_transfer(driver.core.can_send_app)
        if transfer is not None:
            self.transfers_left[name] -= 1
            driver.send_app(transfer[0], transfer[1])
            self._after(driver)
        elif bank.balance <= 0:
            # Broke: the turn is spent, or a node whose payers have all
            # finished would wait forever.
            self.transfers_left[name] -= 1

    # ------------------------------------------------------------- faults
    def _boot(self, name: str) -> None:
        self.incarnation[name] += 1
        core = place_core(
            name,
            self.incarnation[name],
            self.topology,
            self.cfg,
            self.now,
            restarted=self.incarnation[name] > 1,
            routes=self.routes[name],
        )
        if self.params.has_bank:
            # As on a real node, a restarted account is replayed from the log.
            restored = self.incarnation[name] > 1
            ledger = replay(self.events, name) if restored else Ledger()
            balance = OPENING_BALANCE if ledger.balance is None else ledger.balance
            bank = Bank(
                self.topology[name],
                random.Random(f"{self.params.seed}:bank:{name}:{self.incarnation[name]}"),
                balance,
            )
            self.banks[name] = bank
            core.attach(bank, ledger.received)
            core.event(
                EventKind.BANK_OPEN, {"balance": balance, "restored": ledger.balance is not None}
            )
        driver = NodeDriver(core, self.clock, self._log, self._store, self._transmit)
        self.drivers[name] = driver
        self._timer[name] = _NEVER
        self._send_token[name] += 1
        driver.start()
        self._after(driver)
        if self._left(name) and self.incarnation[name] > 1:
            self._push(self.now, "send", name, self._send_token[name])

    def _crash(self, name: str) -> None:
        driver = self.drivers[name]
        if driver is None:
            self._pending_faults -= 1
            return
        core = driver.core
        self.crashes += 1
        status = core.status()
        self.retired_retransmits += status.retransmits
        self.retired_losses += status.lost
        self.events.append(
            {
                "node": name,
                "inc": core.inc,
                "kind": EventKind.CRASH,
                "lamport": core.lamport,
                "time": round(self.now, 6),
            }
        )
        self.drivers[name] = None
        self.blocked[name] = False
        self._push(self.now + self.fault_rng.uniform(0.2, 2.0), "restart", name)

    def _partition(self) -> None:
        if self.net.partitioned:
            self._pending_faults -= 1
            return
        names = list(self.names)
        self.fault_rng.shuffle(names)
        cut = self.fault_rng.randint(1, len(names) - 1)
        side_a, side_b = sorted(names[:cut]), sorted(names[cut:])
        self.net.partition(side_a, side_b)
        self.partitions += 1
        self._sim_event(EventKind.PARTITION, {"sides": [side_a, side_b]})
        self._push(self.now + self.fault_rng.uniform(0.5, 3.0), "heal", SIM)

    def _sim_event(self, kind: str, fields: dict[str, Any]) -> None:
        ev: Event = {"node": SIM, "inc": 0, "kind": kind, "lamport": 0, "time": round(self.now, 6)}
        ev.update(fields)
        self.events.append(ev)

    # ------------------------------------------------------------- ending
    def _quiet(self) -> bool:
        """True once nothing is left to send, repair or report."""
        if self._pending_faults or self.net.partitioned or self._pending_snapshots:
            return False
        if any(self._left(n) for n in self.names) or any(self.blocked.values()):
            return False
        cfg = self.cfg
        if cfg.mode is ChannelMode.LOSSY:
            settle = 3 * cfg.heartbeat_interval + 2 * cfg.loss_timeout
            if self.now < self._last_data + settle:
                return False
        return all(d is not None and d.core.quiescent() for d in self.drivers.values())

    def _result(self, quiesced: bool) -> SimResult:
        p = self.params
        report = check_multicast(
            self.events if self.record else [],
            reliable=p.channel.reliable,
            fifo=p.channel is ChannelMode.FIFO,
        )
        live = [c.status() for c in self._live_cores()]
        retransmits = self.retired_retransmits + sum(s.retransmits for s in live)
        channel_losses = self.retired_losses + sum(s.lost for s in live)
        kinds = self.net.counts.by_kind
        multicasts = self.multicasts
        delivered = sum(1 for e in self.events if e["kind"] == EventKind.DELIVER)
        summary: dict[str, Any] = {
            "command": p.command(),
            "virtual_time": round(self.now, 3),
            "quiesced": quiesced,
            "multicasts": multicasts,
            "deliveries": delivered,
            "frames": {
                "total": self.net.counts.frames,
                "data": kinds.get("data", 0),
                "ack": kinds.get("ack", 0),
                "hb": kinds.get("hb", 0),
            },
            "retransmitted_items": retransmits,
            "faults": {
                "dropped": self.net.counts.dropped,
                "duplicated": self.net.counts.duplicated,
                "reordered": self.net.counts.reordered,
                "partition_drops": self.net.counts.partitioned,
                "to_down_node": self.net.counts.to_down_node,
                "partitions": self.partitions,
                "crashes": self.crashes,
            },
            "losses": {
                "declared_by_channels": channel_losses,
                # A miss at a correct node counts under validity and agreement alike.
                "missing_deliveries": max((r.expected_losses for r in report.results), default=0),
            },
            "invariants": {r.name: ("held" if r.held else "VIOLATED") for r in report.results},
        }
        if p.has_bank:
            summary["app"] = {
                "sent": sum(1 for e in self.events if e["kind"] == EventKind.APP_SEND),
                "received": sum(1 for e in self.events if e["kind"] == EventKind.APP_RECV),
            }
        verdicts = check_snapshots(self.events, collect_files(self.files)) if self.record else []
        if verdicts:
            summary["snapshots"] = {
                "taken": len(verdicts),
                "complete": sum(v.complete for v in verdicts),
                "aborted": sum(v.aborted for v in verdicts),
                "failed": sum(not (v.ok or v.aborted) for v in verdicts),
                "lines": [v.line() for v in verdicts],
            }
        return SimResult(p, self.events, report, summary, quiesced, self.now, verdicts)


def collect_files(files: list[SnapshotFile]) -> dict[str, SnapshotFiles]:
    """Snapshot files written in memory, grouped as the checker reads a run directory."""
    records: dict[str, dict[str, dict[str, Any]]] = {}
    globals_: dict[str, dict[str, Any]] = {}
    for f in files:
        if f.name == "global":
            globals_[f.sid] = f.content
        else:
            records.setdefault(f.sid, {})[f.name] = f.content
    sids = sorted(set(records) | set(globals_))
    return {sid: SnapshotFiles(sid, records.get(sid, {}), globals_.get(sid)) for sid in sids}


def simulate(params: SimParams, cfg: CoreConfig | None = None) -> SimResult:
    """Run one simulation and check it."""
    return Simulation(params, cfg).run()
