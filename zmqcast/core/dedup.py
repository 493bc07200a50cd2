"""Duplicate suppression for multicast ids in bounded memory.

Per origin epoch we keep a :class:`SeqSet`: a contiguous delivered-watermark plus
the sparse ids above it. Every multicast carries its origin's *stable floor*:
every message of that origin at or below it has been released everywhere, so
it was delivered by every live incarnation or by a predecessor of it, and will
never be needed again. The watermark jumps to the stable floor, so a hole left
by a crashed predecessor cannot pin memory. An origin never runs more than
``window`` sequence numbers ahead of its stable floor, so at most ``window``
ids per origin epoch are held, and only the newest ``epochs_per_origin``
epochs of each origin are remembered.
"""

from __future__ import annotations

from zmqcast.core.seqset import SeqSet


class DedupOutcome:
    """Why :meth:`Deduplicator.admit` refused or accepted an id (module constants)."""

    NEW = "new"
    DUPLICATE = "duplicate"
    STALE_EPOCH = "stale_epoch"


class Deduplicator:
    """Remembers which multicast ids ``(origin, epoch, seq)`` were delivered."""

    def __init__(self, epochs_per_origin: int) -> None:
        self.epochs_per_origin = epochs_per_origin
        self._seen: dict[str, dict[int, SeqSet]] = {}
        self.skipped = 0

    def admit(self, origin: str, epoch: int, seq: int, stable: int) -> str:
        """Record the id if it is new; say whether it was new, a duplicate or stale.

        ``stable`` is the stable floor the message carried.
        """
        epochs = self._seen.get(origin)
        if epochs is None:
            epochs = self._seen[origin] = {}
        record = epochs.get(epoch)
        if record is None:
            if len(epochs) >= self.epochs_per_origin:
                oldest = min(epochs)
                if epoch < oldest:
                    return DedupOutcome.STALE_EPOCH
                del epochs[oldest]
            record = epochs[epoch] = SeqSet()
        if stable > record.floor:
            present = sum(1 for v in record.extra if v <= stable)
            self.skipped += stable - record.floor - present
            record.advance_to(stable)
        return DedupOutcome.NEW if record.add(seq) else DedupOutcome.DUPLICATE

    def size(self) -> int:
        """Sparse ids held in total: the memory that could grow."""
        return sum(len(r) for epochs in self._seen.values() for r in epochs.values())

    def watermarks(self) -> dict[str, dict[int, int]]:
        """Per origin and epoch, the contiguous watermark (for stats and tests)."""
        return {o: {e: r.floor for e, r in eps.items()} for o, eps in self._seen.items()}
