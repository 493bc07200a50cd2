"""Frames exchanged by channel endpoints, as plain immutable values.

A channel is one directed link ``src -> dst``. Frames that belong to it flow in
both directions: ``Data`` and ``Heartbeat`` go from the channel's sender to its
receiver, ``Ack`` goes back. Every frame names the incarnation (epoch) of the
node that sent it (``inc``) and the incarnation it believes the destination has
(``dinc``, 0 while unknown), so that a restarted node's frames never mix with
its predecessor's.

The byte encoding of these values lives in :mod:`zmqcast.wire`; the core and
the simulator only ever handle the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

Meta: TypeAlias = dict[str, Any]
"""Upper-layer header of a rare item (app messages, markers, snapshot control):
small, JSON-serialisable."""


class MulticastMeta(NamedTuple):
    """The header of a multicast copy: the hot path's fixed, typed header.

    On the wire it is a fixed binary record (wire format version 3), not a
    JSON object: every copy of every multicast carries one, and a tuple of
    known fields costs far less to build, read and encode than a dict.
    """

    origin: str
    oepoch: int
    """The origin's incarnation when it multicast the message."""
    oseq: int
    """The message's sequence number among its origin epoch's multicasts."""
    ts: int
    """Lamport time at the multicast."""
    sf: int
    """The origin's stable floor: none of its messages at or below is unreleased."""
    repair: bool = False
    """A repair copy (relay trees): every node passes it on once."""


ItemMeta: TypeAlias = Meta | MulticastMeta

Ranges: TypeAlias = tuple[tuple[int, int], ...]
"""Inclusive ``(lo, hi)`` ranges of channel sequence numbers, ascending."""


class Item(NamedTuple):
    """One message carried by a data frame.

    ``seq`` is the channel sequence number; ``meta`` the upper layer's header
    (multicast id, Lamport time, ...); ``body`` the opaque payload, which a
    relaying node forwards without decoding. A named tuple, not a dataclass:
    one is made per item at every hop, and a tuple is built three times faster.
    """

    seq: int
    meta: ItemMeta
    body: bytes


@dataclass(frozen=True, slots=True)
class Data:
    """A batch of one or more sequenced items on channel ``src -> dst``."""

    src: str
    dst: str
    inc: int
    dinc: int
    items: tuple[Item, ...]
    lane: int = 0
    kind: str = field(default="data", init=False)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Liveness probe and handshake on channel ``src -> dst``.

    ``next`` is the next sequence number the sender will assign, which lets the
    receiver see a loss at the tail of the stream. A heartbeat with ``dinc == 0``
    asks the receiver for its incarnation; the receiver always answers with an
    ``Ack``.
    """

    src: str
    dst: str
    inc: int
    dinc: int
    next: int
    lane: int = 0
    kind: str = field(default="hb", init=False)


@dataclass(frozen=True, slots=True)
class Ack:
    """Receiver-to-sender report for channel ``dst -> src`` (note the direction).

    ``src`` is the receiver of the channel that this ack reports on.

    - ``ack``/``sack``: received (cumulative, then ranges above it). The sender
      stops retransmitting these.
    - ``rel``/``srel``: released (cumulative, then ranges). The receiver has taken
      full custody of these items (delivered, and relayed onward where needed),
      so the sender frees them.
    - ``nack``: ranges the receiver knows are missing; the sender retransmits
      them at once instead of waiting for its timer.
    """

    src: str
    dst: str
    inc: int
    dinc: int
    ack: int
    rel: int
    sack: Ranges = ()
    srel: Ranges = ()
    nack: Ranges = ()
    lane: int = 0
    kind: str = field(default="ack", init=False)


Frame: TypeAlias = Data | Heartbeat | Ack

DATA_LANE = 0
"""The lane of the data channels, in the mode the config chose."""
CONTROL_LANE = 1
"""The lane of the control channels: always ``fifo``, both ways on every link."""
LANES = (DATA_LANE, CONTROL_LANE)

FRAME_KINDS: tuple[str, ...] = ("data", "hb", "ack")
