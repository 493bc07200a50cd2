"""Unit tests for the trace checkers in :mod:`zmqcast.check`.

Each invariant gets a hand-built trace where it holds and one where it breaks,
and the broken case must name what broke. Traces come from a small builder
that keeps Lamport clocks the way the core does, so a trace is well-formed
unless a test deliberately bends it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqcast.check import (
    AGREEMENT,
    FIFO,
    INTEGRITY,
    LAMPORT,
    RESTART_VALIDITY,
    VALIDITY,
    CheckReport,
    InvariantResult,
    MsgId,
    TraceIndex,
    check_agreement,
    check_fifo,
    check_integrity,
    check_lamport,
    check_multicast,
    check_restart_validity,
    check_validity,
)

Event = dict[str, Any]


class Trace:
    """Builds a trace event by event, with per-incarnation Lamport clocks and oseqs."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.inc: dict[str, int] = {}
        self.clock: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.sent_ts: dict[MsgId, int] = {}

    def _event(self, node: str, kind: str, t: float, **fields: Any) -> Event:
        ev: Event = {
            "node": node,
            "inc": self.inc[node],
            "kind": kind,
            "lamport": self.clock[node],
            "time": t,
        }
        ev.update(fields)
        self.events.append(ev)
        return ev

    def start(self, node: str, t: float = 0.0) -> Trace:
        self.inc[node] = self.inc.get(node, 0) + 1
        self.clock[node] = 0
        self.seq[node] = 0
        self._event(node, "start", t, out=[], **{"in": []}, mode="fifo")
        return self

    def nodes(self, *names: str) -> Trace:
        for name in names:
            self.start(name)
        return self

    def multicast(self, node: str, t: float) -> MsgId:
        self.clock[node] += 1
        self.seq[node] += 1
        msg = (node, self.inc[node], self.seq[node])
        self.sent_ts[msg] = self.clock[node]
        self._event(node, "multicast", t, origin=node, oepoch=msg[1], oseq=msg[2], size=3)
        return msg

    def _receive(self, node: str, kind: str, msg: MsgId, t: float, via: str) -> Event:
        ts = self.sent_ts.get(msg, 1)
        self.clock[node] = max(self.clock[node], ts) + 1
        fields: dict[str, Any] = {"origin": msg[0], "oepoch": msg[1], "oseq": msg[2], "from": via}
        if kind == "deliver":
            fields.update(ch=f"{via}>{node}", cseq=1, ts=ts, size=3)
        return self._event(node, kind, t, **fields)

    def deliver(self, node: str, msg: MsgId, t: float, via: str | None = None) -> Event:
        return self._receive(node, "deliver", msg, t, via or msg[0])

    def duplicate(self, node: str, msg: MsgId, t: float) -> Event:
        return self._receive(node, "duplicate", msg, t, msg[0])

    def note(self, node: str, kind: str, t: float) -> Event:
        """A non-ticking event such as a relay or a suspicion."""
        return self._event(node, kind, t, peer="x")

    def crash(self, node: str, t: float) -> Trace:
        self._event(node, "crash", t)
        return self

    def everyone_gets(self, msg: MsgId, t: float, *nodes: str) -> None:
        for node in nodes:
            self.deliver(node, msg, t)


def index(trace: Trace) -> TraceIndex:
    return TraceIndex(trace.events)


def full_trace() -> Trace:
    """Three correct nodes, each message delivered everywhere, in order."""
    tr = Trace().nodes("P1", "P2", "P3")
    a = tr.multicast("P1", 1.0)
    b = tr.multicast("P1", 1.1)
    c = tr.multicast("P2", 1.2)
    tr.everyone_gets(a, 1.3, "P2", "P3")
    tr.everyone_gets(b, 1.4, "P2", "P3")
    tr.everyone_gets(c, 1.5, "P1", "P3")
    tr.duplicate("P3", a, 1.6)
    tr.note("P3", "relay", 1.6)
    return tr


