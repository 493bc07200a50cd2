"""A heartbeat failure detector: suspects a peer after a silence, clears it on contact."""

from __future__ import annotations

from collections.abc import Iterable

_NEVER = float("inf")


class FailureDetector:
    """Tracks when each peer was last heard from.

    It only observes: a valid frame from a peer calls :meth:`heard`, and
    :meth:`poll` reports the peers whose state changed. Suspicion is advisory;
    nothing is dropped or given up because of it.
    """

    def __init__(self, peers: Iterable[str], suspect_after: float, now: float) -> None:
        self.suspect_after = suspect_after
        self._last: dict[str, float] = {p: now for p in peers}
        self.suspected: dict[str, bool] = {p: False for p in self._last}

    def heard(self, peer: str, now: float) -> bool:
        """Note contact; return True if the peer was suspected until now."""
        if peer not in self._last:
            return False
        self._last[peer] = now
        if self.suspected[peer]:
            self.suspected[peer] = False
            return True
        return False

    def poll(self, now: float) -> list[str]:
        """Return the peers that have just become suspected."""
        newly: list[str] = []
        for peer, last in self._last.items():
            if not self.suspected[peer] and now >= last + self.suspect_after:
                self.suspected[peer] = True
                newly.append(peer)
        return newly

    def next_deadline(self) -> float:
        due = _NEVER
        for peer, last in self._last.items():
            if not self.suspected[peer]:
                due = min(due, last + self.suspect_after)
        return due
