"""Byte encoding of channel-layer frames (wire format version 3).

This module turns the frame values of :mod:`zmqcast.core.frames` into ZeroMQ
multipart messages and back. It is the only place that knows the byte layout;
the core and the simulator handle values only.

Message layout
==============

A frame is one ZeroMQ multipart message: ``[header]`` for control kinds,
``[header, items, payload]`` for data. ``header`` is a JSON object (RFC 8259,
UTF-8, produced by orjson); ``items`` is the item table, one binary record per
item (below); ``payload`` is the item bodies, concatenated in item order.
Bodies are opaque: they are never re-encoded, and a relaying node forwards the
bytes it received.

Why binary item records (version 2 had a JSON object per item in the header):
every copy of every multicast carries one, and a fixed record of known fields
is packed and unpacked by one ``struct`` call, where JSON made a dict per item
at each end. Why one payload part and not one part per body (version 1 did
that): every ZeroMQ message part costs a ``zmq_msg`` and a Python call at each
end, and with batches of up to 64 small items those calls were a fifth of a
relaying node's time (measured with py-spy under ``zmqcast bench multicast``).

Header fields common to every kind
----------------------------------

========  ======  ==========================================================
field     type    meaning
========  ======  ==========================================================
``v``     int     format version, exactly ``3``
``k``     str     frame kind: ``"data"``, ``"hb"`` or ``"ack"``
``src``   str     node id of the sender of this frame (1 to 64 characters)
``dst``   str     node id of its destination (1 to 64 characters)
``inc``   int     sender's incarnation, ``>= 1``
``dinc``  int     destination's incarnation as the sender knows it,
                  ``>= 0`` (``0`` = unknown)
``ln``    int     optional lane: ``0`` data (the default when absent),
                  ``1`` control; the encoder omits it for lane 0
========  ======  ==========================================================

Kind ``"data"`` (:class:`~zmqcast.core.frames.Data`)
    ``og``: the node ids that the multicast records name, in a list (each 1 to
    64 characters, at most ``max_items``); absent when there are none. The
    ``items`` part holds one or more records, back to back, little-endian,
    each starting with the same 13 bytes:

    ======  =====  ========================================================
    offset  type   field
    ======  =====  ========================================================
    0       u64    channel sequence number, ``1 .. 2**53 - 1``
    8       u32    body size in bytes
    12      u8     record type: ``0`` JSON meta, ``1`` multicast,
                   ``2`` multicast repair copy
    ======  =====  ========================================================

    A multicast record (types 1 and 2, 47 bytes; type 2 sets
    :attr:`~zmqcast.core.frames.MulticastMeta.repair`) goes on with ``u16``
    origin (an index into ``og``), then ``u64`` origin epoch, origin
    sequence number and Lamport time (each ``1 .. 2**53 - 1``), and ``u64``
    stable floor (below the origin sequence number). A JSON-meta record
    (type 0, for rare items: app messages, markers, snapshot control) goes
    on with a ``u32`` length ``m`` and ``m`` bytes of a JSON object, the
    upper layer's header, passed through as is. Item ``i``'s body is the
    ``size`` bytes of ``payload`` that follow the bodies of items
    ``0 .. i-1``, and the sizes add up to the payload's length exactly.
    Several items in one message is how batching works.

Kind ``"hb"`` (:class:`~zmqcast.core.frames.Heartbeat`)
    ``next``: int ``>= 1``, the next sequence number the sender will assign.
    No other part.

Kind ``"ack"`` (:class:`~zmqcast.core.frames.Ack`)
    ``ack``, ``rel``: ints ``>= 0`` (cumulative received / released).
    ``sack``, ``srel``, ``nack``: optional lists of ``[lo, hi]`` int pairs
    with ``1 <= lo <= hi`` (inclusive ranges), at most ``max_items`` pairs
    per list; the encoder omits a list when it is empty and the decoder reads
    a missing one (or ``[]``, but not ``null``) as empty. No other part.

Every integer in the header, and in an item record, must be at most
``2**53 - 1`` (:data:`MAX_INT`), the largest integer that every JSON
implementation represents exactly. JSON ``true``/``false`` are not integers,
and ``1.0`` is not an integer either.

Validation
==========

:func:`decode` checks syntax, types and bounds, and raises :class:`FrameError`
(never any other exception) for anything else, with a short ``reason``:

==================  ========================================================
reason              cause
==================  ========================================================
``parts``           no parts, a part that is not ``bytes``, a part count
                    that does not match the kind (``3`` for data, ``1``
                    otherwise), or item sizes that do not add up to the
                    payload's length
``size``            the parts add up to more than ``max_size`` bytes
``json``            the header is not UTF-8 or not valid JSON
``header``          the header is valid JSON but not an object
``version``         ``v`` is missing or is not the integer ``3``
``kind``            ``k`` is missing or not a known kind
``items``           a data frame with more than ``max_items`` items
``field:<name>``    field ``<name>`` is missing, has the wrong type or is out
                    of range: ``field:og`` for a bad origin list,
                    ``field:items`` for an empty or truncated item table or
                    an unknown record type, ``field:items.s`` /
                    ``field:items.m`` for an item's sequence number / meta
                    (a bad multicast field or origin index, or a JSON meta
                    that is not an object), ``field:sack`` (etc.) for a
                    malformed or too long range list
==================  ========================================================

Header fields that this version does not know are ignored, so a newer sender
may add optional fields without breaking older receivers. The decoder does
not check relations between fields that the core checks anyway (``rel <=
ack``, ranges sorted or above ``ack``, distinct sequence numbers in a batch,
the contents of a JSON meta): frames from the network are untrusted there too.

Evolution
=========

New frame kinds get a new ``k`` value; a decoder that predates a kind rejects
it with reason ``kind``, and the transport counts and drops such frames, so
mixed versions degrade to ignoring the new feature instead of misreading it.
New item record types work the same way (reason ``field:items``). A change
that existing decoders would misread bumps ``v``: version 2 and 3 nodes do not
talk to each other, and each counts the other's frames as ``version``.

:func:`encode` trusts its input (values built by the core): it performs no
validation, and only fails with a ``TypeError`` (orjson's ``JSONEncodeError``
if a JSON meta is not JSON-serialisable, e.g. has non-``str`` keys or integers
beyond 64 bits; a plain ``TypeError`` for a value that is not a frame) or a
``struct.error`` for a record field out of its type's range.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from zmqcast.core.frames import (
    LANES,
    Ack,
    Data,
    Frame,
    Heartbeat,
    Item,
    ItemMeta,
    MulticastMeta,
    Ranges,
)

__all__ = [
    "MAX_INT",
    "MAX_NODE_ID",
    "VERSION",
    "FrameError",
    "decode",
    "encode",
]

VERSION = 3
"""Value of the ``v`` header field."""

MAX_INT = (1 << 53) - 1
"""Largest integer accepted in a header field (outside ``meta``)."""

MAX_NODE_ID = 64
"""Longest node id, in characters."""

_dumps = orjson.dumps
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError

JSON_META = 0
"""Item record type: a JSON object meta follows (rare items)."""
MULTICAST = 1
"""Item record type: a multicast copy's fixed header follows."""
MULTICAST_REPAIR = 2
"""Item record type: as :data:`MULTICAST`, for a repair copy."""

