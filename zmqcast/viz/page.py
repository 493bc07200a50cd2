"""The diagram as one self-contained HTML page: inline SVG, a style sheet, a script.

The markup is part of the interface (README, "Seeing a run"): every message
arrow is an SVG element of class ``msg`` with ``data-kind``, ``data-src``,
``data-dst`` and ``data-id``; the arrows of a snapshot's recorded channel
state have class ``in-flight`` (and ``data-in-flight``: the snapshot ids),
orphans class ``orphan`` (``data-orphan``); each cut is an element of class
``cut`` with ``data-sid``. Nothing is loaded from the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

import orjson

from zmqcast.core.events import EventKind
from zmqcast.core.snapshot.variant import Variant
from zmqcast.viz.assets import IN_FLIGHT, KIND_COLOURS, ORPHAN, SCRIPT, style
from zmqcast.viz.cuts import Snapshot
from zmqcast.viz.diagram import Diagram
from zmqcast.viz.layout import BOTTOM, LEFT, ROW, TOP, Layout
from zmqcast.viz.model import Event, Message, MessageKind, RunModel

_SEND = frozenset({EventKind.MULTICAST, EventKind.APP_SEND})
_RECEIVE = frozenset(
    {
        EventKind.DELIVER,
        EventKind.HELD,
        EventKind.LATE,
        EventKind.DUPLICATE,
        EventKind.APP_RECV,
        EventKind.APP_DUP,
    }
)
_GLYPHS: dict[str, str] = {EventKind.RETRANSMIT: "\u21bb", EventKind.INJECT_DUP: "2\u00d7"}
"""A mark beside the events that resend or double frames."""
_TICKING = frozenset({*_SEND, *_RECEIVE})
LAMPORT_LABELS = 400
"""Diagrams of at most this many events show Lamport times beside sends and receipts."""
_HEADER_FIELDS = ("node", "inc", "kind", "lamport", "time")
_LONGEST = 300
"""Longest string value shown on hover."""
_PAYLOAD_FIELDS = ("payload", "encoding", "size", "amount")


def render_page(d: Diagram) -> str:
    """The whole HTML page of one diagram."""
    model = d.analysis.model
    snapshots = d.analysis.snapshots
    title = f"zmqcast: {d.run.source}"
    data, svg = _draw(d)
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{style()}</style></head>\n<body>",
            "<header>",
            f"<h1>{escape(title)}</h1>",
            _summary(d, model),
            _window_note(d),
            _controls(d, snapshots),
            _legend(),
            _snapshot_table(snapshots),
            "</header>\n",
            f'<div id="view">{svg}</div>\n<div id="tip" hidden></div>\n',
            '<script type="application/json" id="data">',
            orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode().replace("</", "<\\/"),
            "</script>\n",
            f"<script>{SCRIPT}</script>\n</body></html>\n",
        ]
    )


# ---------------------------------------------------------------- header
def _summary(d: Diagram, model: RunModel) -> str:
    kinds: dict[str, int] = {}
    for msg in model.messages:
        kinds[msg.kind.value] = kinds.get(msg.kind.value, 0) + 1
    arrows = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"
    source = "simulator trace, virtual time" if d.run.simulated else "run directory"
    text = (
        f"{source}: {len(model.nodes)} nodes, {len(model.lanes)} incarnations, "
        f"{len(model.events)} events; messages: {arrows}."
    )
    if model.lean:
        text += " Traced with trace: lean, so multicast traffic is not in the logs."
    if d.run.simulated:
        text += (
            " The simulator logs no dropped frame: a loss shows as the retransmission"
            " (\u21bb) that repairs it."
        )
    return f'<p class="summary">{escape(text)}</p>'


def _window_note(d: Diagram) -> str:
    w = d.window
    if not w.windowed:
        return ""
    why = []
    if w.capped:
        why.append("--max-events")
    if len(w.nodes) < len(d.analysis.model.nodes):
        why.append("--nodes")
    text = (
        f"Windowed: showing {len(w.shown)} of {w.total} events, from +{w.first:.3f} s to "
        f"+{w.last:.3f} s of the run"
        + (f" (cut by {', '.join(why)})" if why else " (--from/--to)")
        + ". Use --from, --to, --nodes and --max-events to see other parts."
    )
    return f'<p class="window-note" id="window-note">{escape(text)}</p>'


def _controls(d: Diagram, snapshots: list[Snapshot]) -> str:
    time_label = "virtual time" if d.run.simulated else "wall time"
    options = ['<option value="">all snapshots</option>']
    for snap in snapshots:
        chosen = " selected" if snap.sid == d.selected else ""
        label = f"{snap.sid} ({snap.variant})"
        options.append(f'<option value="{escape(snap.sid)}"{chosen}>{escape(label)}</option>')
    return (
        '<div class="controls">'
        '<span>time runs down by: <label><input type="radio" name="mode" value="causal" '
        'checked> causal order</label> <label><input type="radio" name="mode" value="time"> '
        f"{time_label}</label></span>"
        f'<label>cut: <select id="snapshot">{"".join(options)}</select></label>'
        '<span>zoom: <button id="zoom-out">\u2212</button><button id="zoom-reset">1:1</button>'
        '<button id="zoom-in">+</button> (or Ctrl + wheel)</span>'
        "<span>hover over an event or an arrow for its details</span></div>"
    )


def _legend() -> str:
    """What each colour and dash means, as swatches that wrap with the page."""
    rows: list[tuple[str, str, str]] = [
        (KIND_COLOURS[k.value], "", _LEGEND_NAMES[k]) for k in MessageKind
    ]
    rows += [
        (IN_FLIGHT, "", "in flight at the cut (recorded channel state)"),
        (ORPHAN, "", "orphan: received inside the cut, sent outside"),
        ("#666", "5 3", "inferred arrival (not logged)"),
        ("#666", "1 3", "duplicate copy"),
        ("#666", "8 4", "never received"),
    ]
    items: list[str] = []
    for colour, dash, name in rows:
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        width = 3 if colour in (IN_FLIGHT, ORPHAN) else 2
        items.append(
            f'<li><svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" '
            f'stroke="{colour}" stroke-width="{width}"{dashing}/></svg>{escape(name)}</li>'
        )
    items.append(
        f'<li><svg width="34" height="12"><path d="M11 1 l10 10 M11 11 l10 -10" '
        f'stroke="{ORPHAN}" stroke-width="3"/></svg>crash, then a new incarnation below</li>'
        f'<li><svg width="34" height="10"><circle cx="10" cy="5" r="4" fill="{ORPHAN}"/>'
        '<circle cx="24" cy="5" r="4" fill="#fff" stroke="#333"/></svg>'
        "Lai-Yang: red / white events</li>"
        "<li>\u21bb retransmission, 2\u00d7 duplicated frame</li>"
    )
    return f'<ul class="legend">{"".join(items)}</ul>'


_LEGEND_NAMES = {
    MessageKind.MULTICAST: "multicast, from its origin",
    MessageKind.RELAY: "multicast relayed",
    MessageKind.APP: "app message (bank transfer)",
    MessageKind.MARKER: "Chandy-Lamport marker",
    MessageKind.LY_COUNT: "Lai-Yang count",
    MessageKind.BACKWARD_MARKER: "sender-log backward marker",
    MessageKind.RECORD: "snapshot record to the initiator",
    MessageKind.DROP: "data frame dropped by the fault injector (\u00d7)",
}


def _snapshot_table(snapshots: list[Snapshot]) -> str:
    if not snapshots:
        return ""
    rows = [
        "<tr><th>snapshot</th><th>variant</th><th>initiator</th><th>nodes cut</th>"
        "<th>in flight</th><th>orphans</th><th>against global.json</th></tr>"
    ]
    for snap in snapshots:
        verdict, cls = _against_record(snap)
        orphans = len(snap.orphans)
        rows.append(
            f"<tr><td>{escape(snap.sid)}</td><td>{escape(snap.variant)}</td>"
            f"<td>{escape(snap.initiator)}</td><td>{len(snap.members)}</td>"
            f"<td>{len(snap.in_flight)}</td>"
            f'<td class="{"bad" if orphans else ""}">{orphans}</td>'
            f'<td class="{cls}">{escape(verdict)}</td></tr>'
        )
    table = f'<table class="snapshots">{"".join(rows)}</table>'
    shown = " open" if len(snapshots) <= 8 else ""
    return f"<details{shown}><summary>{len(snapshots)} snapshots</summary>{table}</details>"


def _against_record(snap: Snapshot) -> tuple[str, str]:
    if snap.aborted is not None:
        return f"aborted ({snap.aborted}): not classified", ""
    compared = snap.matches_record()
    if compared is None:
        return "no global.json", ""
    missing, extra = compared
    if not missing and not extra:
        return f"the same {len(snap.drawn)} messages", "good"
    return f"differs: {len(missing)} recorded, not drawn; {len(extra)} drawn, not recorded", "bad"


# ---------------------------------------------------------------- the SVG
def _draw(d: Diagram) -> tuple[dict[str, Any], str]:
    """The page's data block and its SVG."""
    model = d.analysis.model
    layout = d.layout
    shown = set(d.window.shown)
    height = layout.height + BOTTOM
    width = layout.width
    svg: list[str] = [
        f'<svg id="diagram" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        _markers(),
        '<g id="axis" class="axis"></g>',
    ]
    for node, x in layout.x.items():
        svg.append(f'<text class="node-label" x="{x}" y="{TOP - 44}">{escape(node)}</text>')
    data_events = {i: _event_data(model, model.events[i], layout) for i in d.window.shown}
    lanes, lane_svg = _lanes(model, shown, layout)
    svg.extend(lane_svg)
    in_flight, orphans = _classes(d.analysis.snapshots)
    cuts, cut_svg = _cuts(d, shown)
    svg.extend(cut_svg)
    data_msgs: dict[int, dict[str, Any]] = {}
    svg.append('<g class="msgs">')
    for msg in model.messages:
        drawn = _message(model, msg, shown, layout, in_flight, orphans)
        if drawn is not None:
            data_msgs[msg.index], element = drawn
            svg.append(element)
    svg.append('</g><g class="events">')
    # Small runs, as in teaching, get each send's and receipt's Lamport time beside it.
    labelled = len(d.window.shown) <= LAMPORT_LABELS
    for i in d.window.shown:
        ev = model.events[i]
        x, y = layout.x[model.lanes[ev.lane].node], layout.causal[i]
        sid = ev.raw.get("sid")
        tagged = f' data-sid="{escape(str(sid))}"' if sid is not None else ""
        svg.append(
            f'<circle class="ev {_category(ev)} k-{escape(ev.kind)}" data-e="{i}"{tagged} '
            f'cx="{x}" cy="{y:.1f}" r="4"/>'
        )
        glyph = _GLYPHS.get(ev.kind)
        if glyph is not None:
            svg.append(
                f'<text class="glyph" data-e="{i}" x="{x + 7}" y="{y + 3:.1f}">{glyph}</text>'
            )
        if labelled and ev.kind in _TICKING:
            svg.append(
                f'<text class="glyph lamport" data-e="{i}" x="{x - 8}" y="{y + 3:.1f}">'
                f"{ev.raw['lamport']}</text>"
            )
    svg.append("</g>")
    driver = _driver_lines(d)
    for k, line in enumerate(driver):
        svg.append(
            f'<line class="driver" id="driver-{k}" x1="{LEFT}" x2="{width - 40}" '
            f'y1="{line["yc"]:.1f}" y2="{line["yc"]:.1f}"/><text class="driver-label" '
            f'id="driver-label-{k}" x="{width - 40}" y="{line["yc"] - 3:.1f}">'
            f"{escape(line['label'])}</text>"
        )
    svg.append("</svg>")
    data: dict[str, Any] = {
        "events": data_events,
        "msgs": data_msgs,
        "lanes": lanes,
        "cuts": cuts,
        "laiYang": {
            snap.sid: {str(m.lane): model.events[m.cut].seq for m in snap.members.values()}
            for snap in d.analysis.snapshots
            if snap.variant == Variant.LAI_YANG
        },
        "top": TOP,
        "height": layout.height,
        "width": width,
        "svgWidth": width,
        "svgHeight": height,
        "timeRange": list(layout.time_range),
        "driver": driver,
    }
    return data, "".join(svg)


