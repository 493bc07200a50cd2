"""A run made ready to draw: the model, its causal order, the snapshots, the window."""

from __future__ import annotations

from dataclasses import dataclass

from zmqcast.viz.clocks import causal_order
from zmqcast.viz.control import add_control_messages
from zmqcast.viz.cuts import Snapshot, classify, find_snapshots
from zmqcast.viz.layout import Layout, Window, place, select
from zmqcast.viz.model import RunModel, build_model
from zmqcast.viz.trace import Run

DEFAULT_MAX_EVENTS = 4000
"""Events drawn at most unless ``--max-events`` says otherwise: a few thousand
SVG elements keep a browser responsive."""


@dataclass(slots=True)
class Analysis:
    """What the trace says, before any choice of what to draw."""

    model: RunModel
    order: list[int]
    """Every event, in a causal order."""
    snapshots: list[Snapshot]


def analyse(run: Run, snapshot: str | None = None) -> Analysis:
    """Join messages, place control messages, order events and classify cuts.

    With ``snapshot``, only that snapshot's control messages and cut are kept.
    """
    model = build_model(run.events)
    snapshots = find_snapshots(model, run.snapshots)
    if snapshot is not None:
        snapshots = [s for s in snapshots if s.sid == snapshot]
    add_control_messages(model, snapshots)
    order = causal_order(model)
    for snap in snapshots:
        classify(model, snap)
    return Analysis(model, order, snapshots)


@dataclass(slots=True)
class Diagram:
    """Everything the page draws."""

    run: Run
    analysis: Analysis
    window: Window
    layout: Layout
    selected: str | None
    """The snapshot given with ``--snapshot``, if any."""


def build_diagram(
    run: Run,
    *,
    snapshot: str | None = None,
    nodes: list[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> Diagram:
    """Analyse ``run`` and choose what to draw."""
    analysis = analyse(run, snapshot)
    window = select(
        analysis.model, analysis.order, nodes=nodes, start=start, end=end, max_events=max_events
    )
    layout = place(analysis.model, window, wall=not run.simulated)
    return Diagram(run, analysis, window, layout, snapshot)
