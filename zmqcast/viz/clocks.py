"""Happened-before, computed offline: a causal order, vector clocks and levels.

An event happens after the previous event of its lane, after the last event
of the node's previous incarnation (a restart follows its predecessor's
crash; a bank node even reopens its account from that log), and after the
send of every message it received. Those edges give

* a *causal order*: one list of all events, each after everything that
  happened before it. Among events that are ready together, the earliest by
  the clock goes first (wall time where events carry it, so hosts compare);
* *vector clocks*: lane -> how many of that lane's events happened before or
  at the event, so each lane's own entry counts its events from 1. Only
  exactly joined messages count (see :mod:`~zmqcast.viz.model`); control
  messages whose arrival is inferred do not;
* *levels*: rows of the diagram. An event is one level below everything it
  comes after (inferred messages included), and never above the event
  placed before it in the causal order. So every arrow points down,
  concurrent events share rows, and events that happened about together by
  the clock sit at about the same height, which keeps a snapshot's cut
  readable: it runs across the lanes, not down one of them.

Clocks of different hosts can disagree enough that a join points back in
time (a receipt before its send). Such a message cannot be ordered: it is
flagged :attr:`~zmqcast.viz.model.Flag.ACAUSAL` and left out.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from zmqcast.viz.model import Flag, RunModel


def causal_order(model: RunModel) -> list[int]:
    """Order the events, and set every event's ``level`` and ``vc``; return the order."""
    events, lanes = model.events, model.lanes
    incoming: dict[int, list[int]] = {}
    outgoing: dict[int, list[int]] = {}
    waiting = [0] * len(events)
    for msg in model.messages:
        if msg.send is None or msg.recv is None:
            continue
        incoming.setdefault(msg.recv, []).append(msg.index)
        outgoing.setdefault(msg.send, []).append(msg.index)
        waiting[msg.recv] += 1
    successor: dict[int, int] = {}
    """Last event of an incarnation -> first event of the node's next incarnation."""
    for lane in lanes:
        if lane.previous is not None and lane.events and lanes[lane.previous].events:
            successor[lanes[lane.previous].events[-1]] = lane.events[0]
            waiting[lane.events[0]] += 1
    predecessor = {first: last for last, first in successor.items()}
    dropped: set[int] = set()
    done = [False] * len(events)
    heads = [0] * len(lanes)
    order: list[int] = []
    ready: list[tuple[float, float, int]] = []
    """Lanes whose next event waits for nothing, earliest by the clock first."""

    def wake(lane: int) -> None:
        if heads[lane] < len(lanes[lane].events):
            head = events[lanes[lane].events[heads[lane]]]
            heapq.heappush(ready, (head.wall, head.time, lane))

    def release(event: int) -> None:
        waiting[event] -= 1
        lane = events[event].lane
        if waiting[event] == 0 and lanes[lane].events[heads[lane]] == event:
            wake(lane)

    for i, lane in enumerate(lanes):
        if lane.events and waiting[lane.events[0]] == 0:
            wake(i)
    floor = 0
    while len(order) < len(events):
        if not ready:
            _break_deadlock(model, heads, incoming, predecessor, done, dropped, waiting, wake)
            continue
        lane_index = heapq.heappop(ready)[2]
        lane = lanes[lane_index]
        if heads[lane_index] >= len(lane.events):
            continue
        index = lane.events[heads[lane_index]]
        if waiting[index] > 0 or done[index]:
            continue  # woken twice, or woken early: it will be woken again
        _visit(model, index, incoming.get(index, ()), predecessor.get(index), dropped, floor)
        floor = events[index].level
        done[index] = True
        order.append(index)
        heads[lane_index] += 1
        for m in outgoing.get(index, ()):
            if m not in dropped:
                release(model.messages[m].recv or 0)
        nxt = successor.get(index)
        if nxt is not None:
            release(nxt)
        if heads[lane_index] < len(lane.events) and waiting[lane.events[heads[lane_index]]] <= 0:
            wake(lane_index)
    return order


