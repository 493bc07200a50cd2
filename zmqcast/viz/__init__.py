"""Seeing a run: space-time diagrams, snapshot cuts, a ShiViz export and HTML reports.

The pieces, each in its own module:

* :mod:`~zmqcast.viz.trace`: loading a run directory or a simulator trace;
* :mod:`~zmqcast.viz.model`: lanes (one per node incarnation), events, and the
  messages between them, each receipt joined to its send;
* :mod:`~zmqcast.viz.control`: the snapshot control messages the logs do not
  record one by one (markers, counts, records), placed where the logs allow;
* :mod:`~zmqcast.viz.clocks`: a causal order of the events, with vector
  clocks and happened-before levels;
* :mod:`~zmqcast.viz.cuts`: each snapshot's cut, its in-flight and orphan messages;
* :mod:`~zmqcast.viz.diagram`: all of the above for one run, and the window drawn;
* :mod:`~zmqcast.viz.layout`, :mod:`~zmqcast.viz.page` and
  :mod:`~zmqcast.viz.assets`: the diagram as one self-contained HTML page
  (inline SVG, a style sheet, a little script, nothing loaded);
* :mod:`~zmqcast.viz.shiviz`: the ShiViz log format;
* :mod:`~zmqcast.viz.reports` and :mod:`~zmqcast.viz.charts`: the HTML reports
  of ``zmqcast stress`` and ``zmqcast bench``.
"""
