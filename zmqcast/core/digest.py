"""Digests and pulls: repair from any neighbour that holds a message.

Custody repairs what a crashed relay dropped while the origin lives, and a
relay tree's repair flood covers the rest at flooding's price. Digests add
the cheap, steady path of JGroups' NAKACK retransmission (Ban, "JGroups"
reliable multicast, retransmission from any member): every node tells its
out-neighbours what it *holds*, and a node that lacks something a neighbour
holds asks that neighbour for it.

Digest
    Every ``digest_interval``, while what it retains has changed, a node sends
    each out-neighbour a digest over the control lane: for each origin epoch,
    the ranges of sequence numbers in its retention store (the last
    ``window`` messages of that epoch it delivered) above the stable floor it
    knows, so that a neighbour that restarted is not offered what is settled.
    The receiver keeps the newest digest of each neighbour.

Pull
    On the same timer, a node looks at every neighbour's digest that is at
    least ``digest_interval`` old: a message the neighbour held then, that
    lies above the origin's stable floor, and that this node has still not
    had (its duplicate suppression has no record of it), is *pulled*: the
    node asks that neighbour for it over the control lane, and the neighbour
    sends its retained copy once, on the data channel, as a plain untracked
    copy (which the receiver delivers and passes on like any copy that did
    not come from its tree parent). A message pulled from one neighbour is not pulled from
    another for ``rto_max``; each claim a digest makes is pulled at most
    once, so a holder that dropped a message meanwhile costs one pull, not a
    pull per interval.

Stopping
    Nothing at or below the stable floor is pulled: the origin has nothing of
    it in custody, so either every node has it or it is lost for good (see
    :mod:`zmqcast.core.flood`, "Stable floor"). When every claim is pulled or
    satisfied, and nothing new is retained, the timer stops.

This module holds the pure parts: the item formats and the comparison. The
multicast layer (:class:`zmqcast.core.flood.Flooding`) runs the timer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zmqcast.core.frames import Meta
from zmqcast.core.seqset import SeqSet

DIGEST = "dg"
"""Control item kind: what the sender holds, ``{"t": "dg", "d": entries}``."""
PULL = "pl"
"""Control item kind: what the sender asks for, ``{"t": "pl", "d": entries}``."""

StreamKey = tuple[str, int]
"""An origin epoch: ``(origin, epoch)``."""
Claims = dict[StreamKey, list[tuple[int, int]]]
"""Per origin epoch, inclusive ranges of sequence numbers."""

MAX_ENTRIES = 1024
"""Most origin epochs one digest or pull may name."""
MAX_RANGES = 256
"""Most ranges one entry may hold."""
MAX_TOTAL_RANGES = 4096
"""Most ranges one digest or pull may hold in all (about 80 KB of JSON at
most; a sender leaves out what does not fit and says it in a later digest)."""


def ranges_of(values: Iterable[int]) -> list[tuple[int, int]]:
    """The inclusive ranges covering ``values``, ascending."""
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def to_meta(kind: str, claims: Mapping[StreamKey, list[tuple[int, int]]]) -> Meta:
    """The control item's header: ``{"t": kind, "d": [[origin, epoch, [[lo, hi], ...]], ...]}``.

    Entries and ranges past the limits that :func:`from_meta` accepts are
    left out, the highest ranges of an entry first, so an item is never
    refused for its size.
    """
    entries: list[list[Any]] = []
    room = MAX_TOTAL_RANGES
    for (origin, epoch), spans in claims.items():
        if not spans:
            continue
        if len(entries) == MAX_ENTRIES or room <= 0:
            break
        kept = spans[: min(MAX_RANGES, room)]
        room -= len(kept)
        entries.append([origin, epoch, [[lo, hi] for lo, hi in kept]])
    return {"t": kind, "d": entries}


def from_meta(meta: Meta) -> Claims | None:
    """The entries of a digest or pull item; None if it is malformed.

    Each entry's ranges come back sorted and merged, so no number is named
    twice however the item was written.
    """
    entries = meta.get("d")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        return None
    claims: Claims = {}
    total = 0
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 3):
            return None
        origin, epoch, spans = entry
        if not (isinstance(origin, str) and _positive(epoch) and isinstance(spans, list)):
            return None
        total += len(spans)
        if len(spans) > MAX_RANGES or total > MAX_TOTAL_RANGES:
            return None
        out: list[tuple[int, int]] = []
        for span in spans:
            if not (isinstance(span, list) and len(span) == 2):
                return None
            lo, hi = span
            if not (_positive(lo) and _positive(hi) and lo <= hi):
                return None
            out.append((lo, hi))
        claims[(origin, epoch)] = _merged(out + claims.get((origin, epoch), []))
    return claims


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, with overlapping and touching ranges joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _positive(value: Any) -> bool:
    return type(value) is int and 1 <= value < 1 << 63


def missing(
    claims: Claims,
    record_of: Callable[[str, int], SeqSet | None],
    floors: Mapping[StreamKey, int],
    skip: Mapping[tuple[str, int, int], Any],
    limit: int,
    reach: int,
) -> tuple[Claims, Claims]:
    """Split a neighbour's claims into what to pull now and what to keep.

    A claimed message is dropped if this node has a record of it (``record_of``)
    or it lies at or below the stable floor (``floors``), and so is a claim
    more than ``reach`` above that floor (no honest holder retains it). Of
    the rest, one in ``skip`` (pulled lately from someone else) is kept for
    later, and up to ``limit`` others are pulled. At most ``reach`` numbers
    are looked at in one call; ranges not reached yet are kept whole. The
    ranges come merged from :func:`from_meta`, so the work and the claims
    kept are bounded by ``reach`` and by the item's size, whatever it says.
    """
    pull: Claims = {}
    keep: Claims = {}
    budget = limit
    work = reach
    for key, spans in claims.items():
        origin, epoch = key
        record = record_of(origin, epoch)
        floor = max(record.floor if record is not None else 0, floors.get(key, 0))
        want: list[int] = []
        later: list[int] = []
        unseen: list[tuple[int, int]] = []
        top = floor + reach
        for lo, hi in spans:
            if hi <= floor or lo > top:
                continue
            start, stop = max(lo, floor + 1), min(hi, top)
            if work <= 0:
                unseen.append((start, stop))
                continue
            end = min(stop, start + work - 1)
            work -= end - start + 1
            if end < stop:
                unseen.append((end + 1, stop))
            for oseq in range(start, end + 1):
                if record is not None and oseq in record:
                    continue
                if (origin, epoch, oseq) in skip or budget <= 0:
                    later.append(oseq)
                else:
                    want.append(oseq)
                    budget -= 1
        if want:
            pull[key] = ranges_of(want)
        if later or unseen:
            keep[key] = _merged(ranges_of(later) + unseen)
    return pull, keep