# ------------------------------------------------------------------ report
def test_a_complete_trace_passes_every_invariant() -> None:
    report = check_multicast(full_trace().events)
    assert report.ok, report.summary()
    assert report.first_violation() is None
    names = [r.name for r in report.results]
    assert names == [VALIDITY, AGREEMENT, RESTART_VALIDITY, INTEGRITY, FIFO, LAMPORT]
    assert report.get(VALIDITY).checked == 6  # 3 messages x 2 other correct nodes
    assert report.get(INTEGRITY).checked == 9  # 6 deliveries + 3 multicasts
    # Nobody restarted: restart-validity had nothing to check, and says so.
    assert report.unchecked() == [report.get(RESTART_VALIDITY)]
    assert report.get(RESTART_VALIDITY).detail == "no node was restarted"
    assert all(r.detail == "" for r in report.results if not r.vacuous)
    assert report.get(VALIDITY).verdict() == "held (6 pairs checked)"


def test_fifo_is_left_out_when_channels_promise_no_order() -> None:
    report = check_multicast(full_trace().events, fifo=False)
    assert FIFO not in [r.name for r in report.results]
    with pytest.raises(KeyError):
        report.get(FIFO)


def test_report_first_violation_follows_report_order() -> None:
    good = InvariantResult("a", True, 1, 0, "")
    bad1 = InvariantResult("b", False, 1, 1, "first")
    bad2 = InvariantResult("c", False, 1, 1, "second")
    report = CheckReport((good, bad1, bad2))
    assert not report.ok
    assert report.first_violation() is bad1
    assert "b: VIOLATED (1 of 1 checked): first" in report.summary()


def test_check_multicast_accepts_a_prebuilt_index_and_a_generator() -> None:
    tr = full_trace()
    assert check_multicast(index(tr)) == check_multicast(iter(tr.events))


def test_sim_events_are_ignored() -> None:
    tr = full_trace()
    tr.events.insert(2, {"node": "sim", "inc": 0, "kind": "partition", "lamport": 0, "time": 0.5})
    idx = index(tr)
    assert sorted(idx.lineages) == ["P1", "P2", "P3"]
    assert check_multicast(idx).ok


def test_a_malformed_event_is_reported_with_its_position() -> None:
    tr = full_trace()
    del tr.events[4]["inc"]
    with pytest.raises(ValueError, match="trace event 4 lacks field 'inc'"):
        TraceIndex(tr.events)


# ------------------------------------------------------------------ classification
def test_classification_of_correct_restarted_and_faulty_nodes() -> None:
    tr = Trace().nodes("P1", "P2", "P3", "P4")
    tr.crash("P2", 1.0).start("P2", 2.0)  # restarted, with a crash event
    tr.start("P3", 3.0)  # restarted without a crash event (kill -9)
    tr.crash("P4", 4.0)  # crashed for good
    idx = index(tr)
    assert [i.node for i in idx.correct] == ["P1"]
    assert [i.key for i in idx.restarted] == [("P2", 2), ("P3", 2)]
    assert idx.incarnations[("P2", 2)].since == 1.0
    assert idx.incarnations[("P3", 2)].since == 3.0  # the successor's start bounds it
    assert idx.incarnations[("P3", 1)].faulty
    assert idx.incarnations[("P4", 1)].faulty


# ------------------------------------------------------------------ validity
def test_validity_holds_when_every_correct_node_delivers() -> None:
    result = check_validity(index(full_trace()))
    assert result.held and result.violations == 0


def test_validity_flags_a_missing_delivery_at_a_correct_node() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    a = tr.multicast("P1", 1.0)
    tr.deliver("P2", a, 1.1)
    result = check_validity(index(tr))
    assert not result.held
    assert result.violations == 1 and result.checked == 2
    assert "P3 never delivered P1:1:1" in result.detail


def test_validity_ignores_messages_of_a_crashed_origin() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    tr.multicast("P1", 1.0)
    tr.crash("P1", 1.1)
    result = check_validity(index(tr))
    assert result.held and result.checked == 0


