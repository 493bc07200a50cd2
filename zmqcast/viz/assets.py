"""The diagram page's style sheet and script, inlined into every page.

The script needs nothing from the network. It reads the page's data (a JSON
block) and does four things: hover details, the causal/time switch, the
snapshot selector (which cut to highlight) and zooming. The page's address
can choose the first two: ``diagram.html#mode=time&snapshot=SID``. Once it
has run, ``<body>`` has ``data-ready="1"``.
"""

from __future__ import annotations

KIND_COLOURS: dict[str, str] = {
    "multicast": "#1f5fa8",
    "relay": "#6ea8de",
    "app": "#2a9d3a",
    "marker": "#8a4fc7",
    "ly-count": "#d45fb0",
    "backward-marker": "#9c6b3f",
    "record": "#7a7a7a",
    "drop": "#444444",
}
"""Stroke colour of each message kind (:class:`~zmqcast.viz.model.MessageKind`)."""

IN_FLIGHT = "#f08c00"
ORPHAN = "#d62728"


def style() -> str:
    """The page's CSS."""
    kinds = "\n".join(
        f".msg.k-{kind} {{ stroke: {colour}; marker-end: url(#ah-{kind}); }}"
        for kind, colour in KIND_COLOURS.items()
    )
    return (
        _STYLE.replace("/*KINDS*/", kinds).replace("IN_FLIGHT", IN_FLIGHT).replace("ORPHAN", ORPHAN)
    )


