"""HTML reports with pictures: ``zmqcast stress --report`` and ``zmqcast bench --report``.

Each is one self-contained page (inline SVG from :mod:`~zmqcast.viz.charts`,
no script, nothing loaded):

* stress: deliveries and transfers per second over the run, with the
  nemesis's kills, restarts and partitions on the same time axis, then each
  node's incarnations as bars; the text report above them;
* bench: each figure's value in every repeat, latencies on a log scale, so
  the spread between repeats shows next to the median.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import orjson

from zmqcast.check.logs import read_events
from zmqcast.core.events import EventKind
from zmqcast.viz.charts import (
    Bar,
    Lane,
    Mark,
    Series,
    Span,
    Strip,
    fmt_number,
    fmt_seconds,
    lanes,
    strips,
    time_series,
)
from zmqcast.viz.model import natural_key

KILL = "#d62728"
RESTART = "#2a9d3a"
SETTLE = "#555555"

_STYLE = """
body { font: 13px/1.45 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 19px; } h2 { font-size: 15px; margin-top: 22px; }
pre { background: #f6f6f6; padding: 8px 10px; border: 1px solid #ddd; overflow-x: auto; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; }
"""


def _page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>"
        f"<h1>{escape(title)}</h1>{''.join(body)}</body></html>\n"
    )


# ------------------------------------------------------------------ stress
def stress_report(run_dir: Path, summary: Sequence[str]) -> str:
    """The report of the stress run in ``run_dir``; ``summary`` is its text report."""
    events = read_events(run_dir)
    nemesis = _nemesis(run_dir / "nemesis.jsonl")
    times = [float(e["time"]) for e in events]
    t0 = min(times, default=0.0)
    end = max(times, default=1.0) - t0
    width = _bucket(end)
    deliveries = _rate(events, EventKind.DELIVER, t0, width, end)
    transfers = _rate(events, EventKind.APP_RECV, t0, width, end)
    marks, spans = _nemesis_marks(nemesis, t0, end)
    body = [
        f"<pre>{escape(chr(10).join(summary))}</pre>",
        "<h2>Delivery rate over time</h2>",
        f'<p class="note">Multicast deliveries and transfers received per second, summed '
        f"over every node, in buckets of {fmt_seconds(width)}; seconds from the first event. "
        "Red lines: kill -9; green dashed: restart; shaded: a partition; grey dashed: the "
        "settle phase begins.</p>",
        time_series(
            [
                Series("multicast deliveries/s", "#1f5fa8", deliveries),
                Series("transfers received/s", "#2a9d3a", transfers),
            ],
            x_label="seconds since the run's first event",
            y_label="per second",
            marks=marks,
            spans=spans,
        ),
        "<h2>Nodes and their incarnations</h2>",
        '<p class="note">One bar per incarnation, from its first to its last logged event; '
        "a cross where the nemesis killed it.</p>",
        lanes(
            _node_lanes(events, nemesis, t0),
            x_low=0.0,
            x_high=end,
            x_label="seconds since the run's first event",
        ),
    ]
    return _page(f"zmqcast stress: {run_dir}", body)


def _nemesis(path: Path) -> list[dict[str, Any]]:
    """The nemesis's records (``nemesis.jsonl``); none if the file is missing."""
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_bytes().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line
        if isinstance(record, dict) and isinstance(record.get("time"), int | float):
            records.append(record)
    return records


def _bucket(span: float) -> float:
    """A round bucket width giving about 150 buckets, at least 50 ms."""
    raw = max(span / 150, 0.05)
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _rate(
    events: Iterable[Mapping[str, Any]], kind: str, t0: float, width: float, end: float
) -> list[tuple[float, float]]:
    """(bucket middle, events of ``kind`` per second in it), one point per bucket."""
    count = max(1, math.ceil(end / width))
    buckets = [0] * count
    for e in events:
        if e["kind"] == kind:
            buckets[min(int((float(e["time"]) - t0) / width), count - 1)] += 1
    return [((i + 0.5) * width, n / width) for i, n in enumerate(buckets)]


def _nemesis_marks(
    nemesis: Iterable[Mapping[str, Any]], t0: float, end: float
) -> tuple[list[Mark], list[Span]]:
    marks: list[Mark] = []
    spans: list[Span] = []
    cut: tuple[float, str] | None = None
    for r in nemesis:
        at = float(r["time"]) - t0
        action = r.get("action")
        node = str(r.get("node", ""))
        if action == "kill":
            marks.append(Mark(at, f"kill {node}", KILL))
        elif action == "restart":
            marks.append(Mark(at, f"restart {node}", RESTART, dashed=True))
        elif action == "partition":
            sides = r.get("sides") or []
            label = " | ".join(",".join(map(str, side)) for side in sides)
            cut = (at, f"partition {label}")
        elif action == "heal" and cut is not None:
            spans.append(Span(cut[0], at, cut[1]))
            cut = None
        elif action == "settle":
            marks.append(Mark(at, "settle", SETTLE, dashed=True))
    if cut is not None:
        spans.append(Span(cut[0], end, cut[1]))
    return marks, spans


def _node_lanes(
    events: Iterable[Mapping[str, Any]], nemesis: Iterable[Mapping[str, Any]], t0: float
) -> list[Lane]:
    lives: dict[tuple[str, int], list[float]] = {}
    for e in events:
        if e["node"] == "sim":
            continue
        t = float(e["time"]) - t0
        life = lives.setdefault((str(e["node"]), int(e["inc"])), [t, t])
        life[0], life[1] = min(life[0], t), max(life[1], t)
    rows: dict[str, Lane] = {}
    for (node, inc), (start, stop) in sorted(lives.items()):
        row = rows.setdefault(node, Lane(node))
        colour = "#9cc3e6" if len(row.bars) % 2 == 0 else "#5f9fd6"
        row.bars.append(
            Bar(start, stop, f"{node} inc {inc}: {start:.2f} s to {stop:.2f} s", colour)
        )
    for r in nemesis:
        if r.get("action") == "kill" and str(r.get("node")) in rows:
            at = float(r["time"]) - t0
            rows[str(r["node"])].marks.append(Mark(at, f"kill at {at:.2f} s", KILL))
    return [rows[n] for n in sorted(rows, key=natural_key)]


# ------------------------------------------------------------------ bench
def bench_report(record: Mapping[str, Any], figures: Sequence[tuple[str, str, list[float]]]) -> str:
    """The report of one ``zmqcast bench`` invocation.

    ``record`` is what ``--json`` prints; ``figures`` are (name, unit,
    value in each repeat) of every metric, NaN where a repeat produced none.
    """
    scenario = record.get("scenario", "?")
    title = (
        f"zmqcast bench {scenario}: {record.get('nodes')} nodes, {record.get('messages')} "
        f"messages of {record.get('size')} bytes, {record.get('repeat')} repeats, "
        f"trace {record.get('trace')}"
    )
    latencies = [Strip(n, v, "#c2185b") for n, u, v in figures if u == "s"]
    rates = [Strip(n, v, "#1f5fa8") for n, u, v in figures if u == "1/s"]
    others = [(n, u, v) for n, u, v in figures if u not in ("s", "1/s")]
    body = [
        '<p class="note">Each dot is one repeat; the black bar is the median over the repeats. '
        "The raw pyzmq baseline is measured in every repeat just before the scenario.</p>",
        f"<h2>Latency distributions: {escape(str(scenario))}</h2>",
        strips(latencies, log=True, fmt=fmt_seconds),
        "<h2>Throughput</h2>",
        strips(rates, log=False, fmt=lambda v: f"{fmt_number(v)}/s"),
        _figure_table(figures, record),
    ]
    if others:
        body.insert(
            5,
            strips(
                [Strip(f"{n} ({u})", v, "#6d4c41") for n, u, v in others],
                log=False,
                fmt=fmt_number,
            ),
        )
    return _page(title, body)


def _figure_table(
    figures: Sequence[tuple[str, str, list[float]]], record: Mapping[str, Any]
) -> str:
    rows = ["<tr><th>figure</th><th>median</th><th>min</th><th>max</th><th>runs</th></tr>"]
    for name, unit, values in figures:
        good = sorted(v for v in values if math.isfinite(v))
        fmt = fmt_seconds if unit == "s" else fmt_number
        if good:
            mid = len(good) // 2
            median = good[mid] if len(good) % 2 else (good[mid - 1] + good[mid]) / 2
            cells = [fmt(median), fmt(good[0]), fmt(good[-1])]
        else:
            cells = ["none", "", ""]
        suffix = "" if unit in ("s", "1") else f" {unit}"
        rows.append(
            f"<tr><td>{escape(name)}</td>"
            + "".join(
                f'<td class="num">{escape(c)}{escape(suffix) if c else ""}</td>' for c in cells
            )
            + f'<td class="num">{len(good)} of {len(values)}</td></tr>'
        )
    ratio = record.get("ratio_to_raw")
    if isinstance(ratio, int | float) and math.isfinite(ratio):
        rows.append(
            f'<tr><td>ratio to raw frames/s</td><td class="num">{ratio:.3f}</td>'
            "<td></td><td></td><td></td></tr>"
        )
    return f"<h2>Every figure</h2><table>{''.join(rows)}</table>"