# ------------------------------------------------------------------ agreement
def test_agreement_flags_a_crashed_origins_message_reaching_only_some() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    a = tr.multicast("P1", 1.0)
    tr.deliver("P2", a, 1.1)
    tr.crash("P1", 1.2)
    idx = index(tr)
    assert check_validity(idx).held  # the origin is faulty: validity asks nothing
    result = check_agreement(idx)
    assert not result.held and result.violations == 1
    assert "P3 never delivered P1:1:1" in result.detail
    assert "which correct P2 delivered" in result.detail


def test_agreement_holds_when_a_crashed_origins_message_reached_nobody() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    tr.multicast("P1", 1.0)
    tr.crash("P1", 1.2)
    result = check_agreement(index(tr))
    assert result.held and result.checked == 0


def test_agreement_counts_a_correct_origin_as_delivering_its_own() -> None:
    tr = Trace().nodes("P1", "P2")
    a = tr.multicast("P1", 1.0)
    tr.deliver("P2", a, 1.1)
    result = check_agreement(index(tr))
    assert result.held and result.checked == 2


# ------------------------------------------------------------------ restart validity
def restart_trace(send_after_restart: bool) -> tuple[Trace, MsgId]:
    """P3 crashes at t=2 and restarts at t=3; P1 sends one message before, one after."""
    tr = Trace().nodes("P1", "P2", "P3")
    before = tr.multicast("P1", 1.0)
    tr.deliver("P2", before, 1.1)
    tr.crash("P3", 2.0).start("P3", 3.0)
    after = tr.multicast("P1", 2.5)
    tr.deliver("P2", after, 2.6)
    if send_after_restart:
        tr.deliver("P3", after, 3.1)
    else:
        tr.deliver("P3", before, 3.1)
    return tr, after


def test_restart_validity_allows_missing_a_message_sent_before_the_crash() -> None:
    tr, _ = restart_trace(send_after_restart=True)
    idx = index(tr)
    result = check_restart_validity(idx)
    assert result.held and result.checked == 1
    assert check_multicast(idx).ok


def test_restart_validity_flags_missing_a_message_sent_after_the_crash() -> None:
    tr, _ = restart_trace(send_after_restart=False)
    result = check_restart_validity(index(tr))
    assert not result.held and result.violations == 1
    assert "restarted P3#2" in result.detail
    assert "never delivered P1:1:2" in result.detail


def test_restart_validity_uses_the_successor_start_without_a_crash_event() -> None:
    tr = Trace().nodes("P1", "P2")
    early = tr.multicast("P1", 1.0)  # before P2's restart: not owed
    tr.start("P2", 2.0)
    late = tr.multicast("P1", 2.0)  # at t_c exactly: owed
    tr.deliver("P2", early, 2.1)
    idx = index(tr)
    result = check_restart_validity(idx)
    assert not result.held and result.checked == 1
    assert f"never delivered P1:1:{late[2]}" in result.detail


def test_restart_validity_does_not_ask_a_node_for_its_own_messages() -> None:
    tr = Trace().nodes("P1", "P2")
    tr.crash("P2", 1.0).start("P2", 1.5)
    own = tr.multicast("P2", 2.0)
    tr.deliver("P1", own, 2.1)
    result = check_restart_validity(index(tr))
    assert result.held and result.checked == 0
    assert result.vacuous
    assert result.verdict() == (
        "not checked (0 pairs: no message multicast after the crash "
        "was sent or delivered by a correct node)"
    )


