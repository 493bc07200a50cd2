"""Checker for the Lamport clock condition over a trace.

Per incarnation, a clock only moves forward and every tick moves it; and a
receipt is stamped later than its send. Driver events (node ``"sim"``, crash
events) are not node events and are already left out by the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zmqcast.check.report import InvariantResult
from zmqcast.check.trace import MsgId, Multicast, TraceIndex, fmt_inc, fmt_msg
from zmqcast.core.events import TICKING_KINDS, EventKind

LAMPORT = "lamport"


def check_lamport(index: TraceIndex) -> InvariantResult:
    """Per incarnation, ticks strictly increase, nothing decreases, and receipt follows send.

    A ``deliver`` must carry a Lamport value above both its ``ts`` and the
    Lamport value of the matching ``multicast`` event. ``checked`` counts the
    events examined; an event breaking several rules counts once, under the
    first rule it breaks.
    """
    multicasts = index.multicasts
    checked = 0
    # (trace position, description): the earliest violation in trace order is reported.
    violations: list[tuple[int, str]] = []
    for key in sorted(index.incarnations):
        who = fmt_inc(key)
        last: int | None = None
        last_kind = ""
        last_tick: int | None = None
        for pos, ev in index.incarnations[key].events:
            lamport = ev.get("lamport")
            if not isinstance(lamport, int):
                # Nothing to compare; an event without a clock value is skipped
                # rather than guessed at.
                continue
            checked += 1
            kind = ev["kind"]
            problem = ""
            if last is not None and lamport < last:
                problem = f"{who} clock went back from {last} ({last_kind}) to {lamport} ({kind})"
            if kind in TICKING_KINDS:
                if not problem and last_tick is not None and lamport <= last_tick:
                    problem = f"{who} {kind} at lamport {lamport} did not tick past {last_tick}"
                if not problem and kind == EventKind.DELIVER:
                    # Fast path inline (one per delivery); the message is built only on failure.
                    ts = ev.get("ts")
                    mc = multicasts.get((ev["origin"], ev["oepoch"], ev["oseq"]))
                    if (isinstance(ts, int) and lamport <= ts) or (
                        mc is not None and lamport <= mc.lamport
                    ):
                        problem = _receipt_problem(who, ev, lamport, multicasts)
                last_tick = lamport
            if problem:
                violations.append((pos, problem))
            last, last_kind = lamport, kind
    detail = min(violations)[1] if violations else ""
    if not checked:
        detail = "no event with a Lamport value"
    return InvariantResult(LAMPORT, not violations, checked, len(violations), detail, unit="events")


def _receipt_problem(
    who: str, ev: Mapping[str, Any], lamport: int, multicasts: Mapping[MsgId, Multicast]
) -> str:
    """Why a deliver event is not stamped after its send, or "" if it is."""
    msg = (ev["origin"], ev["oepoch"], ev["oseq"])
    ts = ev.get("ts")
    if isinstance(ts, int) and lamport <= ts:
        return f"{who} delivered {fmt_msg(msg)} at lamport {lamport}, not after its ts {ts}"
    mc = multicasts.get(msg)
    if mc is not None and lamport <= mc.lamport:
        return (
            f"{who} delivered {fmt_msg(msg)} at lamport {lamport}, "
            f"not after its multicast at lamport {mc.lamport}"
        )
    return ""
