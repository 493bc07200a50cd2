"""A restarted node's event log: a torn last record is cut before appending."""

from __future__ import annotations

from pathlib import Path

from zmqcast.driver.eventlog import open_event_log_tail


def test_missing_or_empty_log_is_a_fresh_start(tmp_path: Path) -> None:
    assert open_event_log_tail(tmp_path / "none.jsonl") == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert open_event_log_tail(empty) == 0


def test_complete_log_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(b'{"a":1}\n{"b":2}\n')
    assert open_event_log_tail(log) == 16
    assert log.read_bytes() == b'{"a":1}\n{"b":2}\n'


def test_torn_last_record_is_cut(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    assert open_event_log_tail(log) == 16
    assert log.read_bytes() == b'{"a":1}\n{"b":2}\n'


def test_a_log_of_one_torn_record_is_emptied(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(b'{"kind":"sta')
    assert open_event_log_tail(log) == 0
    assert log.read_bytes() == b""
