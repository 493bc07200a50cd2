"""Choosing a node's incarnation: it grows across restarts whatever the clock does."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from zmqcast.driver.eventlog import (
    TAIL_BLOCK,
    IncarnationError,
    choose_incarnation,
    last_incarnation,
    open_event_log_tail,
)
from zmqcast.wire import MAX_INT


def _record(inc: int, kind: str = "deliver", pad: int = 0) -> bytes:
    ev = {"node": "P1", "inc": inc, "kind": kind, "lamport": 1, "time": 1.0, "pad": "x" * pad}
    return orjson.dumps(ev) + b"\n"


def test_a_first_start_takes_the_clock() -> None:
    choice = choose_incarnation(None, 1_700_000_000_000)
    assert choice.inc == 1_700_000_000_000
    assert not choice.clock_back
    assert choice.clock_back_fields() is None


def test_a_clock_ahead_of_the_predecessor_is_taken_quietly() -> None:
    choice = choose_incarnation(1_000, 5_000)
    assert choice.inc == 5_000
    assert choice.clock_back_fields() is None


def test_a_clock_behind_the_predecessor_gives_previous_plus_one_and_an_event() -> None:
    choice = choose_incarnation(10_000, 4_000)
    assert choice.inc == 10_001
    assert choice.clock_back
    assert choice.clock_back_fields() == {"previous": 10_000, "wall_ms": 4_000}


def test_a_clock_equal_to_the_predecessor_counts_as_stepped_back() -> None:
    choice = choose_incarnation(7_000, 7_000)
    assert choice.inc == 7_001
    assert choice.clock_back_fields() == {"previous": 7_000, "wall_ms": 7_000}


def test_a_clock_before_1970_still_gives_a_valid_incarnation() -> None:
    assert choose_incarnation(None, 0).inc == 1
    assert choose_incarnation(None, -5).inc == 1


def test_no_incarnation_left_above_the_wire_limit() -> None:
    assert choose_incarnation(MAX_INT - 1, 0).inc == MAX_INT
    with pytest.raises(IncarnationError, match="no higher one"):
        choose_incarnation(MAX_INT, 0)


def test_last_incarnation_of_a_missing_or_empty_log_is_none(tmp_path: Path) -> None:
    assert last_incarnation(tmp_path / "none.jsonl") is None
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert last_incarnation(empty) is None


def test_last_incarnation_is_the_last_complete_record(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(_record(5) + _record(9) + _record(7))
    assert last_incarnation(log) == 7


def test_last_incarnation_skips_a_torn_last_line(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(_record(5) + _record(9) + b'{"node":"P1","inc":99999')
    assert last_incarnation(log) == 9


def test_last_incarnation_passes_over_lines_that_are_not_records(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(_record(5) + b"garbage\n[1, 2]\n" + b'{"inc": "x"}\n\n')
    assert last_incarnation(log) == 5


def test_last_incarnation_reads_only_the_end_of_a_long_log(tmp_path: Path) -> None:
    # Many blocks of early records, then the predecessor's: only the last is asked for.
    log = tmp_path / "P1.jsonl"
    log.write_bytes(_record(1, pad=200) * (8 * TAIL_BLOCK // 250) + _record(42))
    assert last_incarnation(log) == 42


def test_last_incarnation_of_a_record_longer_than_a_block(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    log.write_bytes(_record(3) + _record(8, pad=3 * TAIL_BLOCK) + b'{"torn"')
    assert last_incarnation(log) == 8
    log.write_bytes(_record(8, pad=3 * TAIL_BLOCK))
    assert last_incarnation(log) == 8


def test_a_torn_record_longer_than_a_block_is_cut_whole(tmp_path: Path) -> None:
    log = tmp_path / "P1.jsonl"
    head = _record(3)
    log.write_bytes(head + _record(8, pad=3 * TAIL_BLOCK)[:-10])
    assert open_event_log_tail(log) == len(head)
    assert log.read_bytes() == head
    assert last_incarnation(log) == 3