def _driver_lines(d: Diagram) -> list[dict[str, Any]]:
    """A line across the lanes for each partition and heal of the simulator.

    In time mode it sits at its time; in causal mode, at the first event drawn
    that is not earlier, which is where the causal order (guided by time) has
    got to by then.
    """
    model, layout, shown = d.analysis.model, d.layout, d.window.shown
    if not model.driver or not shown:
        return []
    low, high = layout.time_range
    span = (high - low) or 1.0
    lines: list[dict[str, Any]] = []
    for raw in model.driver:
        t = float(raw["time"])
        if not low <= t <= high:
            continue
        after = next((i for i in shown if model.events[i].time >= t), shown[-1])
        sides = raw.get("sides")
        label = str(raw["kind"])
        if isinstance(sides, list):
            label += " " + " | ".join(",".join(map(str, side)) for side in sides)
        lines.append(
            {
                "yc": layout.causal[after] - ROW / 2,
                "yt": TOP + (t - low) / span * (layout.height - TOP),
                "label": label,
            }
        )
    return lines


def _markers() -> str:
    heads = dict(KIND_COLOURS)
    heads["in-flight"] = IN_FLIGHT
    heads["orphan"] = ORPHAN
    parts = [
        f'<marker id="ah-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        f'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for name, colour in heads.items()
    ]
    parts.append(
        '<marker id="ah-lost" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse">'
        '<circle cx="5" cy="5" r="4" fill="#fff" stroke="#666"/></marker>'
    )
    return f"<defs>{''.join(parts)}</defs>"


