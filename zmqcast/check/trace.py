"""A trace indexed once, so every checker can ask its questions cheaply.

The checkers keep asking the same things: which incarnations exist, which of
them are faulty, what each one delivered and in which order, where and when a
message was multicast. :class:`TraceIndex` answers all of them from a single
pass over the events, which keeps checking a long trace linear in its length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypeAlias

from zmqcast.core.events import EventKind

SIM_NODE = "sim"
"""The ``node`` of driver events that belong to no node (partitions, heals...)."""

LOG_FAILED = "log_failed"
"""The ``reason`` of the ``stop`` record of a node that could not write its event
log or a snapshot file. Its log is incomplete from there on, so the checkers
count that incarnation as failed (faulty, as if it crashed), never as correct."""

MsgId: TypeAlias = tuple[str, int, int]
"""A multicast's identity: (origin, oepoch, oseq)."""

IncKey: TypeAlias = tuple[str, int]
"""A node incarnation: (node, inc)."""


def fmt_msg(msg: MsgId) -> str:
    """Print a message id as ``origin:oepoch:oseq``."""
    return f"{msg[0]}:{msg[1]}:{msg[2]}"


def fmt_inc(key: IncKey) -> str:
    """Print an incarnation as ``node#inc``."""
    return f"{key[0]}#{key[1]}"


class Multicast(NamedTuple):
    """A ``multicast`` event: who sent which id, when, at which Lamport time."""

    pos: int
    msg: MsgId
    node: str
    inc: int
    time: float
    lamport: int


Receipt: TypeAlias = tuple[int, MsgId]
"""A ``deliver`` event, reduced to its trace position and the id it delivered.

A plain tuple rather than a NamedTuple: there is one per delivery, and building
named tuples was the largest single cost of indexing a long trace.
"""


@dataclass(slots=True, eq=False)
class Incarnation:
    """Everything the trace says about one incarnation of one node."""

    node: str
    inc: int
    first_time: float
    """Time of the first event naming this incarnation (a fallback for a missing start)."""
    start_time: float | None = None
    crash_time: float | None = None
    """Time of the earliest ``crash`` event naming this incarnation, if any."""
    faulty: bool = False
    """Crashed: a crash event names it, or a later incarnation of its node exists,
    or it failed (:attr:`failure`)."""
    failure: str | None = None
    """Why it failed, if it stopped because it could not write its log (``stop``
    with reason ``log_failed``) or its driver said it failed."""
    since: float | None = None
    """For an incarnation with a predecessor: when that predecessor crashed (t_c)."""
    events: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    """Every event of this incarnation except crash events, with its trace position."""
    deliveries: list[Receipt] = field(default_factory=list)
    delivered: set[MsgId] = field(default_factory=set)
    own: list[MsgId] = field(default_factory=list)
    """Ids of the multicast events this incarnation emitted, in order."""

    @property
    def key(self) -> IncKey:
        return (self.node, self.inc)

    @property
    def began(self) -> float:
        """When it started; the first event's time if the trace lacks its start."""
        return self.first_time if self.start_time is None else self.start_time


class TraceIndex:
    """An event trace indexed by incarnation and by message id.

    Events with node ``"sim"`` are driver events and are left out. A ``crash``
    event marks its incarnation faulty but is not kept among its events: a
    driver writes it, not the node, so its Lamport value proves nothing. A
    ``stop`` event with reason ``log_failed`` marks its incarnation failed, at
    that event's time, like a crash.

    ``failed`` maps nodes to why a driver saw them fail (the stress harness:
    an exit with the log-failure status). Every incarnation of such a node is
    faulty: the failing one may have left no record saying which it was.
    """

    def __init__(
        self, events: Iterable[Mapping[str, Any]], failed: Mapping[str, str] | None = None
    ) -> None:
        self.incarnations: dict[IncKey, Incarnation] = {}
        self.failed_nodes: dict[str, str] = dict(failed or {})
        """Nodes a driver says failed, with why (see the class docstring)."""
        self.multicasts: dict[MsgId, Multicast] = {}
        """The first multicast event of every id."""
        self.repeated_multicasts: list[Multicast] = []
        """Multicast events reusing an id seen before (an integrity violation)."""
        self._scan(events)
        self.lineages: dict[str, tuple[Incarnation, ...]] = self._classify()
        """Every node's incarnations in increasing ``inc``, nodes in name order."""

    def _scan(self, events: Iterable[Mapping[str, Any]]) -> None:
        incarnations = self.incarnations
        multicasts = self.multicasts
        pos = -1
        ev: Mapping[str, Any] = {}
        # This is the only pass over the raw trace and it dominates the cost of
        # checking a long one, so it is kept tight: hot kinds are tested first,
        # and the incarnation is looked up again only when it changes (drivers
        # emit a node's events in runs).
        inc = Incarnation("", 0, 0.0)
        try:
            for pos, ev in enumerate(events):
                node = ev["node"]
                if node == SIM_NODE:
                    continue
                kind = ev["kind"]
                number = ev["inc"]
                if node != inc.node or number != inc.inc:
                    key = (node, number)
                    found = incarnations.get(key)
                    if found is None:
                        found = incarnations[key] = Incarnation(node, number, float(ev["time"]))
                    inc = found
                if kind == EventKind.CRASH:
                    t = float(ev["time"])
                    if inc.crash_time is None or t < inc.crash_time:
                        inc.crash_time = t
                    continue
                inc.events.append((pos, ev))
                if kind == EventKind.DELIVER:
                    msg = (ev["origin"], ev["oepoch"], ev["oseq"])
                    inc.deliveries.append((pos, msg))
                    inc.delivered.add(msg)
                elif kind == EventKind.MULTICAST:
                    msg = (ev["origin"], ev["oepoch"], ev["oseq"])
                    mc = Multicast(pos, msg, node, number, float(ev["time"]), ev["lamport"])
                    if msg in multicasts:
                        self.repeated_multicasts.append(mc)
                    else:
                        multicasts[msg] = mc
                    inc.own.append(msg)
                elif kind == EventKind.START and inc.start_time is None:
                    inc.start_time = float(ev["time"])
                elif kind == EventKind.STOP and ev.get("reason") == LOG_FAILED:
                    t = float(ev["time"])
                    if inc.crash_time is None or t < inc.crash_time:
                        inc.crash_time = t
                    what = ev.get("file", "its event log")
                    inc.failure = f"could not write {what}: {ev.get('error', 'write failed')}"
        except KeyError as exc:
            raise ValueError(f"trace event {pos} lacks field {exc}: {dict(ev)!r}") from exc

    def _classify(self) -> dict[str, tuple[Incarnation, ...]]:
        by_node: dict[str, list[Incarnation]] = {}
        for inc in self.incarnations.values():
            by_node.setdefault(inc.node, []).append(inc)
        lineages: dict[str, tuple[Incarnation, ...]] = {}
        for node in sorted(by_node):
            chain = sorted(by_node[node], key=lambda i: i.inc)
            excused = node in self.failed_nodes
            for i, inc in enumerate(chain):
                # Every incarnation but the last was replaced, so it crashed,
                # whether or not the trace holds a crash event for it.
                inc.faulty = (
                    excused
                    or i < len(chain) - 1
                    or inc.crash_time is not None
                    or inc.failure is not None
                )
                if i > 0:
                    # With no crash event (kill -9), the successor's start is the
                    # latest the predecessor can have died: a conservative t_c.
                    prev = chain[i - 1].crash_time
                    inc.since = inc.began if prev is None else prev
            lineages[node] = tuple(chain)
        return lineages

    # ------------------------------------------------------------- node classes
    @cached_property
    def correct(self) -> tuple[Incarnation, ...]:
        """The single incarnation of every correct node, in node order."""
        return tuple(
            chain[0] for chain in self.lineages.values() if len(chain) == 1 and not chain[0].faulty
        )

    def failure_lines(self) -> list[str]:
        """``P2#1712 failed: could not write FILE: ERROR``, one line each.

        One per failed incarnation, then one per node a driver says failed
        (``P2 failed: WHY``), in node order. A failed node is excused from the
        delivery invariants, so a report must say that it failed and why.
        """
        lines: list[str] = []
        for node, chain in self.lineages.items():
            lines.extend(
                f"{fmt_inc(inc.key)} failed: {inc.failure}" for inc in chain if inc.failure
            )
            if node in self.failed_nodes:
                lines.append(f"{node} failed: {self.failed_nodes[node]}")
        lines.extend(
            f"{node} failed: {why}"
            for node, why in sorted(self.failed_nodes.items())
            if node not in self.lineages
        )
        return lines

    @cached_property
    def restarted(self) -> tuple[Incarnation, ...]:
        """The last incarnation of every restarted node (more than one, last not faulty)."""
        return tuple(
            chain[-1] for chain in self.lineages.values() if len(chain) > 1 and not chain[-1].faulty
        )

    @cached_property
    def delivered_by_correct(self) -> frozenset[MsgId]:
        """Ids delivered by some correct node, counting a correct origin's own."""
        ids: set[MsgId] = set()
        for inc in self.correct:
            ids.update(inc.delivered)
            ids.update(inc.own)
        return frozenset(ids)

    def origin_of(self, msg: MsgId) -> IncKey | None:
        """The incarnation whose multicast event carries ``msg``, if there is one."""
        mc = self.multicasts.get(msg)
        return None if mc is None else (mc.node, mc.inc)
