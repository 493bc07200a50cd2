"""A node that could not write its log is failed, not correct, and reports say why."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from zmqcast.check import VALIDITY, TraceIndex, check_multicast
from zmqcast.check.trace import LOG_FAILED
from zmqcast.driver import LOG_FAILED_EXIT, WriteFailed
from zmqcast.stress.harness import LOGS_WRITTEN, log_failures, logs_written

Event = dict[str, Any]
LOG = "/run/events/P2.jsonl"


def ev(node: str, inc: int, kind: str, t: float, lamport: int = 0, **fields: Any) -> Event:
    return {"node": node, "inc": inc, "kind": kind, "lamport": lamport, "time": t, **fields}


def mc(node: str, inc: int, seq: int, t: float, lamport: int) -> Event:
    return ev(node, inc, "multicast", t, lamport, origin=node, oepoch=inc, oseq=seq, size=1)


def dl(node: str, inc: int, msg: tuple[str, int, int], t: float, lamport: int) -> Event:
    origin, oepoch, oseq = msg
    fields = {"origin": origin, "oepoch": oepoch, "oseq": oseq, "from": origin}
    return ev(node, inc, "deliver", t, lamport, **fields, ch=f"{origin}>{node}", cseq=oseq, ts=1)


def stop_failed(node: str, inc: int, t: float, lamport: int) -> Event:
    fields = {"file": LOG, "error": "No space left on device (errno 28)"}
    return ev(node, inc, "stop", t, lamport, reason=LOG_FAILED, **fields)


def disk_full_trace() -> list[Event]:
    """P1 and P3 exchange messages; P2 multicasts one, then its log fails.

    Nobody got P2's message, and P2 never delivered P1's: with P2 taken for
    correct, validity fails twice over.
    """
    return [
        ev("P1", 1, "start", 0.0),
        ev("P2", 1, "start", 0.0),
        ev("P3", 1, "start", 0.0),
        mc("P2", 1, 1, 1.0, 1),
        stop_failed("P2", 1, 1.5, 1),
        mc("P1", 1, 1, 2.0, 1),
        dl("P3", 1, ("P1", 1, 1), 2.1, 2),
        mc("P3", 1, 1, 3.0, 3),
        dl("P1", 1, ("P3", 1, 1), 3.1, 4),
        ev("P1", 1, "stop", 4.0, 4, reason="signal"),
        ev("P3", 1, "stop", 4.0, 3, reason="signal"),
    ]


def test_a_node_whose_log_failed_is_not_correct() -> None:
    index = TraceIndex(disk_full_trace())
    assert [inc.node for inc in index.correct] == ["P1", "P3"]
    p2 = index.lineages["P2"][0]
    assert p2.faulty
    assert p2.crash_time == 1.5
    assert index.restarted == ()


def test_the_protocol_is_not_blamed_and_the_failure_is_named() -> None:
    events = disk_full_trace()
    index = TraceIndex(events)
    report = check_multicast(index)
    assert report.ok, report.summary()
    assert report.get(VALIDITY).checked == 2  # P1's message at P3, P3's at P1
    assert index.failure_lines() == [
        f"P2#1 failed: could not write {LOG}: No space left on device (errno 28)"
    ]


def test_without_the_failure_record_validity_blames_the_protocol() -> None:
    # The same run, had the node not said why it stopped: the bug being fixed.
    events = [e for e in disk_full_trace() if e.get("reason") != LOG_FAILED]
    report = check_multicast(events)
    assert not report.get(VALIDITY).held
    assert TraceIndex(events).failure_lines() == []


def test_a_node_the_driver_saw_fail_is_excused_whole() -> None:
    events = [e for e in disk_full_trace() if e.get("reason") != LOG_FAILED]
    index = TraceIndex(events, {"P2": "could not write its event log (exit status 75)"})
    assert [inc.node for inc in index.correct] == ["P1", "P3"]
    assert check_multicast(index).ok
    assert index.failure_lines() == ["P2 failed: could not write its event log (exit status 75)"]


def test_a_restart_after_a_log_failure_is_checked_from_the_failure() -> None:
    events = [
        *disk_full_trace()[:5],
        ev("P2", 2, "start", 2.5),
        mc("P1", 1, 1, 3.0, 1),
        dl("P2", 2, ("P1", 1, 1), 3.1, 2),
        dl("P3", 1, ("P1", 1, 1), 3.1, 2),
    ]
    index = TraceIndex(events)
    (restarted,) = index.restarted
    assert restarted.key == ("P2", 2)
    assert restarted.since == 1.5  # t_c is the failure, as for a crash
    assert check_multicast(index).ok
    assert index.failure_lines()[0].startswith("P2#1 failed: could not write")


def test_other_stop_reasons_do_not_fail_a_node() -> None:
    events = [ev("P1", 1, "start", 0.0), ev("P1", 1, "stop", 1.0, reason="signal")]
    index = TraceIndex(events)
    assert [inc.node for inc in index.correct] == ["P1"]
    assert index.failure_lines() == []


def test_the_harness_reports_a_log_failure_exit_as_a_disk_failure() -> None:
    failed, crashes = log_failures([("P2", LOG_FAILED_EXIT), ("P3", 1), ("P2", LOG_FAILED_EXIT)])
    assert crashes == [("P3", 1)]
    assert list(failed) == ["P2"]
    result = logs_written(failed, 3)
    assert result.name == LOGS_WRITTEN
    assert not result.held
    assert result.violations == 1
    assert result.detail.startswith("P2 failed: could not write its event log")
    assert f"exit status {LOG_FAILED_EXIT}" in result.detail


def test_the_harness_reports_nothing_when_no_log_failed() -> None:
    failed, crashes = log_failures([("P3", -9)])
    assert failed == {}
    assert crashes == [("P3", -9)]
    assert logs_written(failed, 3).held


def test_the_nodes_error_line_names_the_file_and_the_os_error() -> None:
    path = Path("/run/events/P2.jsonl")
    failure = WriteFailed(path, OSError(errno.ENOSPC, "No space left on device"))
    line = failure.line()
    assert "\n" not in line
    assert str(path) in line
    assert "No space left on device (errno 28)" in line
    assert f"exit status {LOG_FAILED_EXIT}" in line
