"""A run as a ShiViz log: one line per event, with its host and its vector clock.

ShiViz reads a log with a regular expression whose named groups ``host``,
``clock`` and ``event`` pick each event apart. When a log file is opened in
ShiViz, its first line is taken as that expression and its second as the
delimiter between executions (empty here: one execution). Then come the
events, one per line::

    P1 {"P1":2} multicast lamport=1 {"origin":"P1","oepoch":1,"oseq":1,...}

ShiViz's rules, which this output keeps: every event's clock holds its own
host; each host's own entry starts at 1 and grows by one per event; a clock
names only hosts that have events, and no more of their events than they
have; and every clock is the join of those of the events it comes after.

There is one host per node incarnation (``P1``, or ``P1#<inc>`` for a node
with several in the trace). The clocks are those of :mod:`~zmqcast.viz.clocks`.
"""

from __future__ import annotations

import orjson

from zmqcast.viz.diagram import Analysis

PARSER = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)"
"""The first line of the file: ShiViz's parser expression (JavaScript syntax)."""
_SHOWN_APART = ("node", "inc", "kind", "lamport", "time")


def shiviz_log(analysis: Analysis) -> str:
    """The whole file: parser line, empty delimiter line, then every event in causal order."""
    model = analysis.model
    lanes = model.lanes
    lines = [PARSER, ""]
    for index in analysis.order:
        ev = model.events[index]
        clock = {lanes[k].host: v for k, v in sorted(ev.vc.items())}
        fields = {k: v for k, v in ev.raw.items() if k not in _SHOWN_APART}
        text = f"{ev.kind} lamport={ev.raw['lamport']} time={ev.raw['time']}"
        if fields:
            # orjson escapes control characters: a payload never breaks the line.
            text += " " + orjson.dumps(fields).decode()
        lines.append(f"{lanes[ev.lane].host} {orjson.dumps(clock).decode()} {text}")
    return "\n".join(lines) + "\n"
