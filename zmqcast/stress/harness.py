"""``zmqcast stress``: a real cluster under a seeded nemesis, then every checker.

The run has these phases:

1. **start**: one ``zmqcast node`` process per config entry, each running the
   mixed workload (generated chat multicasts and bank transfers) with the
   injected per-link drop, duplication and reordering;
2. **nemesis**: the schedule of :mod:`zmqcast.stress.schedule` is played:
   ``kill -9`` and restart, partitions through the transport's blocked peers,
   snapshots initiated over the admin lane; at its end the workload goes on
   (no new faults) until every restarted node has been connected for
   :data:`~zmqcast.stress.schedule.AFTERLIFE` seconds;
3. **settle**: faults and workload stop, every node comes back up, and the
   harness waits (bounded) until no channel holds an unreleased item, no
   delivery is held back and no snapshot is running;
4. **check**: the nodes stop gracefully and the multicast, Lamport and snapshot
   checkers run over the event logs and snapshot files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from zmqcast.check import TraceIndex, check_multicast
from zmqcast.check.logs import read_events
from zmqcast.check.multicast import AGREEMENT, RESTART_VALIDITY, VALIDITY
from zmqcast.check.report import InvariantResult
from zmqcast.check.snapshot import (
    CHANNELS,
    CONSERVATION,
    CUT,
    STATES,
    SnapshotVerdict,
    check_snapshots,
    load_snapshot_files,
)
from zmqcast.config import ClusterConfig, load_config
from zmqcast.core.events import EventKind
from zmqcast.driver import LOG_FAILED_EXIT
from zmqcast.fsutil import write_atomic
from zmqcast.runtime.spawn import BankFlags, NodeFlags, stop_all
from zmqcast.security.run import enable_remote_control, generate_run_keys
from zmqcast.stress.cluster import Cluster
from zmqcast.stress.netns import NetnsLab, unavailable
from zmqcast.stress.schedule import (
    AFTERLIFE,
    Action,
    Plan,
    blocked_peers,
    build_schedule,
    spared_nodes,
)

STATUS_WAIT = 0.3
"""Seconds a status poll waits for the nodes' answers."""
POLL_EVERY = 0.5
"""Seconds between two status polls of the whole cluster."""
CONNECT_LIMIT = 30.0
EXTENSION_LIMIT = CONNECT_LIMIT + AFTERLIFE
"""Longest the workload runs past ``--duration`` for restarted nodes to come up."""
STOP_LIMIT = 10.0
QUIESCENCE = "quiescence"
"""The invariant that the cluster settled: every loss repaired, nothing pending."""
NO_FAULTS = {"loss": 0.0, "dup": 0.0, "delay": 0.0, "reorder": 0.0, "blocked": [], "links": {}}
LOGS_WRITTEN = "event-logs-written"
"""The invariant that no node stopped because it could not write its log (disk full)."""
SNAPSHOT_COMPLETION = "snapshot-completion"
SNAPSHOT_CHECKS = (CUT, CHANNELS, STATES, CONSERVATION)
"""What every completed snapshot is checked for, in report order."""


@dataclass(frozen=True)
class StressOptions:
    """Everything one stress run is asked to do (the ``zmqcast stress`` flags)."""

    config: Path
    run_dir: Path
    duration: float = 20.0
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    kill_every: float = 0.0
    partition_every: float = 0.0
    snapshot_every: float = 1.0
    variants: tuple[str, ...] = ()
    seed: int = 0
    rate: float = 100.0
    """Bank transfers per second per node."""
    chat_rate: float = 100.0
    """Chat multicasts per second per node: the default loads the links (hundreds
    of multicasts a second in all on five nodes, each flooded over every link)."""
    settle_limit: float = 60.0
    no_repair: bool = False
    """Debug: run ``lossy`` channels while checking as if they repaired losses."""
    netns: str = "auto"
    """``on``: a network namespace per node (root only); ``auto``: if possible."""
    secure: bool = False
    """CurveZMQ on every link, with keys made for the run under ``RUN_DIR/keys``."""


@dataclass
class Progress:
    """Live counters for the progress bar."""

    elapsed: float = 0.0
    multicasts: int = 0
    delivered: int = 0
    kills: int = 0
    partitions: int = 0
    snapshots: int = 0
    phase: str = "starting"


