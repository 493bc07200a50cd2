"""Checkers for reliable multicast: validity, agreement, restart validity, integrity, FIFO.

Each checker reads a :class:`TraceIndex` and returns one
:class:`InvariantResult`; :func:`check_multicast` runs them all over a raw
trace. The definitions (which node is correct, restarted, what t_c is) are
those of :mod:`zmqcast.check.trace`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from zmqcast.check.lamport import check_lamport
from zmqcast.check.report import CheckReport, InvariantResult
from zmqcast.check.trace import IncKey, MsgId, TraceIndex, fmt_inc, fmt_msg

VALIDITY = "validity"
AGREEMENT = "agreement"
RESTART_VALIDITY = "restart-validity"
INTEGRITY = "integrity"
FIFO = "fifo"

# A missing delivery: (multicast time or +inf, id, receiving incarnation). Tuples
# sort deterministically, so the example a result reports never depends on set order.
_Miss = tuple[float, MsgId, IncKey]


def _earliest_miss(
    index: TraceIndex, missing: AbstractSet[MsgId], receiver: IncKey, best: _Miss | None
) -> _Miss | None:
    """Keep the miss with the earliest multicast time, then id, then receiver."""
    if not missing:
        return best
    multicasts = index.multicasts

    def when(msg: MsgId) -> float:
        mc = multicasts.get(msg)
        return math.inf if mc is None else mc.time

    candidate = min((when(m), m, receiver) for m in missing)
    return candidate if best is None else min(best, candidate)


PAIRS = "pairs"
"""The unit of the delivery invariants: (message, node) pairs."""


def _coverage(
    name: str, checked: int, missing: int, detail: str, *, reliable: bool, why_none: str
) -> InvariantResult:
    """A result for a "must be delivered" invariant, where lossy misses are expected.

    ``why_none`` says why no pair was due, for a result over nothing.
    """
    if not checked:
        return InvariantResult(name, True, 0, 0, why_none, unit=PAIRS)
    if not reliable:
        deliveries = "delivery" if missing == 1 else "deliveries"
        note = f"{missing:,} {deliveries} missing on lossy channels" if missing else ""
        return InvariantResult(name, True, checked, 0, note, expected_losses=missing, unit=PAIRS)
    return InvariantResult(
        name, missing == 0, checked, missing, detail if missing else "", unit=PAIRS
    )


_ALL_RESTARTED = "every node was restarted or crashed"


def _no_validity_pairs(index: TraceIndex) -> str:
    """Why validity had no (message, receiver) pair to check."""
    correct = index.correct
    if not correct:
        return _ALL_RESTARTED
    if len(correct) == 1:
        return f"only {correct[0].node} is correct (never restarted), and validity needs two"
    return "no correct node multicast anything"


def _at(t: float) -> str:
    return "at unknown time" if math.isinf(t) else f"at t={t}"


def check_validity(index: TraceIndex, *, reliable: bool = True) -> InvariantResult:
    """Every message multicast by a correct node is delivered by every other correct node.

    ``checked`` counts (message, receiving correct node) pairs.
    """
    correct = index.correct
    checked = missing = 0
    worst: _Miss | None = None
    for origin in correct:
        if not origin.own:
            continue
        sent = set(origin.own)
        for receiver in correct:
            if receiver is origin:
                continue
            lost = sent - receiver.delivered
            checked += len(sent)
            missing += len(lost)
            worst = _earliest_miss(index, lost, receiver.key, worst)
    detail = ""
    if worst is not None:
        t, msg, (receiver_node, _) = worst
        detail = (
            f"correct {receiver_node} never delivered {fmt_msg(msg)}, "
            f"multicast by correct {msg[0]} {_at(t)}"
        )
    why = "" if checked else _no_validity_pairs(index)
    return _coverage(VALIDITY, checked, missing, detail, reliable=reliable, why_none=why)


def check_agreement(index: TraceIndex, *, reliable: bool = True) -> InvariantResult:
    """A message delivered by some correct node is delivered by every correct node.

    A correct origin counts as delivering its own messages. ``checked`` counts
    (message, correct node) pairs.
    """
    wanted = index.delivered_by_correct
    checked = missing = 0
    worst: _Miss | None = None
    for receiver in index.correct:
        lost = wanted - receiver.delivered
        if lost:
            lost = lost.difference(receiver.own)
        checked += len(wanted)
        missing += len(lost)
        worst = _earliest_miss(index, lost, receiver.key, worst)
    detail = ""
    if worst is not None:
        t, msg, (receiver_node, _) = worst
        # Name one correct node that has it, the first in node order.
        holder = next(inc.node for inc in index.correct if msg in inc.delivered or msg in inc.own)
        detail = (
            f"correct {receiver_node} never delivered {fmt_msg(msg)} "
            f"(multicast {_at(t)}), which correct {holder} delivered"
        )
    why = "no correct node multicast or delivered anything" if index.correct else _ALL_RESTARTED
    return _coverage(AGREEMENT, checked, missing, detail, reliable=reliable, why_none=why)


def check_restart_validity(index: TraceIndex, *, reliable: bool = True) -> InvariantResult:
    """A restarted node's last incarnation delivers what correct nodes had after its crash.

    For each restarted node's last incarnation X, with t_c its predecessor's
    crash time: every message multicast by a correct node or delivered by one,
    whose multicast happened at or after t_c, is delivered by X unless X sent
    it. Messages from before t_c may legitimately be gone by the time X joins.
    ``checked`` counts (message, restarted incarnation) pairs.
    """
    multicasts = index.multicasts
    # Only ids with a multicast event have a time to compare with t_c; an id
    # without one is an integrity violation, reported there.
    # Sorted by time, so each restarted node only walks the messages after its t_c.
    timed = sorted((multicasts[m].time, m) for m in index.delivered_by_correct if m in multicasts)
    times = [t for t, _ in timed]
    checked = missing = 0
    worst: _Miss | None = None
    for x in index.restarted:
        assert x.since is not None  # a restarted node's last incarnation has a predecessor
        key = x.key
        due = {
            m
            for _, m in timed[bisect_left(times, x.since) :]
            if (multicasts[m].node, multicasts[m].inc) != key
        }
        lost = due - x.delivered
        checked += len(due)
        missing += len(lost)
        worst = _earliest_miss(index, lost, key, worst)
    detail = ""
    if worst is not None:
        t, msg, key = worst
        x = index.incarnations[key]
        detail = (
            f"restarted {fmt_inc(key)} (predecessor crashed at t={x.since}) "
            f"never delivered {fmt_msg(msg)}, multicast {_at(t)}"
        )
    if not index.restarted:
        why = "no node was restarted"
    elif not index.correct:
        why = f"no correct node to compare with ({_ALL_RESTARTED})"
    else:
        why = "no message multicast after the crash was sent or delivered by a correct node"
    return _coverage(RESTART_VALIDITY, checked, missing, detail, reliable=reliable, why_none=why)


def check_integrity(index: TraceIndex) -> InvariantResult:
    """Each id is delivered at most once per incarnation, only if sent, never by its sender.

    Also flags multicast events that reuse an id or carry another incarnation's
    origin/oepoch, since every other check relies on ids being unique and true.
    ``checked`` counts deliver plus multicast events.
    """
    multicasts = index.multicasts
    checked = 0
    # (trace position, description): the earliest violation in trace order is reported.
    violations: list[tuple[int, str]] = []
    for key in sorted(index.incarnations):
        inc = index.incarnations[key]
        seen: set[MsgId] = set()
        who = fmt_inc(key)
        for pos, msg in inc.deliveries:
            checked += 1
            if msg in seen:
                violations.append((pos, f"{who} delivered {fmt_msg(msg)} more than once"))
            elif msg not in multicasts:
                violations.append((pos, f"{who} delivered {fmt_msg(msg)}, never multicast"))
            elif msg[0] == key[0] and msg[1] == key[1]:
                violations.append((pos, f"{who} delivered its own message {fmt_msg(msg)}"))
            seen.add(msg)
    for mc in multicasts.values():
        checked += 1
        if mc.msg[0] != mc.node or mc.msg[1] != mc.inc:
            violations.append(
                (mc.pos, f"{fmt_inc((mc.node, mc.inc))} multicast under id {fmt_msg(mc.msg)}")
            )
    for mc in index.repeated_multicasts:
        checked += 1
        violations.append((mc.pos, f"{fmt_msg(mc.msg)} multicast more than once"))
    detail = min(violations)[1] if violations else ""
    if not checked:
        detail = "no multicast or delivery in the trace"
    return InvariantResult(
        INTEGRITY, not violations, checked, len(violations), detail, unit="events"
    )


def check_fifo(index: TraceIndex) -> InvariantResult:
    """Per incarnation and per (origin, oepoch), delivered oseqs strictly increase.

    In an incarnation that follows a crash, only messages multicast at or after
    t_c are compared: older ones may be replayed by upstream custody in any
    order relative to what the new incarnation receives first. ``checked``
    counts the deliveries compared.
    """
    multicasts = index.multicasts
    checked = 0
    violations: list[tuple[int, str]] = []
    for key in sorted(index.incarnations):
        inc = index.incarnations[key]
        since = inc.since
        # Highest oseq delivered so far per origin epoch; a delivery at or
        # below it is out of order, however many came in between.
        high: dict[tuple[str, int], int] = {}
        for pos, msg in inc.deliveries:
            if since is not None:
                mc = multicasts.get(msg)
                if mc is None or mc.time < since:
                    continue
            checked += 1
            stream = (msg[0], msg[1])
            top = high.get(stream)
            if top is None or msg[2] > top:
                high[stream] = msg[2]
            else:
                violations.append(
                    (
                        pos,
                        f"{fmt_inc(key)} delivered {fmt_msg(msg)} after "
                        f"{fmt_msg((msg[0], msg[1], top))}",
                    )
                )
    detail = min(violations)[1] if violations else ""
    if not checked:
        detail = "no delivery to compare"
    return InvariantResult(
        FIFO, not violations, checked, len(violations), detail, unit="deliveries"
    )


def check_multicast(
    events: Iterable[Mapping[str, Any]] | TraceIndex,
    *,
    reliable: bool = True,
    fifo: bool = True,
) -> CheckReport:
    """Check every multicast invariant over a trace (or an already built index).

    ``reliable=False`` (lossy channels) turns missing deliveries into expected
    losses. ``fifo=False`` leaves the FIFO result out of the report, since the
    channels promised no order.
    """
    index = events if isinstance(events, TraceIndex) else TraceIndex(events)
    results = [
        check_validity(index, reliable=reliable),
        check_agreement(index, reliable=reliable),
        check_restart_validity(index, reliable=reliable),
        check_integrity(index),
    ]
    if fifo:
        results.append(check_fifo(index))
    results.append(check_lamport(index))
    return CheckReport(tuple(results))