_MULTICAST_RECORD = struct.Struct("<QIBHQQQQ")
"""seq, size, type, origin index, origin epoch, origin seq, Lamport time, stable floor."""
_JSON_RECORD = struct.Struct("<QIBI")
"""seq, size, type, meta length; the meta's bytes follow."""
_PREFIX = 13
"""Bytes every record starts with: seq, size, type."""
_MULTICAST_TYPES = bytes([MULTICAST, MULTICAST_REPAIR])
_new_tuple = tuple.__new__
"""Builds an :class:`Item` or a :class:`MulticastMeta` from decoded fields
without their Python-level ``__new__``: a third of the time, once per item."""


class FrameError(ValueError):
    """A message that is not a valid frame.

    ``reason`` is a short machine-readable code (see the module docstring),
    suitable as a counter label; the message text is for humans.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[FrameError], tuple[str, str]]:
        return (FrameError, (self.reason, self.detail))


# --------------------------------------------------------------------- encode
def encode(frame: Frame) -> list[bytes]:
    """Encode ``frame`` as the parts of one multipart message.

    A data frame of one item carries that item's body object itself as its
    payload; several bodies are joined into one payload.
    """
    if type(frame) is Data:
        items = frame.items
        table, origins = _item_table(items)
        header: dict[str, Any] = {
            "v": VERSION,
            "k": "data",
            "src": frame.src,
            "dst": frame.dst,
            "inc": frame.inc,
            "dinc": frame.dinc,
        }
        if origins:
            header["og"] = origins
        if frame.lane:
            header["ln"] = frame.lane
        # One item (the common case at light load) needs no join, hence no copy.
        payload = items[0].body if len(items) == 1 else b"".join([it.body for it in items])
        return [_dumps(header), table, payload]
    if type(frame) is Heartbeat:
        header = {
            "v": VERSION,
            "k": "hb",
            "src": frame.src,
            "dst": frame.dst,
            "inc": frame.inc,
            "dinc": frame.dinc,
            "next": frame.next,
        }
        if frame.lane:
            header["ln"] = frame.lane
        return [_dumps(header)]
    if type(frame) is Ack:
        header = {
            "v": VERSION,
            "k": "ack",
            "src": frame.src,
            "dst": frame.dst,
            "inc": frame.inc,
            "dinc": frame.dinc,
            "ack": frame.ack,
            "rel": frame.rel,
        }
        if frame.sack:
            header["sack"] = frame.sack
        if frame.srel:
            header["srel"] = frame.srel
        if frame.nack:
            header["nack"] = frame.nack
        if frame.lane:
            header["ln"] = frame.lane
        return [_dumps(header)]
    raise TypeError(f"not a frame: {type(frame).__name__}")


def _item_table(items: Sequence[Item]) -> tuple[bytes, list[str]]:
    """The binary item records of ``items``, and the origin ids they index."""
    origins: dict[str, int] = {}
    records: list[bytes] = []
    append = records.append
    pack_multicast = _MULTICAST_RECORD.pack
    for it in items:
        meta = it.meta
        if type(meta) is MulticastMeta:
            origin, oepoch, oseq, ts, sf, repair = meta
            index = origins.get(origin)
            if index is None:
                index = origins[origin] = len(origins)
            kind = MULTICAST_REPAIR if repair else MULTICAST
            append(pack_multicast(it.seq, len(it.body), kind, index, oepoch, oseq, ts, sf))
        else:
            blob = _dumps(meta)
            append(_JSON_RECORD.pack(it.seq, len(it.body), JSON_META, len(blob)) + blob)
    return b"".join(records), list(origins)


# --------------------------------------------------------------------- decode
def _show(value: object) -> str:
    """A short, cheap description of an offending value for error messages."""
    if type(value) is str:
        return repr(value[:32])
    if value is None or type(value) in (bool, int, float):
        return repr(value)
    return type(value).__name__


def _common(h: dict[str, Any]) -> tuple[str, str, int, int]:
    """The ``src``, ``dst``, ``inc`` and ``dinc`` fields, validated."""
    src = h.get("src")
    if type(src) is not str or not 0 < len(src) <= MAX_NODE_ID:
        raise FrameError("field:src")
    dst = h.get("dst")
    if type(dst) is not str or not 0 < len(dst) <= MAX_NODE_ID:
        raise FrameError("field:dst")
    inc = h.get("inc")
    if type(inc) is not int or not 1 <= inc <= MAX_INT:
        raise FrameError("field:inc")
    dinc = h.get("dinc")
    if type(dinc) is not int or not 0 <= dinc <= MAX_INT:
        raise FrameError("field:dinc")
    return src, dst, inc, dinc


def _lane(h: dict[str, Any]) -> int:
    lane = h.get("ln", 0)
    if type(lane) is not int or lane not in LANES:
        raise FrameError("field:ln")
    return lane


def _int(h: dict[str, Any], name: str, lo: int) -> int:
    value = h.get(name)
    if type(value) is not int or not lo <= value <= MAX_INT:
        raise FrameError(f"field:{name}")
    return value


def _ranges(h: dict[str, Any], name: str, max_ranges: int) -> Ranges:
    raw = h.get(name)
    if raw is None:
        if name in h:  # an explicit null is a type error, not "absent"
            raise FrameError(f"field:{name}")
        return ()
    if type(raw) is not list or len(raw) > max_ranges:
        raise FrameError(f"field:{name}")
    out: list[tuple[int, int]] = []
    append = out.append
    for pair in raw:
        if type(pair) is not list or len(pair) != 2:
            raise FrameError(f"field:{name}", "range is not a [lo, hi] pair")
        lo, hi = pair
        if type(lo) is not int or type(hi) is not int or not 1 <= lo <= hi <= MAX_INT:
            raise FrameError(f"field:{name}", "range bounds")
        append((lo, hi))
    return tuple(out)


def _origins(h: dict[str, Any], max_items: int) -> list[str]:
    raw = h.get("og")
    if raw is None:
        if "og" in h:
            raise FrameError("field:og")
        return []
    if type(raw) is not list or len(raw) > max_items:
        raise FrameError("field:og")
    for node in raw:
        if type(node) is not str or not 0 < len(node) <= MAX_NODE_ID:
            raise FrameError("field:og", _show(node))
    return raw


def _decode_data(h: dict[str, Any], parts: Sequence[bytes], max_items: int) -> Data:
    src, dst, inc, dinc = _common(h)
    if len(parts) != 3:
        raise FrameError("parts", f"{len(parts)} parts for a data frame")
    origins = _origins(h, max_items)
    count = len(origins)
    table, payload = parts[1], parts[2]
    table_end, end = len(table), len(payload)
    out: list[Item] = []
    append = out.append
    record = _MULTICAST_RECORD.size
    rows: Iterable[tuple[Any, ...]]
    if table_end and table_end % record == 0 and not table[12::record].strip(_MULTICAST_TYPES):
        # Only multicast records (the hot path): one struct call walks them all,
        # and reading them one by one would see exactly these records.
        rows = _MULTICAST_RECORD.iter_unpack(table)
    else:
        rows = _walk(table, max_items)
    meta: ItemMeta
    offset = 0
    for n, (seq, size, kind, index, oepoch, oseq, ts, sf) in enumerate(rows):
        if n == max_items:  # where the walk stops too, before the next record
            raise FrameError("items", f"more than {max_items}")
        if kind == JSON_META:
            meta = index  # the walk parsed and checked it
        elif index >= count:
            raise FrameError("field:items.m", f"origin index {index} of {count}")
        elif 0 < oepoch <= MAX_INT and 0 < oseq <= MAX_INT and 0 < ts <= MAX_INT and sf < oseq:
            meta = _new_tuple(
                MulticastMeta, (origins[index], oepoch, oseq, ts, sf, kind == MULTICAST_REPAIR)
            )
        else:
            raise FrameError("field:items.m", "multicast field out of range")
        if not 0 < seq <= MAX_INT:
            raise FrameError("field:items.s")
        stop = offset + size
        if stop > end:
            raise FrameError("parts", "item sizes exceed the payload")
        # A lone item's body is the payload object itself: no copy.
        append(_new_tuple(Item, (seq, meta, payload if size == end else payload[offset:stop])))
        offset = stop
    if not out:
        raise FrameError("field:items", "no item")
    if offset != end:
        raise FrameError("parts", f"item sizes add up to {offset}, payload has {end} bytes")
    return Data(src, dst, inc, dinc, tuple(out), _lane(h))


def _walk(table: bytes, max_items: int) -> Iterator[tuple[Any, ...]]:
    """The item table record by record, checking its structure as it goes.

    A multicast record comes as its struct fields; a JSON-meta record as
    ``(seq, size, JSON_META, meta, 0, 0, 0, 0)``, its meta parsed and known to
    be an object. Lazily, so an earlier record's bad field is reported before
    a later record's bad structure, as the caller's checks come in order.
    """
    pos, end, count = 0, len(table), 0
    while pos < end:
        if count == max_items:
            raise FrameError("items", f"more than {max_items}")
        count += 1
        if pos + _PREFIX > end:
            raise FrameError("field:items", "truncated item record")
        kind = table[pos + 12]
        if kind in (MULTICAST, MULTICAST_REPAIR):
            if pos + _MULTICAST_RECORD.size > end:
                raise FrameError("field:items", "truncated item record")
            yield _MULTICAST_RECORD.unpack_from(table, pos)
            pos += _MULTICAST_RECORD.size
        elif kind == JSON_META:
            if pos + _JSON_RECORD.size > end:
                raise FrameError("field:items", "truncated item record")
            seq, size, _, length = _JSON_RECORD.unpack_from(table, pos)
            pos += _JSON_RECORD.size
            if pos + length > end:
                raise FrameError("field:items", "meta runs past the item table")
            try:
                meta = _loads(table[pos : pos + length])
            except _JSONDecodeError:
                raise FrameError("field:items.m", "not JSON") from None
            if type(meta) is not dict:
                raise FrameError("field:items.m", "not an object")
            pos += length
            yield (seq, size, JSON_META, meta, 0, 0, 0, 0)
        else:
            raise FrameError("field:items", f"item record type {kind}")


def _decode_hb(h: dict[str, Any], parts: Sequence[bytes], max_items: int) -> Heartbeat:
    if len(parts) != 1:
        raise FrameError("parts", f"{len(parts)} parts for a heartbeat")
    return Heartbeat(*_common(h), _int(h, "next", 1), _lane(h))


def _decode_ack(h: dict[str, Any], parts: Sequence[bytes], max_items: int) -> Ack:
    if len(parts) != 1:
        raise FrameError("parts", f"{len(parts)} parts for an ack")
    return Ack(
        *_common(h),
        ack=_int(h, "ack", 0),
        rel=_int(h, "rel", 0),
        sack=_ranges(h, "sack", max_items),
        srel=_ranges(h, "srel", max_items),
        nack=_ranges(h, "nack", max_items),
        lane=_lane(h),
    )


_DECODERS: dict[str, Callable[[dict[str, Any], Sequence[bytes], int], Frame]] = {
    "data": _decode_data,
    "hb": _decode_hb,
    "ack": _decode_ack,
}


def decode(parts: Sequence[bytes], *, max_size: int = 1 << 20, max_items: int = 1024) -> Frame:
    """Decode and validate one multipart message.

    ``max_size`` bounds the summed length of all parts, ``max_items`` the
    number of items of a data frame (and of ranges in each ack range list).
    A lone item's body is the payload part itself; several are sliced out.

    Raises :class:`FrameError`, and nothing else, for any invalid message.
    """
    n = len(parts)
    if n == 0 or n > 3:
        raise FrameError("parts", f"{n} parts")
    size = 0
    for p in parts:
        if not isinstance(p, bytes):
            raise FrameError("parts", "a part is not bytes")
        size += len(p)
    if size > max_size:
        raise FrameError("size", f"{size} > {max_size} bytes")
    try:
        h = _loads(parts[0])
    except _JSONDecodeError as exc:
        raise FrameError("json", str(exc)) from None
    if type(h) is not dict:
        raise FrameError("header", "not a JSON object")
    v = h.get("v")
    if type(v) is not int or v != VERSION:
        raise FrameError("version", _show(v))
    k = h.get("k")
    decoder = _DECODERS.get(k) if type(k) is str else None
    if decoder is None:
        raise FrameError("kind", _show(k))
    return decoder(h, parts, max_items)