@dataclass
class StressReport:
    """What a run did and whether every invariant held."""

    options: StressOptions
    nodes: int
    mode: str
    elapsed: float = 0.0
    multicasts: int = 0
    delivered: int = 0
    transfers: int = 0
    frames_sent: int = 0
    retransmits: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    snapshots_requested: int = 0
    verdicts: list[SnapshotVerdict] = field(default_factory=list)
    invariants: list[InvariantResult] = field(default_factory=list)
    correct_nodes: int = 0
    network: str = "loopback"
    spared: tuple[str, ...] = ()
    """Nodes the nemesis never killed (none if it killed no one)."""
    required: tuple[str, ...] = ()
    """Invariants the run was meant to exercise: checking nothing fails them."""

    @property
    def unchecked(self) -> list[InvariantResult]:
        """Required invariants that checked nothing: the run did not test them."""
        return [r for r in self.invariants if r.name in self.required and r.vacuous]

    @property
    def ok(self) -> bool:
        """Nothing violated, and every required invariant checked something."""
        return all(r.held for r in self.invariants) and not self.unchecked


def effective_config(
    options: StressOptions, hosts: Mapping[str, str] | None = None
) -> tuple[ClusterConfig, Path]:
    """Write ``RUN_DIR/config.json``: the user's config with the run's faults.

    ``hosts`` replaces node addresses (each node's namespace address). The
    caller has loaded (so validated) the user's config already.
    """
    data = orjson.loads(options.config.read_bytes())
    faults = dict(data.get("faults", {}))
    faults.update(loss=options.loss, dup=options.dup, reorder=options.reorder, seed=options.seed)
    data["faults"] = faults
    data["trace"] = "full"  # the checkers read every delivery, whatever the user's config says
    if options.no_repair:
        data["channel"] = "lossy"
    for entry in data["nodes"]:
        entry["host"] = (hosts or {}).get(entry["id"], entry["host"])
    # The harness is the operator: its admin requests come from the bridge's
    # address, not loopback, and it sets faults and pauses the workload.
    data = enable_remote_control(data)
    if options.secure:
        data, _keys = generate_run_keys(data, options.run_dir)
    path = options.run_dir / "config.json"
    write_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return load_config(path), path