def _category(ev: Event) -> str:
    kind = ev.kind
    if kind in _SEND:
        return "send"
    if kind in _RECEIVE:
        return "receive"
    if kind.startswith("snap_"):
        return "snap"
    if kind.startswith("inject_") or kind in (EventKind.RETRANSMIT, EventKind.GAP, EventKind.LOSS):
        return "fault"
    return "other"


def _event_data(model: RunModel, ev: Event, layout: Layout) -> dict[str, Any]:
    lanes = model.lanes
    lane = lanes[ev.lane]
    fields = {k: _short(v) for k, v in ev.raw.items() if k not in _HEADER_FIELDS}
    return {
        "x": layout.x[lane.node],
        "yc": round(layout.causal[ev.index], 1),
        "yt": round(layout.timed[ev.index], 1),
        "lane": ev.lane,
        "seq": ev.seq,
        "host": lane.host,
        "kind": ev.kind,
        "lamport": ev.raw["lamport"],
        "time": ev.raw["time"],
        "vc": {lanes[k].host: v for k, v in sorted(ev.vc.items())},
        "fields": fields,
    }


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _LONGEST:
        return value[:_LONGEST] + "\u2026"
    if isinstance(value, list | dict):
        text = orjson.dumps(value).decode()
        return text if len(text) <= _LONGEST else text[:_LONGEST] + "\u2026"
    return value


def _lanes(
    model: RunModel, shown: set[int], layout: Layout
) -> tuple[list[dict[str, Any]], list[str]]:
    """One segment per incarnation with events shown, labelled, and a cross if it crashed."""
    data: list[dict[str, Any]] = []
    svg: list[str] = []
    for lane in model.lanes:
        mine = [i for i in lane.events if i in shown]
        if not mine:
            continue
        k = len(data)
        x = layout.x[lane.node]
        first, last = mine[0], mine[-1]
        y1, y2 = layout.causal[first] - 8, layout.causal[last] + 8
        data.append({"first": first, "last": last, "x": x})
        svg.append(
            f'<line class="lane" id="lane-{k}" data-node="{escape(lane.node)}" '
            f'data-inc="{lane.inc}" x1="{x}" x2="{x}" y1="{y1:.1f}" y2="{y2:.1f}"/>'
        )
        label = f"{lane.node} inc {lane.inc}" + (
            f" (incarnation {lane.ordinal})" if lane.ordinal > 1 else ""
        )
        svg.append(
            f'<text class="lane-label" id="lane-label-{k}" x="{x}" y="{y1 - 4:.1f}">'
            f"{escape(label)}</text>"
        )
        if lane.crashed and last == lane.events[-1]:
            svg.append(
                f'<path class="crash" id="crash-{k}" d="M{x - 7} {y2 + 2:.1f} l14 14 '
                f'M{x - 7} {y2 + 16:.1f} l14 -14"/>'
            )
    return data, svg


