"""Snapshot ids, and the record of which snapshots a node has already met.

A snapshot's id is ``<initiator>-<initiator inc>-<k>``: the ``k``-th snapshot
that incarnation ``inc`` of the initiator started. Ids never repeat, so a node
can tell a snapshot it has finished (or aborted) from one it has never seen,
and a late marker or colour never restarts a snapshot that is over.
"""

from __future__ import annotations

from zmqcast.core.seqset import SeqSet


def make_sid(initiator: str, inc: int, k: int) -> str:
    """The id of the ``k``-th snapshot started by incarnation ``inc`` of ``initiator``."""
    return f"{initiator}-{inc}-{k}"


def parse_sid(sid: str) -> tuple[str, int, int] | None:
    """``(initiator, inc, k)`` of a snapshot id, or None if it is malformed."""
    head, sep, k = sid.rpartition("-")
    initiator, sep2, inc = head.rpartition("-")
    if not (sep and sep2 and initiator and inc.isdigit() and k.isdigit()):
        return None
    return initiator, int(inc), int(k)


class SeenIds:
    """The snapshots one node incarnation has met: running, finished or aborted.

    Kept per initiator incarnation as a :class:`SeqSet` of ``k``, so the memory
    is the number of holes, not the number of snapshots ever taken.
    """

    __slots__ = ("_inc", "_node", "_seen")

    def __init__(self, node_id: str, inc: int) -> None:
        self._node = node_id
        self._inc = inc
        self._seen: dict[tuple[str, int], SeqSet] = {}

    def add(self, sid: str) -> None:
        """Remember ``sid`` (a malformed id is not remembered: it is never started)."""
        parsed = parse_sid(sid)
        if parsed is None:
            return
        initiator, inc, k = parsed
        self._seen.setdefault((initiator, inc), SeqSet()).add(k)

    def __contains__(self, sid: str) -> bool:
        """Whether ``sid`` must not be started here (again)."""
        parsed = parse_sid(sid)
        if parsed is None:
            return True  # never start anything for a malformed id
        initiator, inc, k = parsed
        if initiator == self._node and inc != self._inc:
            # Started by an earlier incarnation of ours, which died with it:
            # its items were only resent to us.
            return True
        seen = self._seen.get((initiator, inc))
        return seen is not None and k in seen