class StressRun:
    """One stress run; :meth:`run` returns its report."""

    def __init__(
        self, options: StressOptions, on_progress: Callable[[Progress], None] | None = None
    ) -> None:
        self.options = options
        self.on_progress = on_progress or (lambda _p: None)
        options.run_dir.mkdir(parents=True, exist_ok=True)
        self.lab: NetnsLab | None = None
        self.network = "loopback"
        why = unavailable() if options.netns != "off" else "--netns off"
        if why is not None and options.netns == "on":
            raise RuntimeError(f"--netns on, but namespaces cannot be used: {why}")
        nodes = load_config(options.config).ids  # also validates it, with its own errors
        hosts: Mapping[str, str] | None = None
        if why is None:
            self.lab = NetnsLab(nodes)
            hosts = self.lab.setup()
            self.network = f"a network namespace per node, bridges {self.lab.prefix}a/b"
        else:
            self.network = f"shared loopback ({why})"
        try:
            self.cfg, self.config_path = effective_config(options, hosts)
        except BaseException:
            if self.lab is not None:
                self.lab.teardown()
            raise
        self.plan = Plan(
            nodes=tuple(self.cfg.ids),
            duration=options.duration,
            kill_every=options.kill_every,
            partition_every=options.partition_every,
            snapshot_every=options.snapshot_every,
            variants=options.variants,
            seed=options.seed,
        )
        self.schedule = build_schedule(self.plan)
        kills = any(a.kind == "kill" for a in self.schedule)
        self.spared = spared_nodes(self.plan) if kills else ()
        self.progress = Progress()
        self.sides: tuple[tuple[str, ...], ...] = ()
        self.status: dict[tuple[str, int], dict[str, Any]] = {}
        """Latest status of every incarnation seen, for counters of killed ones."""
        self.came_back: dict[str, float | None] = {}
        """Restarted node -> when (monotonic) its new incarnation first answered
        connected; None until then."""
        self._replaced: dict[str, int] = {}
        """Restarted node -> the incarnation it replaced (answers from it do not count)."""
        self.unsettled: list[str] = []
        self.crashed: list[tuple[str, int]] = []
        self._nemesis_log = (options.run_dir / "nemesis.jsonl").open("ab")
        self._t0 = time.monotonic()

    # ------------------------------------------------------------- helpers
    def _node_flags(self) -> NodeFlags:
        """Bank transfers and chat until stopped; snapshots come from the nemesis."""
        o = self.options
        variant = "all" if len(o.variants) != 1 else o.variants[0]
        bank = BankFlags(rate=o.rate, duration=86400, snapshot_every=0, variant=variant)
        return NodeFlags(bank=bank, chat_rate=o.chat_rate)

    def _log(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.monotonic(), 6), **record}
        self._nemesis_log.write(orjson.dumps(record) + b"\n")
        self._nemesis_log.flush()

    def _poll(self, cluster: Cluster) -> dict[str, dict[str, Any]]:
        """Ask every running node for its status; the answers that came in time."""
        for node in cluster.check_exits():
            self._log({"action": "crashed", "node": node})
        ids: dict[str, int] = {}
        for node, lane in cluster.lanes.items():
            if cluster.up(node):
                rid = lane.send("status")
                if rid is not None:
                    ids[node] = rid
        answers: dict[str, dict[str, Any]] = {}
        poller = zmq.Poller()
        for node in ids:
            poller.register(cluster.lanes[node].sock, zmq.POLLIN)
        deadline = time.monotonic() + STATUS_WAIT
        while len(answers) < len(ids) and (left := deadline - time.monotonic()) > 0:
            poller.poll(int(left * 1000) + 1)
            for node, rid in ids.items():
                for reply in cluster.lanes[node].replies():
                    if reply.get("id") == rid and reply.get("ok"):
                        answers[node] = reply
                        self.status[(node, reply["inc"])] = reply
                        self._note_comeback(node, reply)
        self.progress.multicasts = sum(s["multicasts"] for s in self.status.values())
        self.progress.delivered = sum(s["delivered"] for s in self.status.values())
        return answers

    def _note_comeback(self, node: str, reply: Mapping[str, Any]) -> None:
        if (
            node in self.came_back
            and self.came_back[node] is None
            and reply["inc"] != self._replaced.get(node)
            and reply["connected"]
        ):
            self.came_back[node] = time.monotonic()

    # ------------------------------------------------------------- phases
    def run(self) -> StressReport:
        """Start, play the nemesis, settle, stop, and check."""
        lab = self.lab
        prefix = {n: lab.wrap(n, []) for n in self.cfg.ids} if lab is not None else None
        cluster = Cluster(
            self.cfg, self.config_path, self.options.run_dir, self._node_flags(), prefix
        )
        self._log(
            {
                "action": "plan",
                "network": self.network,
                "spared": list(self.spared),
                "schedule": [a.describe() for a in self.schedule],
            }
        )
        try:
            for node in self.cfg.ids:
                cluster.start(node)
            self._wait_connected(cluster)
            self._play(cluster)
            self._extend(cluster)
            self._settle(cluster)
            self._stop(cluster)
            self.crashed = list(cluster.crashed)
        finally:
            cluster.close()
            self._nemesis_log.close()
            if lab is not None:
                lab.teardown()
        return self._check()

    def _wait_connected(self, cluster: Cluster) -> None:
        deadline = time.monotonic() + CONNECT_LIMIT
        while time.monotonic() < deadline:
            live = self._poll(cluster)
            if len(live) == len(self.cfg.ids) and all(s["connected"] for s in live.values()):
                return
            time.sleep(0.05)  # waiting on processes that are still starting
        raise RuntimeError("the cluster did not connect within 30 s")

    def _play(self, cluster: Cluster) -> None:
        self.progress.phase = "nemesis"
        self._t0 = time.monotonic()
        pending = list(self.schedule)
        next_poll = 0.0
        while True:
            now = time.monotonic() - self._t0
            self.progress.elapsed = now
            while pending and pending[0].at <= now:
                self._act(cluster, pending.pop(0))
            if now >= self.options.duration:
                return
            if now >= next_poll:
                self._poll(cluster)
                self.on_progress(self.progress)
                next_poll = now + POLL_EVERY
            wake = min([next_poll, self.options.duration] + [a.at for a in pending[:1]])
            time.sleep(max(0.0, min(wake - (time.monotonic() - self._t0), 0.05)))

    def _extend(self, cluster: Cluster) -> None:
        """Keep the workload running until every restarted node has had its afterlife.

        The schedule restarts a node at least AFTERLIFE before the end, but a
        process under CPU load can take seconds to start, and on a ring every
        origin's window waits for the restarted node. Without this, its new
        incarnation could stop almost as soon as it came back, and
        restart-validity would have nothing multicast after the crash to judge.
        No new fault is injected; partitions and loss stay as they are.
        """
        deadline = time.monotonic() + EXTENSION_LIMIT

        def short() -> list[str]:
            # A node that ended on its own is a crash, reported as such: not waited for.
            return [n for n in still_coming_back(self.came_back, time.monotonic()) if cluster.up(n)]

        waiting = short()
        if not waiting:
            return
        self.progress.phase = "extending"
        self._log({"action": "extend", "nodes": waiting})
        while waiting and time.monotonic() < deadline:
            time.sleep(POLL_EVERY)  # the period of the status poll
            self._poll(cluster)
            self.progress.elapsed = time.monotonic() - self._t0
            self.on_progress(self.progress)
            waiting = short()
        self._log({"action": "extended", "short": waiting})

    def _act(self, cluster: Cluster, action: Action) -> None:
        outcome: dict[str, Any] = {"action": action.kind, **action.describe()}
        if action.kind == "kill":
            cluster.kill(action.node)
            self.progress.kills += 1
        elif action.kind == "restart":
            incs = [inc for (n, inc) in self.status if n == action.node]
            self._replaced[action.node] = max(incs, default=-1)
            self.came_back[action.node] = None
            cluster.start(action.node)
            if self.sides:
                blocked = blocked_peers(self.sides, action.node)
                reply = cluster.lanes[action.node].call("faults", 5.0, retry=True, blocked=blocked)
                outcome["partitioned"] = reply is not None
        elif action.kind == EventKind.PARTITION:
            self.sides = action.sides
            self.progress.partitions += 1
            self._set_blocked(cluster, outcome)
            if self.lab is not None:
                self.lab.partition(action.sides)
        elif action.kind == EventKind.HEAL:
            self.sides = ()
            self._set_blocked(cluster, outcome)
            if self.lab is not None:
                self.lab.heal()
        elif action.kind == "snapshot":
            if cluster.up(action.node):
                rid = cluster.lanes[action.node].send("snapshot", variant=action.variant)
                outcome["sent"] = rid is not None
                self.progress.snapshots += rid is not None
            else:
                outcome["sent"] = False
        self._log(outcome)

    def _set_blocked(self, cluster: Cluster, outcome: dict[str, Any]) -> None:
        missed = []
        for node, lane in cluster.lanes.items():
            if cluster.up(node):
                blocked = blocked_peers(self.sides, node) if self.sides else []
                if lane.call("faults", 2.0, retry=True, blocked=blocked) is None:
                    missed.append(node)
        outcome["missed"] = missed

    def _settle(self, cluster: Cluster) -> None:
        """Stop the faults and the workload, then wait until everything is repaired."""
        self.progress.phase = "settling"
        self.sides = ()
        if self.lab is not None:
            self.lab.heal()
        for node in self.cfg.ids:
            if not cluster.up(node):
                cluster.start(node)
                self._log({"action": "restart", "node": node, "why": "settle"})
        for lane in cluster.lanes.values():
            lane.call("workload", 10.0, retry=True, run=False)
            lane.call("faults", 10.0, retry=True, **NO_FAULTS)
        self._log({"action": "settle"})
        deadline = time.monotonic() + self.options.settle_limit
        previous: dict[str, int] = {}
        while time.monotonic() < deadline:
            live = self._poll(cluster)
            self.progress.elapsed = time.monotonic() - self._t0
            self.on_progress(self.progress)
            self.unsettled = [n for n in self.cfg.ids if not _settled(live.get(n))]
            delivered = {n: s["delivered"] for n, s in live.items()}
            if not self.unsettled and delivered == previous:
                self._log({"action": "settled"})
                return
            previous = delivered
            time.sleep(POLL_EVERY)  # the period of the settle poll
        self._log({"action": "unsettled", "nodes": self.unsettled})

    def _stop(self, cluster: Cluster) -> None:
        self.progress.phase = "stopping"
        self._poll(cluster)
        for node, code in stop_all(cluster.procs, STOP_LIMIT).items():
            if code == LOG_FAILED_EXIT and node not in cluster.killed:
                # Its final stop record could not be written: a failure too.
                cluster.crashed.append((node, code))

    # ------------------------------------------------------------- checks
    def _check(self) -> StressReport:
        self.progress.phase = "checking"
        o = self.options
        mode = self.cfg.core.mode.value
        report = StressReport(o, len(self.cfg.ids), mode)
        report.elapsed = time.monotonic() - self._t0
        report.network = self.network
        report.spared = self.spared
        report.required = self._required()
        events = read_events(o.run_dir)
        failed, self.crashed = log_failures(self.crashed)
        # With --no-repair the channels lose data, yet we check as if they did
        # not: that is the point of the switch. A node that could not write its
        # log is excused: its log is incomplete, and the disk is to blame.
        fifo = mode == "fifo"
        mc = check_multicast(TraceIndex(events, failed), reliable=True, fifo=fifo)
        report.invariants.extend(mc.results)
        report.verdicts = check_snapshots(events, load_snapshot_files(o.run_dir))
        report.invariants.extend(snapshot_invariants(report.verdicts))
        report.invariants.append(
            InvariantResult(
                QUIESCENCE,
                not self.unsettled,
                len(self.cfg.ids),
                len(self.unsettled),
                unit="nodes",
                detail=f"still repairing after {o.settle_limit:g} s: {', '.join(self.unsettled)}"
                if self.unsettled
                else "",
            )
        )
        crashed = ", ".join(f"{n} (exit status {c})" for n, c in self.crashed)
        exited = f"ended without being killed: {crashed}; see RUN_DIR/logs" if crashed else ""
        report.invariants.append(
            InvariantResult(
                "no-unexpected-exit",
                not self.crashed,
                len(self.cfg.ids),
                len(self.crashed),
                unit="nodes",
                detail=exited,
            )
        )
        report.invariants.append(logs_written(failed, len(self.cfg.ids)))
        _count(report, events, self.status)
        report.snapshots_requested = self.progress.snapshots
        report.faults["kill"] = self.progress.kills
        report.faults["partition"] = self.progress.partitions
        return report

    def _required(self) -> tuple[str, ...]:
        """The invariants this run was meant to exercise, from its options and schedule.

        Chat multicasts exercise validity and agreement (bank transfers are not
        multicast); a kill while chat runs exercises restart-validity; a
        snapshot request exercises the snapshot checks. The spared nodes make
        the first three checkable under any kill rate.
        """
        kinds = {a.kind for a in self.schedule}
        required: list[str] = []
        if self.options.chat_rate > 0:
            required += [VALIDITY, AGREEMENT]
            if "kill" in kinds:
                required.append(RESTART_VALIDITY)
        if "snapshot" in kinds:
            required += [f"snapshot {name}" for name in SNAPSHOT_CHECKS]
            required.append(SNAPSHOT_COMPLETION)
        return tuple(required)


