"""Which ranges of a sequence set an ack carries when they do not all fit.

An ack field holds at most ``max_ranges`` ranges. Reporting only the lowest
ones starves the rest: under loss, relays release items out of order, so a
receiver can hold more released ranges than one ack carries, and an item
whose release is never reported is never freed. Custody waits then chain from
hop to hop and close into a cycle around a ring, and the whole cluster stops.

So a report is chosen in two parts:

1. ranges holding values added since the previous report (news first, so a
   fresh release reaches the sender in the next ack);
2. then the remaining room goes round the set from a cursor that moves on
   with every report, so every range is carried within ``ceil(ranges/limit)``
   reports, and a lost ack is made good by a later one.

While one pass round the set is unfinished, :attr:`RangeReport.behind` asks the
receiver for a follow-up ack, so a full pass takes a few ack delays, not a few
heartbeats.
"""

from __future__ import annotations

from bisect import bisect_left

from zmqcast.core.frames import Ranges
from zmqcast.core.seqset import SeqSet

_ALL = 1 << 62


class RangeReport:
    """The reporting state of one :class:`SeqSet` on one channel."""

    __slots__ = ("behind", "cursor", "fresh")

    def __init__(self) -> None:
        self.fresh: list[int] = []
        """Values added since the last report."""
        self.cursor = 0
        """The rotation resumes at the first range starting at or above this."""
        self.behind = False
        """A pass round the set is under way and more reports are needed to end it."""

    def note(self, value: int) -> None:
        """``value`` was just added to the set."""
        self.fresh.append(value)

    def reset(self) -> None:
        self.fresh = []
        self.cursor = 0
        self.behind = False

    def pick(self, values: SeqSet, limit: int) -> Ranges:
        """Up to ``limit`` ranges of ``values`` above its floor, ascending."""
        fresh = self.fresh
        self.fresh = []
        ranges = values.ranges(_ALL)
        count = len(ranges)
        if count <= limit:
            self.behind = False
            self.cursor = 0
            return ranges
        chosen: set[int] = set()
        if fresh:
            fresh.sort()
            i = 0
            for v in fresh:
                while i < count and ranges[i][1] < v:
                    i += 1
                if i == count:
                    break
                if ranges[i][0] <= v:
                    chosen.add(i)
                    if len(chosen) == limit:
                        break
        start = bisect_left(ranges, (self.cursor, 0))
        if start == count:
            start = 0
        i = start
        while i < count:  # news already chosen costs no room, and is passed over
            if i not in chosen:
                if len(chosen) == limit:
                    break
                chosen.add(i)
            i += 1
        if i == count:  # the pass reached the top: the next one starts again below
            self.cursor = 0
            self.behind = False
        else:
            self.cursor = ranges[i][0]
            self.behind = True
        return tuple(ranges[j] for j in sorted(chosen))
