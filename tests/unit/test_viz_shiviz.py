"""The ShiViz export keeps every rule ShiViz checks when it parses a log."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.core.config import ChannelMode
from zmqcast.sim.runner import SimParams, simulate

Clock = dict[str, int]


def check_shiviz(text: str) -> dict[str, int]:
    """Check a ShiViz log file rule by rule; return each host's number of events.

    The rules are those ShiViz applies: a parser expression with the named
    groups ``event``, ``host`` and ``clock`` on the first line and the
    delimiter on the second; every event's clock holds its own host; each
    host's own entry starts at 1 and grows by one per event; clocks name no
    unknown host and no event a host does not have; and every clock is the
    join of its host's previous clock and the clocks it learnt from.
    """
    lines = text.split("\n")
    regex, delimiter, body = lines[0], lines[1], lines[2:]
    assert re.search(r"\(\?<event>", regex) and "(?<host>" in regex and "(?<clock>" in regex
    assert delimiter.strip() == "", "one execution: the delimiter line is empty"
    # ShiViz's parser is JavaScript's RegExp, anchored at line ends; Python spells the
    # named groups (?P<name>...).
    parser = re.compile("^" + regex.replace("(?<", "(?P<") + "$")
    events: list[tuple[str, Clock]] = []
    for number, line in enumerate(body, 3):
        if not line.strip():
            continue
        match = parser.match(line)
        assert match is not None, f"line {number} does not match the parser: {line!r}"
        clock = json.loads(match["clock"])
        assert isinstance(clock, dict) and clock, f"line {number}: clock is not an object"
        assert all(isinstance(v, int) and v >= 1 for v in clock.values()), f"line {number}"
        host = match["host"]
        assert host in clock, f"line {number}: host {host} is not in its own clock"
        events.append((host, clock))
    by_host: dict[str, dict[int, Clock]] = {}
    for host, clock in events:
        own = clock[host]
        assert own not in by_host.setdefault(host, {}), f"{host} has two events at {own}"
        by_host[host][own] = clock
    for host, clocks in by_host.items():
        # Starts at 1 and increments by one: the own entries are exactly 1..n.
        assert sorted(clocks) == list(range(1, len(clocks) + 1)), f"{host}: {sorted(clocks)}"
        # In the file, too, each host's events come in the order of its clock.
        in_file = [c[host] for h, c in events if h == host]
        assert in_file == sorted(in_file), f"{host}: events out of order"
    counts = {host: len(clocks) for host, clocks in by_host.items()}
    for host, clock in events:
        for other, value in clock.items():
            assert other in counts, f"{host}: unknown host {other} in {clock}"
            assert value <= counts[other], f"{host}: {other}={value}, it has {counts[other]}"
    for host, clocks in by_host.items():
        for t, clock in clocks.items():
            before: Clock = dict(clocks.get(t - 1, {}))
            joined = dict(before)
            for other, value in clock.items():
                if other != host and value > before.get(other, 0):
                    for k, v in by_host[other][value].items():
                        joined[k] = max(joined.get(k, 0), v)
            joined[host] = t
            assert joined == clock, f"{host}@{t}: {clock} is not the join {joined}"
    return counts


def test_a_three_node_run_with_restarts_exports_a_log_shiviz_accepts(tmp_path: Path) -> None:
    params = SimParams(
        nodes=3,
        messages=6,
        workload="mixed",
        snapshots=2,
        crash=True,
        loss=0.2,
        reorder=0.5,
        channel=ChannelMode.FIFO,
        seed=5,
    )
    trace = tmp_path / "trace.jsonl"
    result = simulate(params)
    trace.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in result.events))
    out = tmp_path / "run.log"
    done = CliRunner().invoke(app, ["export", "shiviz", str(trace), "-o", str(out)])
    assert done.exit_code == 0, done.output
    counts = check_shiviz(out.read_text())
    incarnations = {(e["node"], e["inc"]) for e in result.events if e["node"] != "sim"}
    assert len(counts) == len(incarnations) > 3  # one host per incarnation; some restarted
    assert sum(counts.values()) == sum(1 for e in result.events if e["node"] != "sim")
    assert any("#" in host for host in counts)


def test_the_checker_catches_a_broken_log() -> None:
    good = '(?<host>\\S+) (?<clock>\\{[^}]*\\}) (?<event>.*)\n\nA {"A":1} x\nB {"A":1,"B":1} y\n'
    assert check_shiviz(good) == {"A": 1, "B": 1}
    for broken in (
        good.replace('B {"A":1,"B":1}', 'B {"A":1,"B":2}'),  # does not start at 1
        good.replace('B {"A":1,"B":1}', 'B {"C":1,"B":1}'),  # unknown host
        good.replace('B {"A":1,"B":1}', 'B {"A":1}'),  # own host missing
        good.replace('B {"A":1,"B":1}', 'B {"A":2,"B":1}'),  # more events than A has
    ):
        try:
            check_shiviz(broken)
        except AssertionError:
            continue
        raise AssertionError(f"accepted a broken log: {broken!r}")
