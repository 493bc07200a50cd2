"""Sets of message numbers as inclusive ``(lo, hi)`` runs: counts, unions, membership.

The coloured variants exchange what a node received on a link as numbers
``n``: Lai-Yang counts them, sender-log sends them back as runs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from zmqcast.core.seqset import SeqSet


def seqset_size(seen: SeqSet) -> int:
    """How many numbers ``seen`` holds."""
    return seen.floor + len(seen.extra)


def is_range(r: Any) -> bool:
    """Whether ``r`` is a well-formed ``[lo, hi]`` run from the wire."""
    return (
        type(r) is list
        and len(r) == 2
        and type(r[0]) is int
        and type(r[1]) is int
        and 1 <= r[0] <= r[1]
    )


class RangeSet:
    """Membership in sorted, disjoint inclusive ranges, by bisection."""

    __slots__ = ("_los", "_ranges")

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self._ranges = sorted(ranges)
        self._los = [lo for lo, _ in self._ranges]

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self._los, n) - 1
        return i >= 0 and n <= self._ranges[i][1]


def merged_runs(sets: Sequence[SeqSet]) -> list[tuple[int, int]]:
    """The union of ``sets`` as sorted, disjoint inclusive runs."""
    runs: list[tuple[int, int]] = []
    for seen in sets:
        if seen.floor:
            runs.append((1, seen.floor))
        runs.extend(_runs(sorted(seen.extra)))
    runs.sort()
    out: list[tuple[int, int]] = []
    for lo, hi in runs:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted integers as inclusive ``(lo, hi)`` runs."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] + 1 == v:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs
