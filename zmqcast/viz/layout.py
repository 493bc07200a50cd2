"""Where everything goes: the window of events shown, and their coordinates.

One column per node; a node's incarnations are segments of its column, one
below the other. Vertically, each happened-before level that has an event in
the window gets a row of its own (*causal* mode); the page can switch to
*time* mode, where the height is the same and ``y`` is proportional to the
event's time (wall time in real runs, virtual time in the simulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zmqcast.viz.model import RunModel

LEFT = 90
"""Left margin, for the time axis labels."""
TOP = 70
"""Top margin, for the node labels."""
ROW = 18
"""Height of one causal level."""
COLUMN = 180
"""Distance between two node columns."""
BOTTOM = 60
"""Below the last row: where arrows of unreceived messages end."""


@dataclass(slots=True)
class Window:
    """The events a diagram shows, and what it leaves out."""

    shown: list[int]
    """Event indexes shown, in causal order."""
    total: int
    """Events in the whole run."""
    nodes: list[str]
    """Node columns shown, in order."""
    t0: float
    """Time of the run's first event: ``--from`` and ``--to`` count from it."""
    first: float
    last: float
    """Times of the first and last event shown, from ``t0``."""
    capped: bool = False
    """``--max-events`` cut the selection short."""

    @property
    def windowed(self) -> bool:
        return len(self.shown) < self.total


def select(
    model: RunModel,
    order: list[int],
    *,
    nodes: list[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    max_events: int | None = None,
) -> Window:
    """The events to draw: those of ``nodes`` in ``[start, end]`` seconds from the
    run's first event, the first ``max_events`` of them in causal order."""
    times = [ev.time for ev in model.events]
    t0 = min(times, default=0.0)
    columns = nodes if nodes is not None else model.nodes
    wanted = set(columns)
    picked: list[int] = []
    capped = False
    for index in order:
        ev = model.events[index]
        if model.lanes[ev.lane].node not in wanted:
            continue
        offset = ev.time - t0
        if (start is not None and offset < start) or (end is not None and offset > end):
            continue
        if max_events is not None and len(picked) >= max_events:
            capped = True
            break
        picked.append(index)
    offsets = [model.events[i].time - t0 for i in picked]
    return Window(
        picked,
        len(model.events),
        columns,
        t0,
        min(offsets, default=0.0),
        max(offsets, default=0.0),
        capped,
    )


@dataclass(slots=True)
class Layout:
    """Coordinates of every shown event, in both modes."""

    x: dict[str, float]
    """Node -> ``x`` of its column."""
    causal: dict[int, float] = field(default_factory=dict)
    """Event -> ``y`` in causal mode."""
    timed: dict[int, float] = field(default_factory=dict)
    """Event -> ``y`` in time mode."""
    width: float = 0.0
    height: float = 0.0
    """Of the area rows are drawn in, from 0; the SVG adds :data:`BOTTOM`."""
    time_range: tuple[float, float] = (0.0, 0.0)
    """Time (wall or virtual) at the top and the bottom of the rows, in time mode."""


def place(model: RunModel, window: Window, *, wall: bool) -> Layout:
    """Coordinates for the events of ``window``; ``wall``: time mode uses wall time."""
    x = {node: float(LEFT + 60 + i * COLUMN) for i, node in enumerate(window.nodes)}
    layout = Layout(x)
    levels = sorted({model.events[i].level for i in window.shown})
    row = {level: r for r, level in enumerate(levels)}
    for index in window.shown:
        layout.causal[index] = TOP + row[model.events[index].level] * ROW
    rows = max(len(levels) - 1, 1)
    stamps = {i: (model.events[i].wall if wall else model.events[i].time) for i in window.shown}
    low = min(stamps.values(), default=0.0)
    high = max(stamps.values(), default=0.0)
    span = high - low or 1.0
    for index, t in stamps.items():
        layout.timed[index] = TOP + (t - low) / span * rows * ROW
    layout.width = LEFT + 60 + max(len(window.nodes) - 1, 0) * COLUMN + 260
    layout.height = TOP + rows * ROW
    layout.time_range = (low, high)
    return layout