def log_failures(
    crashed: list[tuple[str, int]],
) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """Split unexpected exits into log failures (node -> why) and other crashes.

    An exit with :data:`LOG_FAILED_EXIT` is a node that could not write its
    event log or a snapshot file, most likely because the disk is full: it is
    reported by :func:`logs_written`, not as an unexplained crash, and the node
    is excused from the protocol checks (``TraceIndex(events, failed)``), which
    would otherwise blame the protocol for what the disk lost.
    """
    why = f"could not write its event log or a snapshot file (exit status {LOG_FAILED_EXIT})"
    failed = {n: why for n, c in crashed if c == LOG_FAILED_EXIT}
    return failed, [(n, c) for n, c in crashed if c != LOG_FAILED_EXIT]


def logs_written(failed: Mapping[str, str], nodes: int) -> InvariantResult:
    """``event-logs-written``: no node stopped for want of disk; else name each one."""
    named = "; ".join(f"{n} failed: {why}" for n, why in sorted(failed.items()))
    detail = f"{named}; disk full? see RUN_DIR/logs" if failed else ""
    return InvariantResult(LOGS_WRITTEN, not failed, nodes, len(failed), detail, unit="nodes")


def still_coming_back(came_back: Mapping[str, float | None], now: float) -> list[str]:
    """Restarted nodes not yet connected for AFTERLIFE seconds at ``now``."""
    return sorted(
        node for node, since in came_back.items() if since is None or now - since < AFTERLIFE
    )


