"""The HTML reports of ``zmqcast stress --report`` and ``zmqcast bench --report``."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from tests.integration.cluster import write_config
from tests.unit.test_viz_page import parse
from zmqcast.cli import app
from zmqcast.viz.charts import nice_ticks
from zmqcast.viz.reports import _rate, bench_report, stress_report

T0 = 1000.0


def _event(node: str, inc: int, kind: str, t: float) -> dict[str, Any]:
    return {"node": node, "inc": inc, "kind": kind, "lamport": 1, "time": T0 + t}


def _stress_run(root: Path) -> Path:
    """A run directory as the stress harness leaves it: two nodes, one killed once."""
    run = root / "run"
    (run / "events").mkdir(parents=True)
    p1 = [_event("P1", 1, "start", 0.0)]
    p1 += [_event("P1", 1, "deliver", 0.05 + i * 0.1) for i in range(80)]
    p2 = [_event("P2", 1, "start", 0.0)]
    p2 += [_event("P2", 1, "app_recv", 0.5 + i * 0.1) for i in range(20)]
    p2 += [_event("P2", 2, "start", 4.0)] + [_event("P2", 2, "deliver", 4.2 + i) for i in range(4)]
    for name, events in (("P1", p1), ("P2", p2)):
        (run / "events" / f"{name}.jsonl").write_bytes(
            b"".join(orjson.dumps(e) + b"\n" for e in events)
        )
    nemesis = [
        {"time": T0 - 1, "action": "plan", "spared": ["P1"], "schedule": []},
        {"time": T0 + 2.5, "action": "kill", "node": "P2"},
        {"time": T0 + 4.0, "action": "restart", "node": "P2"},
        {"time": T0 + 5.0, "action": "partition", "sides": [["P1"], ["P2"]]},
        {"time": T0 + 6.5, "action": "heal"},
        {"time": T0 + 8.0, "action": "settle"},
    ]
    (run / "nemesis.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in nemesis))
    return run


def test_the_stress_report_draws_the_rate_and_the_nemesis(tmp_path: Path) -> None:
    run = _stress_run(tmp_path)
    html = stress_report(run, ["run: 2 nodes", "all invariants held"])
    page = parse(html)
    titles = re.findall(r"<title>([^<]*)</title>", html)
    assert "kill P2" in titles and "restart P2" in titles
    assert "partition P1 | P2" in titles
    assert len(page.with_class("span")) == 1
    assert len(page.with_class("series")) == 2
    # One bar per incarnation: P1, and P2 before and after its restart.
    lives = [t for t in titles if " inc " in t]
    assert sorted(t.split(":")[0] for t in lives) == ["P1 inc 1", "P2 inc 1", "P2 inc 2"]
    assert "all invariants held" in html
    assert not [t for t, a in page.tags if "src" in a or "href" in a]


def test_the_rate_counts_every_event_once() -> None:
    events = [_event("P1", 1, "deliver", t / 7) for t in range(70)]
    points = _rate(events, "deliver", T0, 0.5, 10.0)
    assert math.isclose(sum(rate * 0.5 for _, rate in points), 70)
    assert points[0] == (0.25, 4 / 0.5)  # t = 0, 1/7, 2/7 and 3/7 fall in [0, 0.5)
    assert len(points) == 20


def test_the_bench_report_shows_every_repeat(tmp_path: Path) -> None:
    nan = float("nan")
    record = {
        "scenario": "snapshot",
        "nodes": 3,
        "messages": 3000,
        "size": 64,
        "repeat": 3,
        "trace": "lean",
        "ratio_to_raw": 0.06,
    }
    figures = [
        ("raw frames/s", "1/s", [2.0e5, 2.1e5, 1.9e5]),
        ("raw rtt p50", "s", [1.7e-4, 1.6e-4, 1.8e-4]),
        ("chandy-lamport p50", "s", [7e-3, 8e-3, nan]),
        ("lai-yang p50", "s", [nan, nan, nan]),
        ("chandy-lamport throughput drop", "%", [3.0, -1.0, 10.0]),
    ]
    html = bench_report(record, figures)
    page = parse(html)
    dots = page.with_class("dot")
    assert len(dots) == 3 + 3 + 2 + 3  # one per repeat that produced a value
    assert "not measured" in html
    assert "0 of 3" in html and "2 of 3" in html
    assert "Latency distributions: snapshot" in html


def test_nice_ticks_are_round() -> None:
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0.0, 0.7) == [0.0, 0.2, 0.4, 0.6]


def test_a_report_path_that_is_a_directory_is_refused_before_running(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3)
    for args in (
        ["stress", "--config", str(config), "--report", str(tmp_path)],
        ["bench", "channel", "--report", str(tmp_path)],
    ):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 2, done.output
        lines = [line for line in done.output.splitlines() if line.strip()]
        assert lines == [f"error: --report: {tmp_path} is a directory"]