# ------------------------------------------------------------------ verdicts over nothing
def test_a_result_over_nothing_is_not_checked_rather_than_held() -> None:
    counted = InvariantResult("x", True, 4466, 0, "", unit="pairs")
    assert not counted.vacuous and counted.verdict() == "held (4,466 pairs checked)"
    empty = InvariantResult("x", True, 0, 0, "why not", unit="pairs")
    assert empty.vacuous and empty.verdict() == "not checked (0 pairs: why not)"
    assert InvariantResult("x", True, 0, 0, "").verdict() == "not checked (nothing to check)"
    bad = InvariantResult("x", False, 4466, 3, "first", unit="pairs")
    assert not bad.vacuous and bad.verdict() == "VIOLATED (3 of 4,466 pairs): first"
    # Not a violation either: the report stays ok, and names what it did not check.
    report = CheckReport((counted, empty))
    assert report.ok and report.unchecked() == [empty]


def test_validity_over_restarted_nodes_says_why_it_checked_nothing() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    tr.multicast("P1", 1.0)
    for node in ("P1", "P2", "P3"):
        tr.crash(node, 2.0).start(node, 3.0)
    report = check_multicast(tr.events)
    for name in (VALIDITY, AGREEMENT):
        result = report.get(name)
        assert result.vacuous, result.line()
        assert result.verdict() == "not checked (0 pairs: every node was restarted or crashed)"
    tr.multicast("P1", 4.0)  # P1 is restarted too, yet multicasts: still no pair is due
    assert check_validity(index(tr)).vacuous


def test_validity_with_one_correct_node_names_it() -> None:
    tr = Trace().nodes("P1", "P2")
    tr.multicast("P1", 1.0)
    tr.crash("P2", 2.0).start("P2", 3.0)
    result = check_validity(index(tr))
    assert result.vacuous
    assert result.detail == "only P1 is correct (never restarted), and validity needs two"
    # Agreement still has one correct node and its message to check.
    assert check_agreement(index(tr)).checked == 1


def test_an_empty_trace_checks_nothing_and_violates_nothing() -> None:
    report = check_multicast(Trace().nodes("P1", "P2").events)
    assert report.ok
    assert {r.name for r in report.unchecked()} == {
        VALIDITY,
        AGREEMENT,
        RESTART_VALIDITY,
        INTEGRITY,
        FIFO,
    }
    assert report.get(INTEGRITY).detail == "no multicast or delivery in the trace"
    assert report.get(LAMPORT).checked == 2  # the start events carry a clock value


# ------------------------------------------------------------------ integrity
def test_integrity_holds_on_a_complete_trace() -> None:
    result = check_integrity(index(full_trace()))
    assert result.held and result.checked == 9


def test_integrity_flags_a_duplicate_delivery() -> None:
    tr = full_trace()
    tr.deliver("P2", ("P1", 1, 1), 2.0)
    result = check_integrity(index(tr))
    assert not result.held and result.violations == 1
    assert result.detail == "P2#1 delivered P1:1:1 more than once"


def test_integrity_flags_delivery_of_a_never_sent_id() -> None:
    tr = full_trace()
    tr.deliver("P3", ("P9", 1, 4), 2.0)
    result = check_integrity(index(tr))
    assert not result.held
    assert result.detail == "P3#1 delivered P9:1:4, never multicast"


def test_integrity_flags_an_origin_delivering_its_own_message() -> None:
    tr = Trace().nodes("P1")
    a = tr.multicast("P1", 1.0)
    tr.deliver("P1", a, 1.1, via="P2")
    result = check_integrity(index(tr))
    assert not result.held
    assert result.detail == "P1#1 delivered its own message P1:1:1"


def test_integrity_lets_a_later_incarnation_deliver_its_predecessors_message() -> None:
    tr = Trace().nodes("P1", "P2")
    a = tr.multicast("P1", 1.0)
    tr.deliver("P2", a, 1.1)
    tr.crash("P1", 1.2).start("P1", 1.5)
    tr.deliver("P1", a, 1.6, via="P2")
    assert check_integrity(index(tr)).held


def test_integrity_flags_a_reused_id() -> None:
    tr = Trace().nodes("P1")
    tr.multicast("P1", 1.0)
    tr.seq["P1"] = 0
    tr.multicast("P1", 1.1)
    result = check_integrity(index(tr))
    assert not result.held
    assert result.detail == "P1:1:1 multicast more than once"


