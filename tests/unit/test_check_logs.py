"""Reading a run's event logs for `zmqcast check`: bad lines, torn tails, missing logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from zmqcast.check.logs import LogError, missing_logs, read_events
from zmqcast.cli import app


def _event(node: str, kind: str, lamport: int = 0, **fields: Any) -> dict[str, Any]:
    return {"node": node, "inc": 1, "kind": kind, "lamport": lamport, "time": 0.5, **fields}


def _start(node: str, peers: list[str]) -> dict[str, Any]:
    start = _event(node, "start", out=peers, mode="fifo", trace="full")
    start["in"] = peers
    return start


def _lines(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def _run(tmp_path: Path, logs: dict[str, bytes]) -> Path:
    events = tmp_path / "run" / "events"
    events.mkdir(parents=True)
    for node, data in logs.items():
        (events / f"{node}.jsonl").write_bytes(data)
    return tmp_path / "run"


def _mesh3(tmp_path: Path, *, without: str = "") -> Path:
    """A quiet 3-node mesh run: every node started, nothing sent."""
    nodes = ["P1", "P2", "P3"]
    logs = {n: _lines(_start(n, [m for m in nodes if m != n])) for n in nodes if n != without}
    return _run(tmp_path, logs)


def _check(run_dir: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["check", str(run_dir)])
    assert "Traceback" not in result.output
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


# --------------------------------------------------------------- read_events


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    """A node killed mid-write, or a live node caught mid-write, leaves one."""
    first = _start("P1", [])
    run = _run(tmp_path, {"P1": _lines(first) + b'{"node": "P1", "inc": 1, "ki'})
    assert read_events(run) == [first]


def test_a_whole_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    first, second = _start("P1", []), _event("P1", "multicast", 1)
    run = _run(tmp_path, {"P1": _lines(first) + orjson.dumps(second)})
    assert read_events(run) == [first, second]


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"garbage\n", 1, "not a JSON object"),
        (b"garbage", 1, "not a JSON object"),  # unterminated, but no record begins so
        (_lines(_start("P1", [])) + b"[1, 2]\n", 2, "not a JSON object"),
        (b'{"node": "P1"\n' + _lines(_start("P1", [])), 1, "not a JSON object"),  # not last
        (b'{"node": "P1", "inc": 1}\n', 1, 'not an event: no "kind" field'),
        (b'{"node": "P1", "inc": 1}', 1, 'not an event: no "kind" field'),  # whole, unterminated
        (orjson.dumps({**_start("P1", []), "inc": "1"}) + b"\n", 1, '"inc" must be an integer'),
        (orjson.dumps({**_start("P1", []), "lamport": True}), 1, '"lamport" must be an integer'),
        (orjson.dumps({**_start("P1", []), "time": None}), 1, '"time" must be a number'),
    ],
)
def test_a_line_that_is_not_an_event_is_an_error_naming_file_and_line(
    tmp_path: Path, data: bytes, line: int, message: str
) -> None:
    run = _run(tmp_path, {"P1": data})
    with pytest.raises(LogError) as caught:
        read_events(run)
    assert caught.value.where == f"{run / 'events' / 'P1.jsonl'}:{line}"
    assert message in caught.value.message


def test_a_log_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    run = _mesh3(tmp_path, without="P1")
    (run / "events" / "P1.jsonl").mkdir()
    with pytest.raises(LogError) as caught:
        read_events(run)
    assert caught.value.where == str(run / "events" / "P1.jsonl")
    assert "directory" in caught.value.message


def test_missing_logs_are_the_peers_named_by_start_events_without_events() -> None:
    events = [
        _start("P1", ["P2", "P3", "P4"]),
        _start("P2", ["P1", "P3"]),
        _event("P2", "multicast", 1),
        _event("sim", "partition"),  # driver events name no node
    ]
    assert missing_logs(events) == {"P3": ["P1", "P2"], "P4": ["P1"]}
    assert missing_logs([*events, _event("P3", "bank_open"), _start("P4", ["P1"])]) == {}


# --------------------------------------------------------------- zmqcast check


def test_check_of_a_log_of_one_garbage_line_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    run = _run(tmp_path, {"P1": b"garbage\n"})
    code, lines = _check(run)
    assert code == 2
    assert lines == [f"error: {run / 'events' / 'P1.jsonl'}:1: not a JSON object"]


def test_check_of_a_log_that_is_a_directory_exits_2_naming_it(tmp_path: Path) -> None:
    run = _mesh3(tmp_path, without="P1")
    (run / "events" / "P1.jsonl").mkdir()
    code, lines = _check(run)
    assert code == 2
    assert lines == [f"error: {run / 'events' / 'P1.jsonl'}: is a directory, not an event log"]


def test_check_names_missing_logs_and_blames_nothing(tmp_path: Path) -> None:
    run = _mesh3(tmp_path, without="P3")
    code, lines = _check(run)
    assert code == 1
    assert "  missing event logs: P3 (named as a peer by P1, P2)" in lines
    assert not any("VIOLATED" in line or "held" in line for line in lines)


def test_check_of_a_complete_quiet_run_passes(tmp_path: Path) -> None:
    """The control for the test above: the same run with every log."""
    code, lines = _check(_mesh3(tmp_path))
    assert code == 0, lines
    assert not any("missing" in line for line in lines)