def _settled(status: Mapping[str, Any] | None) -> bool:
    """Nothing left to repair at this node: channels up and empty, nothing held."""
    return (
        status is not None
        and bool(status["connected"])
        and status["unreleased"] == 0
        and status["ctl_unreleased"] == 0
        and status["holdback"] == 0
        and status["snapshots_active"] == 0
    )


def snapshot_invariants(verdicts: list[SnapshotVerdict]) -> list[InvariantResult]:
    """Fold per-snapshot verdicts into one result per snapshot invariant.

    A snapshot aborted by a restart or a timeout is not a violation: the nemesis
    causes those. One that completed must pass every check, and one that neither
    completed nor aborted is a violation of its own (``snapshot-completion``).
    """
    out: list[InvariantResult] = []
    complete = [v for v in verdicts if v.complete and not v.aborted]
    aborted = sum(v.aborted for v in verdicts)
    for name in SNAPSHOT_CHECKS:
        bad = [v for v in complete if not _result(v, name).held]
        detail = f"{bad[0].sid}: {_result(bad[0], name).detail}" if bad else ""
        if not complete:
            detail = f"none completed, of {len(verdicts)} taken ({aborted} aborted)"
        out.append(
            InvariantResult(
                f"snapshot {name}", not bad, len(complete), len(bad), detail, unit="snapshots"
            )
        )
    stuck = [v for v in verdicts if not v.complete and not v.aborted]
    detail = f"{stuck[0].sid}: {stuck[0].line()}" if stuck else ""
    if not verdicts:
        detail = "no snapshot was taken"
    out.append(
        InvariantResult(
            SNAPSHOT_COMPLETION, not stuck, len(verdicts), len(stuck), detail, unit="snapshots"
        )
    )
    return out