def test_integrity_reports_the_earliest_violation_in_trace_order() -> None:
    tr = full_trace()
    tr.deliver("P3", ("P9", 1, 1), 2.0)  # by P3: sorts after P2 by node...
    tr.deliver("P2", ("P1", 1, 1), 2.1)  # ...but this one comes later in the trace
    result = check_integrity(index(tr))
    assert result.violations == 2
    assert result.detail.startswith("P3#1 delivered P9:1:1")


# ------------------------------------------------------------------ fifo
def test_fifo_holds_when_oseqs_increase() -> None:
    result = check_fifo(index(full_trace()))
    assert result.held and result.checked == 6


def test_fifo_flags_an_out_of_order_delivery() -> None:
    tr = Trace().nodes("P1", "P2")
    a = tr.multicast("P1", 1.0)
    b = tr.multicast("P1", 1.1)
    tr.deliver("P2", b, 1.2)
    tr.deliver("P2", a, 1.3)
    report = check_multicast(tr.events)
    assert not report.ok
    bad = report.first_violation()
    assert bad is not None and bad.name == FIFO
    assert bad.detail == "P2#1 delivered P1:1:1 after P1:1:2"
    # The same trace is fine when the channels promise no order.
    assert check_multicast(tr.events, fifo=False).ok


def test_fifo_compares_only_within_one_origin_epoch() -> None:
    tr = Trace().nodes("P1", "P2", "P3")
    a = tr.multicast("P1", 1.0)
    b = tr.multicast("P2", 1.0)
    a2 = tr.multicast("P1", 1.1)
    tr.deliver("P3", a2, 1.2, via="P2")  # different origins interleave freely
    tr.deliver("P3", b, 1.3)
    tr.deliver("P3", a, 1.4)
    result = check_fifo(index(tr))
    assert not result.held and result.violations == 1
    assert "delivered P1:1:1 after P1:1:2" in result.detail


def test_fifo_after_a_restart_ignores_messages_sent_before_the_crash() -> None:
    tr = Trace().nodes("P1", "P2")
    old1 = tr.multicast("P1", 1.0)
    old2 = tr.multicast("P1", 1.1)
    tr.crash("P2", 1.5).start("P2", 2.0)
    new = tr.multicast("P1", 2.5)
    # Replayed pre-crash messages arrive in any order around newer ones.
    tr.deliver("P2", old2, 2.6)
    tr.deliver("P2", new, 2.7)
    tr.deliver("P2", old1, 2.8)
    result = check_fifo(index(tr))
    assert result.held and result.checked == 1
    # A first incarnation gets no such allowance.
    tr2 = Trace().nodes("P1", "P2")
    m1 = tr2.multicast("P1", 1.0)
    m2 = tr2.multicast("P1", 1.1)
    tr2.deliver("P2", m2, 2.6)
    tr2.deliver("P2", m1, 2.8)
    assert not check_fifo(index(tr2)).held


# ------------------------------------------------------------------ lamport
def test_lamport_holds_on_a_well_formed_trace() -> None:
    tr = full_trace()
    result = check_lamport(index(tr))
    assert result.held and result.checked == len(tr.events)


def test_lamport_flags_a_tick_that_does_not_increase() -> None:
    tr = full_trace()
    dup = next(e for e in tr.events if e["kind"] == "duplicate")
    dup["lamport"] -= 1  # equal to the tick before it; the relay after stays equal too
    result = check_lamport(index(tr))
    assert not result.held and result.violations == 1
    assert "P3#1 duplicate at lamport" in result.detail
    assert "did not tick past" in result.detail


def test_lamport_flags_a_clock_going_back_on_a_non_ticking_event() -> None:
    tr = full_trace()
    relay = next(e for e in tr.events if e["kind"] == "relay")
    relay["lamport"] -= 3
    result = check_lamport(index(tr))
    assert not result.held
    assert "P3#1 clock went back" in result.detail and "(relay)" in result.detail


