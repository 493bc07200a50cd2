"""A set of positive integers stored as a contiguous watermark plus sparse extras.

Sequence numbers arrive mostly in order, so "everything up to ``floor`` plus a few
above it" is both exact and small. This is the shape of every receive-side and
duplicate-suppression record in the core: memory is proportional to the number
of *holes*, not to the number of values ever added.
"""

from __future__ import annotations

from zmqcast.core.frames import Ranges


class SeqSet:
    """Integers ``1..floor`` plus the sparse ``extra`` values above ``floor``."""

    __slots__ = ("extra", "floor")

    def __init__(self, floor: int = 0) -> None:
        self.floor = floor
        self.extra: set[int] = set()

    def __contains__(self, value: int) -> bool:
        return value <= self.floor or value in self.extra

    def __len__(self) -> int:
        """Number of sparse values held above the watermark (the memory cost)."""
        return len(self.extra)

    def add(self, value: int) -> bool:
        """Add ``value``; return False if it was already present."""
        if value <= self.floor or value in self.extra:
            return False
        if value == self.floor + 1:
            self._raise_floor(value)
        else:
            self.extra.add(value)
        return True

    def add_range(self, lo: int, hi: int) -> bool:
        """Add every value of ``lo..hi`` if none is present; return False, and
        change nothing, if any is.

        A run of consecutive sequence numbers from one frame is recorded in one
        step: in the common case it extends the watermark, and no value is
        stored one by one.
        """
        if lo <= self.floor or hi < lo:
            return False
        extra = self.extra
        if extra:
            if hi - lo < len(extra):
                if any(v in extra for v in range(lo, hi + 1)):
                    return False
            elif any(lo <= v <= hi for v in extra):
                return False
        if lo == self.floor + 1:
            self._raise_floor(hi)
        else:
            extra.update(range(lo, hi + 1))
        return True

    def _raise_floor(self, value: int) -> None:
        """Make ``value`` the floor, then take in the extras that follow it."""
        self.floor = value
        extra = self.extra
        if extra:
            nxt = value + 1
            while nxt in extra:
                extra.discard(nxt)
                nxt += 1
            self.floor = nxt - 1

    def advance_to(self, floor: int) -> None:
        """Treat every value up to ``floor`` as present (used to skip a hole for good)."""
        if floor <= self.floor:
            return
        self.extra = {v for v in self.extra if v > floor}
        self._raise_floor(floor)

    def ranges(self, limit: int) -> Ranges:
        """Up to ``limit`` inclusive ranges covering the sparse values, ascending."""
        if not self.extra:
            return ()
        out: list[tuple[int, int]] = []
        values = sorted(self.extra)
        lo = hi = values[0]
        for v in values[1:]:
            if v == hi + 1:
                hi = v
                continue
            out.append((lo, hi))
            if len(out) >= limit:
                return tuple(out)
            lo = hi = v
        out.append((lo, hi))
        return tuple(out[:limit])

    def missing(self, upto: int, limit: int) -> Ranges:
        """Up to ``limit`` ranges of values in ``floor+1..upto`` that are absent."""
        out: list[tuple[int, int]] = []
        cursor = self.floor + 1
        for v in sorted(self.extra):
            if v > upto:
                break
            if v > cursor:
                out.append((cursor, v - 1))
                if len(out) >= limit:
                    return tuple(out)
            cursor = v + 1
        if cursor <= upto:
            out.append((cursor, upto))
        return tuple(out[:limit])