_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 10px 16px; border-bottom: 1px solid #ccc; background: #fafafa; }
h1 { font-size: 17px; margin: 0 0 4px; }
.summary, .window-note { margin: 2px 0; }
.window-note { color: #8a4b00; font-weight: 600; }
.controls { margin: 6px 0; display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
.controls button { min-width: 2.2em; }
table.snapshots { border-collapse: collapse; margin-top: 6px; }
table.snapshots td, table.snapshots th { border: 1px solid #ddd; padding: 1px 6px; }
table.snapshots .bad { color: ORPHAN; font-weight: 600; }
table.snapshots .good { color: #2a7a2a; }
#view { overflow: auto; height: calc(100vh - 250px); min-height: 300px; }
ul.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap;
             gap: 2px 18px; font-size: 12px; }
ul.legend svg { vertical-align: middle; margin-right: 5px; }
.lane { stroke: #999; stroke-width: 2; }
.lane-label, .node-label { font-size: 12px; text-anchor: middle; }
.node-label { font-weight: 700; font-size: 14px; }
.crash { stroke: ORPHAN; stroke-width: 3; fill: none; }
.msg { fill: none; stroke-width: 1.2; opacity: 0.8; }
/*KINDS*/
.msg.inferred { stroke-dasharray: 5 3; }
.msg.duplicate { stroke-dasharray: 1 3; }
.msg.unreceived { stroke-dasharray: 8 4; marker-end: url(#ah-lost); }
.msg.acausal { stroke-dasharray: 2 2; opacity: 0.5; }
.msg.k-drop { stroke-width: 1.5; marker-end: none; }
.msg.in-flight { stroke: IN_FLIGHT; stroke-width: 3; opacity: 1; marker-end: url(#ah-in-flight); }
.msg.orphan { stroke: ORPHAN; stroke-width: 3; opacity: 1; marker-end: url(#ah-orphan); }
.msg.hl-off.in-flight, .msg.hl-off.orphan { stroke-width: 1.2; opacity: 0.5; }
.msg.hl-off.k-app { stroke: #2a9d3a; marker-end: url(#ah-app); }
.hidden { display: none; }
.ev { fill: #333; stroke: #fff; stroke-width: 1; }
.ev.send { fill: #1f3f6e; }
.ev.receive { fill: #5f8f5f; }
.ev.snap { fill: #8a4fc7; }
.ev.fault { fill: #b0b0b0; }
.ev.ly-red { fill: ORPHAN; stroke: #600; }
.ev.ly-white { fill: #fff; stroke: #333; }
.cut { fill: none; stroke-width: 2.5; stroke-dasharray: 10 4; opacity: 0.9; }
.cut-label { font-size: 11px; font-weight: 600; }
.glyph { font-size: 10px; fill: #555; }
.glyph.lamport { text-anchor: end; fill: #777; }
.driver { stroke: #b05a00; stroke-width: 1.5; stroke-dasharray: 3 3; }
.driver-label { font-size: 11px; fill: #b05a00; text-anchor: end; }
.axis text { font-size: 10px; fill: #666; }
.axis line { stroke: #eee; }
#tip { position: fixed; pointer-events: none; background: #fffff0; border: 1px solid #999;
       padding: 4px 6px; font: 12px/1.35 ui-monospace, monospace; white-space: pre;
       max-width: 640px; overflow: hidden; box-shadow: 2px 2px 6px rgba(0,0,0,.2); }
"""

SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var svg = document.getElementById("diagram");
  var tip = document.getElementById("tip");
  var E = data.events, M = data.msgs;
  var mode = "causal";
  var scale = 1;

  function y(i) { return E[i][mode === "causal" ? "yc" : "yt"]; }
  function bottom() { return data.height + 30; }

  // The same rules as page.py's _path: a message with one end outside the
  // window is a short stub at the end inside it.
  function msgPath(m) {
    var x1 = m.x1, x2 = m.x2, y1, y2;
    if (m.a === null) {
      y2 = y(m.b); x1 = x2 - (x2 - m.x1) * 0.3; y1 = y2 - 24;
    } else {
      y1 = y(m.a);
      if (m.b !== null) { y2 = y(m.b); }
      else if (m.end === "drop") { y2 = y1 + 10; }
      else if (m.end === "later") { x2 = x1 + (x2 - x1) * 0.3; y2 = y1 + 24; }
      else { y2 = bottom(); }
    }
    var d = "M" + x1 + " " + y1 + " L" + x2 + " " + y2;
    if (m.end === "drop") {
      d += " M" + (x2 - 5) + " " + (y2 - 5) + " l10 10 M" + (x2 - 5) + " " + (y2 + 5) + " l10 -10";
    }
    return d;
  }

  function relayout() {
    svg.querySelectorAll(".ev").forEach(function (el) {
      el.setAttribute("cy", y(el.dataset.e));
    });
    svg.querySelectorAll(".glyph").forEach(function (el) {
      el.setAttribute("y", y(el.dataset.e) + 3);
    });
    svg.querySelectorAll(".msg").forEach(function (el) {
      el.setAttribute("d", msgPath(M[el.dataset.m]));
    });
    data.lanes.forEach(function (lane, k) {
      var line = document.getElementById("lane-" + k);
      var y1 = y(lane.first) - 8, y2 = y(lane.last) + 8;
      line.setAttribute("y1", y1);
      line.setAttribute("y2", y2);
      var label = document.getElementById("lane-label-" + k);
      if (label) { label.setAttribute("y", y1 - 4); }
      var crash = document.getElementById("crash-" + k);
      if (crash) {
        crash.setAttribute("d", "M" + (lane.x - 7) + " " + (y2 + 2) + " l14 14 M" +
                           (lane.x - 7) + " " + (y2 + 16) + " l14 -14");
      }
    });
    data.cuts.forEach(function (cut, k) {
      var pts = cut.points.map(function (p) { return [p[0], y(p[1])]; });
      if (!pts.length) { return; }
      var all = [[pts[0][0] - 40, pts[0][1]]].concat(pts, [[pts[pts.length - 1][0] + 40,
                 pts[pts.length - 1][1]]]);
      document.getElementById("cut-" + k).setAttribute("points",
        all.map(function (p) { return p[0] + "," + p[1]; }).join(" "));
      var label = document.getElementById("cut-label-" + k);
      label.setAttribute("y", all[all.length - 1][1] + 4);
    });
    (data.driver || []).forEach(function (line, k) {
      var yy = mode === "causal" ? line.yc : line.yt;
      var el = document.getElementById("driver-" + k);
      el.setAttribute("y1", yy);
      el.setAttribute("y2", yy);
      document.getElementById("driver-label-" + k).setAttribute("y", yy - 3);
    });
    drawAxis();
  }

  function drawAxis() {
    var axis = document.getElementById("axis");
    while (axis.firstChild) { axis.removeChild(axis.firstChild); }
    if (mode !== "time") { return; }
    var lo = data.timeRange[0], hi = data.timeRange[1], span = hi - lo;
    if (span <= 0) { return; }
    var step = Math.pow(10, Math.floor(Math.log10(span / 5)));
    [1, 2, 5, 10].some(function (f) { if (span / (step * f) <= 10) { step *= f; return true; }
                                      return false; });
    var ns = "http://www.w3.org/2000/svg";
    for (var t = 0; t <= span + 1e-12; t += step) {
      var yy = data.top + t / span * (data.height - data.top);
      var line = document.createElementNS(ns, "line");
      line.setAttribute("x1", 60); line.setAttribute("x2", data.width);
      line.setAttribute("y1", yy); line.setAttribute("y2", yy);
      axis.appendChild(line);
      var text = document.createElementNS(ns, "text");
      text.setAttribute("x", 4); text.setAttribute("y", yy + 3);
      text.textContent = "+" + (t < 1 ? (t * 1000).toPrecision(3) + " ms"
                                      : t.toPrecision(4) + " s");
      axis.appendChild(text);
    }
  }

  function selectSnapshot(sid) {
    svg.querySelectorAll(".cut, .cut-label").forEach(function (el) {
      el.classList.toggle("hidden", sid !== "" && el.dataset.sid !== sid);
    });
    svg.querySelectorAll(".msg[data-sid]").forEach(function (el) {
      el.classList.toggle("hidden", sid !== "" && el.dataset.sid !== sid);
    });
    svg.querySelectorAll(".msg.in-flight, .msg.orphan").forEach(function (el) {
      var sids = ((el.dataset.inFlight || "") + " " + (el.dataset.orphan || "")).split(" ");
      el.classList.toggle("hl-off", sid !== "" && sids.indexOf(sid) < 0);
    });
    // Lai-Yang: a counted incarnation's events are white before its cut, red from it on.
    var cuts = data.laiYang[sid];
    svg.querySelectorAll(".ev").forEach(function (el) {
      var e = E[el.dataset.e], at = cuts ? cuts[e.lane] : undefined;
      el.classList.remove("ly-red", "ly-white");
      if (at !== undefined) { el.classList.add(e.seq >= at ? "ly-red" : "ly-white"); }
    });
  }

  function zoom(factor) {
    scale = factor === 0 ? 1 : Math.min(8, Math.max(0.1, scale * factor));
    svg.setAttribute("width", data.svgWidth * scale);
    svg.setAttribute("height", data.svgHeight * scale);
  }

  function lines(obj) {
    return Object.keys(obj).map(function (k) {
      var v = obj[k];
      return "  " + k + ": " + (typeof v === "string" ? v : JSON.stringify(v));
    }).join("\\n");
  }

  function describeEvent(i) {
    var e = E[i];
    return e.host + "  " + e.kind + "\\n  lamport: " + e.lamport + "\\n  time: " + e.time +
      "\\n  vector clock: " + JSON.stringify(e.vc) + (e.fields && Object.keys(e.fields).length ?
      "\\n" + lines(e.fields) : "");
  }

  function describeMsg(j) {
    var m = M[j];
    var text = m.kind + "  " + m.src + " -> " + m.dst + "\\n  id: " + m.id;
    if (m.a !== null) { text += "\\n  sent:     " + E[m.a].host + " lamport " + E[m.a].lamport +
                                " vc " + JSON.stringify(E[m.a].vc); }
    if (m.b !== null) { text += "\\n  received: " + E[m.b].host + " lamport " + E[m.b].lamport +
                                " vc " + JSON.stringify(E[m.b].vc); }
    if (m.flags.length) { text += "\\n  " + m.flags.join(", "); }
    if (m.inFlight.length) { text += "\\n  in flight at the cut of " + m.inFlight.join(", "); }
    if (m.orphan.length) { text += "\\n  ORPHAN of " + m.orphan.join(", "); }
    if (m.note) { text += "\\n  " + m.note; }
    if (m.payload) { text += "\\n" + lines(m.payload); }
    return text;
  }

  svg.addEventListener("mousemove", function (ev) {
    var el = ev.target, text = null;
    if (el.classList.contains("ev")) { text = describeEvent(el.dataset.e); }
    else if (el.classList.contains("msg")) { text = describeMsg(el.dataset.m); }
    if (text === null) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 300) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  });
  svg.addEventListener("mouseleave", function () { tip.hidden = true; });

  document.querySelectorAll("input[name=mode]").forEach(function (el) {
    el.addEventListener("change", function () { mode = el.value; relayout(); });
  });
  var select = document.getElementById("snapshot");
  select.addEventListener("change", function () { selectSnapshot(select.value); });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(0.8); });
  document.getElementById("zoom-reset").addEventListener("click", function () { zoom(0); });
  document.getElementById("view").addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) { return; }
    ev.preventDefault();
    zoom(ev.deltaY < 0 ? 1.1 : 0.9);
  }, { passive: false });

  // A link can open the page in a given state: #mode=time&snapshot=SID.
  var wanted = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var kv = part.split("=");
    if (kv.length === 2) { wanted[kv[0]] = decodeURIComponent(kv[1]); }
  });
  if (wanted.mode === "time" || wanted.mode === "causal") {
    mode = wanted.mode;
    document.querySelector("input[name=mode][value=" + mode + "]").checked = true;
  }
  var known = Array.prototype.some.call(select.options, function (o) {
    return o.value === wanted.snapshot;
  });
  if (wanted.snapshot !== undefined && known) {
    select.value = wanted.snapshot;
  }
  relayout();
  selectSnapshot(select.value);
  document.body.dataset.ready = "1";
})();
"""