def test_lamport_flags_a_delivery_not_after_its_send() -> None:
    tr = Trace().nodes("P1", "P2")
    for _ in range(5):
        tr.multicast("P1", 1.0)
    a = tr.multicast("P1", 1.0)  # stamped lamport 6
    ev = tr.deliver("P2", a, 1.1)
    ev["lamport"] = 3
    ev["ts"] = 2  # a lying ts: only the multicast event exposes the problem
    result = check_lamport(index(tr))
    assert not result.held
    assert "not after its multicast at lamport 6" in result.detail
    ev["ts"] = 6
    assert "not after its ts 6" in check_lamport(index(tr)).detail


def test_lamport_ignores_sim_and_crash_events() -> None:
    tr = full_trace()
    tr.events.append({"node": "sim", "inc": 0, "kind": "heal", "lamport": 0, "time": 2.0})
    tr.events.append({"node": "P1", "inc": 1, "kind": "crash", "lamport": 0, "time": 2.0})
    assert check_lamport(index(tr)).held


# ------------------------------------------------------------------ lossy
def test_lossy_channels_turn_misses_into_expected_losses() -> None:
    tr, _ = restart_trace(send_after_restart=False)  # P3#2 misses P1:1:2
    tr.multicast("P2", 4.0)  # P1 and P3 never get it
    reliable = check_multicast(tr.events)
    assert not reliable.ok
    lossy = check_multicast(tr.events, reliable=False, fifo=False)
    assert lossy.ok, lossy.summary()
    validity = lossy.get(VALIDITY)
    assert validity.violations == 0 and validity.expected_losses == 1
    assert validity.detail == "1 delivery missing on lossy channels"
    assert validity.verdict() == "held (3 pairs checked; 1 delivery missing on lossy channels)"
    assert lossy.get(RESTART_VALIDITY).expected_losses == 2
    assert lossy.get(AGREEMENT).expected_losses == 1


def test_lossy_channels_still_report_integrity_violations() -> None:
    tr = full_trace()
    tr.deliver("P2", ("P1", 1, 2), 2.0)
    report = check_multicast(tr.events, reliable=False)
    bad = report.first_violation()
    assert bad is not None and bad.name == INTEGRITY


# ------------------------------------------------------------------ property
@st.composite
def complete_traces(draw: st.DrawFn) -> Trace:
    """Random correct runs: every message reaches every node, per origin in order."""
    names = [f"P{i}" for i in range(1, draw(st.integers(2, 4)) + 1)]
    tr = Trace().nodes(*names)
    sends = draw(st.lists(st.sampled_from(names), min_size=1, max_size=12))
    t = 1.0
    inboxes: dict[str, list[MsgId]] = {n: [] for n in names}
    for origin in sends:
        msg = tr.multicast(origin, t)
        for n in names:
            if n != origin:
                inboxes[n].append(msg)
    # Drain the per-receiver queues in a random interleaving; each queue keeps
    # send order, which respects FIFO per origin.
    while any(inboxes.values()):
        t += 0.01
        node = draw(st.sampled_from([n for n in names if inboxes[n]]))
        tr.deliver(node, inboxes[node].pop(0), t)
    return tr


@settings(max_examples=60, deadline=None)
@given(complete_traces(), st.data())
def test_random_complete_runs_pass_and_any_dropped_delivery_is_caught(
    tr: Trace, data: st.DataObject
) -> None:
    assert check_multicast(tr.events).ok
    delivers = [i for i, e in enumerate(tr.events) if e["kind"] == "deliver"]
    if not delivers:
        return
    dropped = tr.events.pop(data.draw(st.sampled_from(delivers)))
    report = check_multicast(tr.events)
    assert not report.get(VALIDITY).held
    assert not report.get(AGREEMENT).held
    assert f"{dropped['node']} never delivered" in report.get(VALIDITY).detail
