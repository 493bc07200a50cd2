"""Duplicate suppression for multicast ids in bounded memory.

Per origin epoch we keep a :class:`SeqSet`: a contiguous delivered-watermark plus
the sparse ids above it. The origin may have at most ``window`` messages alive
(not yet fully disseminated) at once, so in a run without restarts no hole is
ever wider than the window. An id more than ``window`` above the watermark
therefore proves the holes below it are permanent (they were handled by this
node's previous incarnation), and the watermark jumps over them. Memory per
origin epoch is thus at most ``window`` ids, and only the newest
``epochs_per_origin`` epochs of each origin are remembered.
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

    def __init__(self, window: int, epochs_per_origin: int) -> None:
        self.window = window
        self.epochs_per_origin = epochs_per_origin
        self._seen: dict[str, dict[int, SeqSet]] = {}
        self.skipped = 0

    def admit(self, origin: str, epoch: int, seq: int) -> str:
        """Record the id if it is new; say whether it was new, a duplicate or stale."""
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
        if seq > record.floor + self.window:
            target = seq - self.window
            present = sum(1 for v in record.extra if v <= target)
            self.skipped += target - record.floor - present
            record.advance_to(target)
        return DedupOutcome.NEW if record.add(seq) else DedupOutcome.DUPLICATE

    def mark_own(self, origin: str, epoch: int, seq: int) -> None:
        """Record this node's own multicast so that echoes of it are duplicates."""
        self.admit(origin, epoch, seq)

    def size(self) -> int:
        """Sparse ids held in total: the memory that could grow."""
        return sum(len(r) for epochs in self._seen.values() for r in epochs.values())

    def watermarks(self) -> dict[str, dict[int, int]]:
        """Per origin and epoch, the contiguous watermark (for stats and tests)."""
        return {o: {e: r.floor for e, r in eps.items()} for o, eps in self._seen.items()}
