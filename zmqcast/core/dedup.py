"""Duplicate suppression for multicast ids in bounded memory.

Per origin epoch we keep a :class:`SeqSet`: a contiguous watermark of ids
delivered here plus the sparse ids delivered above it. An id is a duplicate
only if this incarnation delivered it, or if it fell so far behind that its
record had to be forgotten.

Every multicast carries its origin's *stable floor*, below which the origin
holds nothing in custody. The floor is *not* taken as proof that this node
has every id below it: after a relay restarts, a copy may still travel down a
branch of the flood whose custody chain died with that relay, and arrive here
after the floor passed it (see :mod:`zmqcast.core.flood`, "Stable floor").
Treating it as a duplicate would lose it for good. So a hole below the floor
is kept open until the floor is ``horizon`` ids past it; only then is it
forgotten (and counted in :attr:`Deduplicator.forgotten`). Memory per origin
epoch stays below ``2 * horizon`` plus the origin window, and only the newest
``epochs_per_origin`` epochs of each origin are remembered.
"""

from __future__ import annotations

from collections.abc import Sequence

from zmqcast.core.seqset import SeqSet


class DedupOutcome:
    """Why :meth:`Deduplicator.admit` refused or accepted an id (module constants)."""

    NEW = "new"
    DUPLICATE = "duplicate"
    STALE_EPOCH = "stale_epoch"


class Deduplicator:
    """Remembers which multicast ids ``(origin, epoch, seq)`` were delivered."""

    def __init__(self, epochs_per_origin: int, horizon: int = 4096) -> None:
        self.epochs_per_origin = epochs_per_origin
        self.horizon = horizon
        self._seen: dict[str, dict[int, SeqSet]] = {}
        self.forgotten = 0
        """Ids never delivered here whose record was dropped below the horizon."""

    def admit(self, origin: str, epoch: int, seq: int, stable: int) -> str:
        """Record the id if it is new; say whether it was new, a duplicate or stale.

        ``stable`` is the stable floor the message carried.
        """
        record = self._record(origin, epoch, stable)
        if record is None:
            return DedupOutcome.STALE_EPOCH
        return DedupOutcome.NEW if record.add(seq) else DedupOutcome.DUPLICATE

    def admit_run(self, origin: str, epoch: int, lo: int, stables: Sequence[int]) -> bool:
        """Record the ids ``lo, lo+1, ...``, one per stable floor in ``stables``,
        if all are new, and return True, as :meth:`admit` of each in turn would.

        Otherwise record none of them and return False: the caller then admits
        them one by one, which comes to the same (forgetting is done once
        either way). Each floor is applied before the ids are added; that is
        what admitting them in turn does too, as long as the run is no longer
        than ``horizon``: a floor lies below its own message, so none of the
        run's ids can be forgotten, and adding them cannot change whether a
        later floor forgets. A longer run is refused.
        """
        if len(stables) > self.horizon:
            return False
        record = self._record(origin, epoch, stables[0])
        if record is None:
            return False
        reach = 2 * self.horizon
        for stable in stables[1:]:
            if stable - record.floor > reach:
                self._forget(record, stable)
        return record.add_range(lo, lo + len(stables) - 1)

    def _record(self, origin: str, epoch: int, stable: int) -> SeqSet | None:
        """The record of ``origin``'s ``epoch`` (None if that epoch is too old),
        first forgetting what lies far enough below ``stable``."""
        epochs = self._seen.get(origin)
        if epochs is None:
            epochs = self._seen[origin] = {}
        record = epochs.get(epoch)
        if record is None:
            if len(epochs) >= self.epochs_per_origin:
                oldest = min(epochs)
                if epoch < oldest:
                    return None
                del epochs[oldest]
            record = epochs[epoch] = SeqSet()
        if stable - record.floor > 2 * self.horizon:
            self._forget(record, stable)
        return record

    def _forget(self, record: SeqSet, stable: int) -> None:
        """Forget up to ``horizon`` below ``stable``: in steps of ``horizon``, so
        the set is rebuilt once per ``horizon`` ids, not on every message."""
        target = stable - self.horizon
        present = sum(1 for v in record.extra if v <= target)
        self.forgotten += target - record.floor - present
        record.advance_to(target)

    def record_of(self, origin: str, epoch: int) -> SeqSet | None:
        """The ids of ``origin``'s ``epoch`` known here (read only), if any."""
        epochs = self._seen.get(origin)
        return epochs.get(epoch) if epochs is not None else None

    def size(self) -> int:
        """Sparse ids held in total: the memory that could grow."""
        return sum(len(r) for epochs in self._seen.values() for r in epochs.values())

    def watermarks(self) -> dict[str, dict[int, int]]:
        """Per origin and epoch, the contiguous watermark (for stats and tests)."""
        return {o: {e: r.floor for e, r in eps.items()} for o, eps in self._seen.items()}