def _visit(
    model: RunModel,
    index: int,
    incoming: list[int] | tuple[()],
    chained: int | None,
    dropped: set[int],
    floor: int,
) -> None:
    """Set the level and vector clock of one event whose predecessors are all set;
    its level is at least ``floor``, that of the event ordered before it."""
    events = model.events
    ev = events[index]
    lane = model.lanes[ev.lane]
    if ev.seq > 0:
        before = events[lane.events[ev.seq - 1]]
        level, vc = before.level + 1, dict(before.vc)
    elif chained is not None:
        before = events[chained]
        level, vc = before.level + 1, dict(before.vc)
    else:
        level, vc = 0, {}
    level = max(level, floor)
    for m in incoming:
        if m in dropped:
            continue
        msg = model.messages[m]
        sent = events[msg.send or 0]
        level = max(level, sent.level + 1)
        if msg.causal:
            for k, v in sent.vc.items():
                if vc.get(k, 0) < v:
                    vc[k] = v
    vc[ev.lane] = ev.seq + 1
    ev.level = level
    ev.vc = vc


def _break_deadlock(
    model: RunModel,
    heads: list[int],
    incoming: dict[int, list[int]],
    predecessor: dict[int, int],
    done: list[bool],
    dropped: set[int],
    waiting: list[int],
    wake: Callable[[int], None],
) -> None:
    """No lane can go on: find a cycle of waiting lanes and give up one edge of it.

    Every stuck lane's next event waits for an event further down another
    lane, so following those waits from any lane comes back round. Of the
    edges on that cycle, an inferred control message goes first; failing
    that, the message whose send is latest after its receipt by the clock.
    """
    lanes, events = model.lanes, model.events
    waits: dict[int, list[tuple[int | None, int]]] = {}
    """Stuck lane -> (message or None for the predecessor incarnation, lane waited for)."""
    for i, lane in enumerate(lanes):
        if heads[i] >= len(lane.events):
            continue
        head = lane.events[heads[i]]
        edges: list[tuple[int | None, int]] = [
            (m, events[model.messages[m].send or 0].lane)
            for m in incoming.get(head, ())
            if _pending(model, m, done, dropped)
        ]
        before = predecessor.get(head)
        if before is not None and not done[before] and waiting[head] > 0:
            edges.append((None, events[before].lane))
        # Follow inferred messages first, so that the cycle found has them if it can.
        edges.sort(key=lambda e: (e[0] is None or model.messages[e[0]].causal, e[0] or 0))
        waits[i] = edges
    path: list[tuple[int, tuple[int | None, int]]] = []
    seen: dict[int, int] = {}
    lane_index = next(i for i, edges in waits.items() if edges)
    while lane_index not in seen:
        seen[lane_index] = len(path)
        edge = waits[lane_index][0]
        path.append((lane_index, edge))
        lane_index = edge[1]
    cycle = path[seen[lane_index] :]

    def badness(item: tuple[int, tuple[int | None, int]]) -> tuple[int, float]:
        _, (m, _) = item
        if m is None:
            return (0, 0.0)
        msg = model.messages[m]
        lateness = events[msg.send or 0].time - events[msg.recv or 0].time
        return (2 if not msg.causal else 1, lateness)

    lane_index, (m, _) = max(cycle, key=badness)
    head = lanes[lane_index].events[heads[lane_index]]
    if m is None:
        waiting[head] -= 1  # the predecessor's edge: its clock is inherited all the same
        predecessor.pop(head, None)
    else:
        dropped.add(m)
        msg = model.messages[m]
        msg.flags.add(Flag.ACAUSAL)
        msg.causal = False
        waiting[head] -= 1
    if waiting[head] == 0:
        wake(lane_index)


def _pending(model: RunModel, m: int, done: list[bool], dropped: set[int]) -> bool:
    send = model.messages[m].send
    return m not in dropped and send is not None and not done[send]