def _classes(snapshots: Iterable[Snapshot]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Message -> the snapshots it is in flight for, and those it is an orphan of."""
    in_flight: dict[int, list[str]] = {}
    orphans: dict[int, list[str]] = {}
    for snap in snapshots:
        for m in snap.in_flight:
            in_flight.setdefault(m, []).append(snap.sid)
        for m in snap.orphans:
            orphans.setdefault(m, []).append(snap.sid)
    return in_flight, orphans


def _cuts(d: Diagram, shown: set[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """A line through the cut events of each snapshot, labelled at its right end."""
    layout = d.layout
    data: list[dict[str, Any]] = []
    svg: list[str] = []
    palette = ("#8a4fc7", "#c2185b", "#00838f", "#6d4c41", "#3949ab", "#558b2f")
    for snap in d.analysis.snapshots:
        points = sorted((layout.x[m.node], m.cut) for m in snap.members.values() if m.cut in shown)
        if not points:
            continue
        k = len(data)
        data.append({"sid": snap.sid, "points": [list(p) for p in points]})
        colour = palette[k % len(palette)]
        ys = [(x, layout.causal[e]) for x, e in points]
        ys = [(ys[0][0] - 40, ys[0][1]), *ys, (ys[-1][0] + 40, ys[-1][1])]
        coords = " ".join(f"{x},{y:.1f}" for x, y in ys)
        sid = escape(snap.sid)
        svg.append(
            f'<polyline class="cut" id="cut-{k}" data-sid="{sid}" '
            f'data-variant="{escape(snap.variant)}" stroke="{colour}" points="{coords}"/>'
        )
        svg.append(
            f'<text class="cut-label" id="cut-label-{k}" data-sid="{sid}" fill="{colour}" '
            f'x="{ys[-1][0] + 4}" y="{ys[-1][1] + 4:.1f}">{sid} ({escape(snap.variant)})</text>'
        )
    return data, svg


def _message(
    model: RunModel,
    msg: Message,
    shown: set[int],
    layout: Layout,
    in_flight: Mapping[int, list[str]],
    orphans: Mapping[int, list[str]],
) -> tuple[dict[str, Any], str] | None:
    """The data and the SVG element of one arrow, or None if it is not in the window."""
    x = layout.x
    if msg.src not in x or msg.dst not in x:
        return None
    a = msg.send if msg.send in shown else None
    b = msg.recv if msg.recv in shown else None
    if a is None and b is None:
        return None
    x1, x2 = x[msg.src], x[msg.dst]
    if msg.kind == MessageKind.DROP:
        end = "drop"
        x2 = x1 + (x2 - x1) * 0.35
    elif msg.recv is None:
        end = "unreceived"
    elif b is None:
        end = "later"
    else:
        end = "event"
    flying = in_flight.get(msg.index, [])
    orphan = orphans.get(msg.index, [])
    classes = ["msg", f"k-{msg.kind.value}", *sorted(f.value for f in msg.flags)]
    if flying:
        classes.append("in-flight")
    if orphan:
        classes.append("orphan")
    if (msg.send is not None and a is None) or (msg.recv is not None and b is None):
        classes.append("clipped")  # one end lies outside the window
    data = {
        "a": a,
        "b": b,
        "end": end,
        "x1": x1,
        "x2": round(x2, 1),
        "kind": msg.kind.value,
        "src": msg.src,
        "dst": msg.dst,
        "id": msg.ident,
        "flags": sorted(f.value for f in msg.flags),
        "note": msg.note,
        "inFlight": flying,
        "orphan": orphan,
        "payload": _payload(model, msg),
    }
    attrs = [
        f'class="{" ".join(classes)}"',
        f'data-m="{msg.index}"',
        f'data-kind="{msg.kind.value}"',
        f'data-src="{escape(msg.src)}"',
        f'data-dst="{escape(msg.dst)}"',
        f'data-id="{escape(msg.ident)}"',
    ]
    if msg.sid is not None:
        attrs.append(f'data-sid="{escape(msg.sid)}"')
    if flying:
        attrs.append(f'data-in-flight="{escape(" ".join(flying))}"')
    if orphan:
        attrs.append(f'data-orphan="{escape(" ".join(orphan))}"')
    attrs.append(f'd="{_path(data, layout)}"')
    return data, f"<path {' '.join(attrs)}/>"


def _payload(model: RunModel, msg: Message) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for end in (msg.recv, msg.send):
        if end is None:
            continue
        raw = model.events[end].raw
        for key in _PAYLOAD_FIELDS:
            if key in raw and key not in found:
                found[key] = _short(raw[key])
    return found


def _path(m: Mapping[str, Any], layout: Layout) -> str:
    """The arrow in causal mode; the script computes the same in both modes.

    A message with one end outside the window is a short stub at the end
    inside it; one never received runs to the bottom of the diagram.
    """
    y = layout.causal
    x1, x2 = float(m["x1"]), float(m["x2"])
    if m["a"] is None:
        y2 = y[m["b"]]
        x1, y1 = x2 - (x2 - x1) * 0.3, y2 - 24
    else:
        y1 = y[m["a"]]
        if m["b"] is not None:
            y2 = y[m["b"]]
        elif m["end"] == "drop":
            y2 = y1 + 10
        elif m["end"] == "later":
            x2, y2 = x1 + (x2 - x1) * 0.3, y1 + 24
        else:
            y2 = layout.height + 30
    path = f"M{x1:.1f} {y1:.1f} L{x2:.1f} {y2:.1f}"
    if m["end"] == "drop":
        path += f" M{x2 - 5:.1f} {y2 - 5:.1f} l10 10 M{x2 - 5:.1f} {y2 + 5:.1f} l10 -10"
    return path