def _result(verdict: SnapshotVerdict, name: str) -> InvariantResult:
    return next(r for r in verdict.results if r.name == name)


def _count(
    report: StressReport,
    events: list[dict[str, Any]],
    status: Mapping[tuple[str, int], Mapping[str, Any]],
) -> None:
    """Fill the report's traffic and fault counters from the logs and last statuses."""
    faults: dict[str, int] = {}
    finals: dict[tuple[str, int], tuple[int, int]] = {}
    incs: dict[str, set[int]] = {}
    for ev in events:
        kind = ev["kind"]
        if kind == EventKind.MULTICAST:
            report.multicasts += 1
        elif kind == EventKind.DELIVER:
            report.delivered += 1
        elif kind == EventKind.APP_SEND:
            report.transfers += 1
        elif kind.startswith("inject_"):
            name = kind.removeprefix("inject_")
            faults[name] = faults.get(name, 0) + 1
        elif kind == EventKind.STOP:
            finals[(ev["node"], ev["inc"])] = (ev.get("frames_sent", 0), ev.get("retransmits", 0))
        if kind == EventKind.START:
            incs.setdefault(ev["node"], set()).add(ev["inc"])
    keys = set(finals) | set(status)
    for key in keys:
        polled = status.get(key, {})
        final = finals.get(key, (0, 0))
        report.frames_sent += max(final[0], int(polled.get("frames_sent", 0)))
        report.retransmits += max(final[1], int(polled.get("retransmits", 0)))
    report.faults = faults
    report.correct_nodes = sum(len(v) == 1 for v in incs.values())
