"""Tests for the wire encoding of channel frames (:mod:`zmqcast.wire`)."""

from __future__ import annotations

import json
import pickle
import re
import struct
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqcast.core.frames import Ack, Data, Frame, Heartbeat, Item, MulticastMeta
from zmqcast.wire import MAX_INT, MAX_NODE_ID, FrameError, decode, encode

# ----------------------------------------------------------------- strategies
node_ids = st.text(min_size=1, max_size=MAX_NODE_ID)
incs = st.integers(1, MAX_INT)
dincs = st.integers(0, MAX_INT)
seqs = st.integers(1, MAX_INT)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # the range orjson reads back as int
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_metas = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@st.composite
def multicast_metas(draw: st.DrawFn) -> MulticastMeta:
    oseq = draw(st.integers(1, MAX_INT))
    return MulticastMeta(
        origin=draw(st.sampled_from(["P1", "P2", "é" * MAX_NODE_ID]) | node_ids),
        oepoch=draw(incs),
        oseq=oseq,
        ts=draw(st.integers(1, MAX_INT)),
        sf=draw(st.integers(0, oseq - 1)),
        repair=draw(st.booleans()),
    )


metas = json_metas | multicast_metas()
items = st.builds(Item, seq=seqs, meta=metas, body=st.binary(max_size=64))


@st.composite
def range_lists(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    bounds = draw(st.lists(st.tuples(seqs, seqs), max_size=6))
    return tuple((min(a, b), max(a, b)) for a, b in bounds)


data_frames = st.builds(
    Data,
    src=node_ids,
    dst=node_ids,
    inc=incs,
    dinc=dincs,
    items=st.lists(items, min_size=1, max_size=8).map(tuple),
)
heartbeats = st.builds(Heartbeat, src=node_ids, dst=node_ids, inc=incs, dinc=dincs, next=seqs)
acks = st.builds(
    Ack,
    src=node_ids,
    dst=node_ids,
    inc=incs,
    dinc=dincs,
    ack=dincs,
    rel=dincs,
    sack=range_lists(),
    srel=range_lists(),
    nack=range_lists(),
)
frames = data_frames | heartbeats | acks


# ---------------------------------------------------------------- round trips
@given(data_frames)
def test_data_round_trip(frame: Data) -> None:
    parts = encode(frame)
    assert len(parts) == 3
    assert parts[2] == b"".join(it.body for it in frame.items)
    assert decode(parts) == frame


@given(heartbeats)
def test_heartbeat_round_trip(frame: Heartbeat) -> None:
    parts = encode(frame)
    assert len(parts) == 1
    assert decode(parts) == frame


@given(acks)
def test_ack_round_trip(frame: Ack) -> None:
    parts = encode(frame)
    assert len(parts) == 1
    assert decode(parts) == frame


@given(frames)
def test_encoding_is_stable(frame: Frame) -> None:
    parts = encode(frame)
    assert encode(decode(parts)) == parts


# ----------------------------------------------------------------------- fuzz
def _decodes_or_frame_error(parts: list[bytes], **limits: int) -> None:
    try:
        out = decode(parts, **limits)
    except FrameError as exc:
        assert isinstance(exc.reason, str)
        assert exc.reason
    else:
        assert isinstance(out, Data | Heartbeat | Ack)


@given(st.lists(st.binary(max_size=64), max_size=6))
def test_fuzz_arbitrary_bytes(parts: list[bytes]) -> None:
    _decodes_or_frame_error(parts)


field_names = st.sampled_from(
    ["v", "k", "src", "dst", "inc", "dinc", "og", "next", "ack", "rel", "sack", "srel", "nack"]
)
field_values = (
    json_values
    | st.sampled_from([1, 0, -1, MAX_INT, MAX_INT + 1, True, 1.0, "data", "hb", "ack", "", "a"])
    | st.lists(st.sampled_from(["a", "b", "", 1, None]), max_size=3)
    | st.lists(st.lists(st.integers(-2, 4) | st.booleans(), max_size=3), max_size=3)
)


@st.composite
def item_tables(draw: st.DrawFn) -> bytes:
    """Item tables of plausible records with fields of any value, or junk."""
    records = []
    for _ in range(draw(st.integers(0, 3))):
        seq = draw(st.sampled_from([0, 1, 2, MAX_INT, MAX_INT + 1, 2**64 - 1]))
        size = draw(st.integers(0, 9))
        if draw(st.booleans()):
            fields = draw(st.lists(st.sampled_from([0, 1, 2, MAX_INT + 1]), min_size=4, max_size=4))
            records.append(_mc_record(seq, size, draw(st.integers(0, 3)), *fields))
        else:
            meta = draw(st.sampled_from([b"{}", b"[]", b"{", b'{"t":"ap"}', b"null"]))
            records.append(_json_record(seq, size, meta, kind=draw(st.integers(0, 3))))
    table = b"".join(records)
    cut = draw(st.integers(0, len(table)))
    return table[:cut] if draw(st.booleans()) else table


@st.composite
def header_like(draw: st.DrawFn) -> list[bytes]:
    """Mostly-plausible frames: valid version and kind, fields of any type."""
    header: dict[str, Any] = {"v": 3, "k": draw(st.sampled_from(["data", "hb", "ack"]))}
    header.update(draw(st.dictionaries(field_names, field_values, max_size=10)))
    rest = draw(st.lists(st.binary(max_size=8), max_size=2))
    if draw(st.booleans()):
        rest.insert(0, draw(item_tables()))
    return [orjson.dumps(header), *rest]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(header_like(), st.integers(0, 4), st.integers(0, 4096))
def test_fuzz_structured_headers(parts: list[bytes], max_items: int, max_size: int) -> None:
    _decodes_or_frame_error(parts, max_items=max_items, max_size=max_size)


@given(frames, st.data())
def test_fuzz_mutated_encodings(frame: Frame, data: st.DataObject) -> None:
    parts = encode(frame)
    which = data.draw(st.integers(0, len(parts) - 1))
    part = bytearray(parts[which])
    if part:
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(part) - 1))
            part[pos] = data.draw(st.integers(0, 255))
    parts[which] = bytes(part)
    _decodes_or_frame_error(parts)


# ------------------------------------------------------------- item records
# Packed here from README's table, not with the module's own structs, so a
# change of layout in one place and not the other fails these tests.
def _json_record(seq: int, size: int, meta: bytes, kind: int = 0) -> bytes:
    return struct.pack("<QIBI", seq, size, kind, len(meta)) + meta


def _mc_record(
    seq: int, size: int, origin: int, oepoch: int, oseq: int, ts: int, sf: int, kind: int = 1
) -> bytes:
    return struct.pack("<QIBHQQQQ", seq, size, kind, origin, oepoch, oseq, ts, sf)


def test_multicast_records_are_47_bytes_and_name_their_origin_by_index() -> None:
    first = MulticastMeta("P2", 7, 3, 9, 2)
    second = MulticastMeta("P1", 5, 1, 10, 0, repair=True)
    frame = Data("P1", "P3", 4, 6, (Item(8, first, b"ab"), Item(9, second, b"")))
    header, table, payload = encode(frame)
    assert orjson.loads(header)["og"] == ["P2", "P1"]
    assert table == _mc_record(8, 2, 0, 7, 3, 9, 2) + _mc_record(9, 0, 1, 5, 1, 10, 0, kind=2)
    assert payload == b"ab"
    assert decode([header, table, payload]) == frame


def test_json_meta_records_carry_their_object() -> None:
    meta = {"t": "ap", "n": 4, "ts": 3, "c": {"P1-1-1": "lai-yang"}}
    header, table, payload = encode(Data("a", "b", 1, 1, (Item(2, meta, b"xyz"),)))
    assert "og" not in orjson.loads(header)
    blob = orjson.dumps(meta)
    assert table == _json_record(2, 3, blob)
    assert payload == b"xyz"


def test_whole_47_byte_records_that_are_not_all_multicast_are_read_one_by_one() -> None:
    # A JSON record padded to 47 bytes after a multicast record: the table's
    # length fits the all-multicast shortcut, its type bytes do not.
    meta = b'{"t":"mk","sid":"' + b"s" * 11 + b'"}'
    assert len(_json_record(2, 1, meta)) == 47
    mc = _mc_record(1, 1, 0, 1, 1, 1, 0)
    for table in (mc + _json_record(2, 1, meta), _json_record(2, 1, meta) + mc):
        frame = decode([orjson.dumps(_header("data", og=["P1"])), table, b"xy"])
        assert isinstance(frame, Data)
        kinds = sorted(type(item.meta).__name__ for item in frame.items)
        assert kinds == ["MulticastMeta", "dict"]


# ------------------------------------------------------------ bodies untouched
def test_decode_slices_bodies_out_of_the_payload_by_size() -> None:
    bodies = [b"first body", b"", bytes(range(256)) * 4, b"z"]
    table = b"".join(_json_record(i + 1, len(b), b"{}") for i, b in enumerate(bodies))
    frame = decode([orjson.dumps(_header("data")), table, b"".join(bodies)])
    assert isinstance(frame, Data)
    assert [item.body for item in frame.items] == bodies
    assert all(type(item.body) is bytes for item in frame.items)


def test_a_lone_body_is_passed_through_uncopied() -> None:
    body = b"x" * 1000
    frame = Data("a", "b", 3, 2, (Item(7, MulticastMeta("a", 1, 1, 1, 0), body),))
    parts = encode(frame)
    assert parts[2] is body
    relayed = decode(parts)
    assert isinstance(relayed, Data)
    assert relayed.items[0].body is body


# ----------------------------------------------------------- header contents
def test_heartbeat_header_fields() -> None:
    parts = encode(Heartbeat("n1", "n2", 5, 0, 9))
    assert orjson.loads(parts[0]) == {
        "v": 3,
        "k": "hb",
        "src": "n1",
        "dst": "n2",
        "inc": 5,
        "dinc": 0,
        "next": 9,
    }


def test_ack_header_omits_empty_ranges() -> None:
    parts = encode(Ack("n1", "n2", 1, 2, ack=4, rel=3, nack=((6, 7),)))
    assert orjson.loads(parts[0]) == {
        "v": 3,
        "k": "ack",
        "src": "n1",
        "dst": "n2",
        "inc": 1,
        "dinc": 2,
        "ack": 4,
        "rel": 3,
        "nack": [[6, 7]],
    }


def test_data_header_fields() -> None:
    meta = MulticastMeta("n3", 2, 5, 7, 4)
    frame = Data("n1", "n2", 1, 1, (Item(1, meta, b"p"), Item(2, {}, b"q")), lane=1)
    parts = encode(frame)
    assert orjson.loads(parts[0]) == {
        "v": 3,
        "k": "data",
        "src": "n1",
        "dst": "n2",
        "inc": 1,
        "dinc": 1,
        "og": ["n3"],
        "ln": 1,
    }
    assert parts[1:] == [_mc_record(1, 1, 0, 2, 5, 7, 4) + _json_record(2, 1, b"{}"), b"pq"]


def test_encode_rejects_non_frames() -> None:
    with pytest.raises(TypeError):
        encode(cast(Frame, object()))


# ------------------------------------------------------------------ rejections
def _header(kind: str, **changes: Any) -> dict[str, Any]:
    """A valid header of ``kind``; a change to ``DROP`` removes the field."""
    h: dict[str, Any] = {"v": 3, "k": kind, "src": "a", "dst": "b", "inc": 1, "dinc": 0}
    if kind == "hb":
        h["next"] = 1
    elif kind == "ack":
        h.update(ack=0, rel=0)
    for key, value in changes.items():
        if value is DROP:
            h.pop(key, None)
        else:
            h[key] = value
    return h


DROP = object()


def _parts(
    header: dict[str, Any], payload: bytes | None = None, table: bytes | None = None
) -> list[bytes]:
    """The header, and for data an item table (by default one JSON-meta record
    of an empty object) and a payload (by default the four bytes of one item)."""
    # The stdlib encoder, unlike orjson, also writes integers beyond 64 bits.
    head = json.dumps(header).encode()
    if header.get("k") != "data":
        return [head] if payload is None else [head, payload]
    if table is None:
        table = _json_record(1, 4, b"{}")
    if payload is None:
        payload = b"body"
    return [head, table, payload]


def _reason(parts: list[bytes], **limits: int) -> str:
    with pytest.raises(FrameError) as info:
        decode(parts, **limits)
    return info.value.reason


@pytest.mark.parametrize("kind", ["data", "hb", "ack"])
def test_valid_baseline_headers_decode(kind: str) -> None:
    frame = decode(_parts(_header(kind)))
    assert frame.kind == kind
    assert (frame.src, frame.dst, frame.inc, frame.dinc) == ("a", "b", 1, 0)


@pytest.mark.parametrize(
    "header",
    [b"", b"\xff\xfe", b"{", b'{"v": 1,}', b"NaN", b'{"v": 1, "k": "hb", "src": "\\ud800"}'],
)
def test_rejects_invalid_json(header: bytes) -> None:
    assert _reason([header]) == "json"


@pytest.mark.parametrize("header", [b"[]", b"1", b'"data"', b"null", b"true"])
def test_rejects_non_object_json(header: bytes) -> None:
    assert _reason([header]) == "header"


@pytest.mark.parametrize("version", [DROP, 0, 1, 2, 4, True, 3.0, "3", None])
def test_rejects_wrong_version(version: object) -> None:
    assert _reason(_parts(_header("hb", v=version))) == "version"


@pytest.mark.parametrize("kind", [DROP, "mark", "DATA", "", 1, None, ["hb"]])
def test_rejects_unknown_kind(kind: object) -> None:
    assert _reason(_parts(_header("hb", k=kind))) == "kind"


@pytest.mark.parametrize("kind", ["data", "hb", "ack"])
@pytest.mark.parametrize("name", ["src", "dst"])
@pytest.mark.parametrize("value", [DROP, "", "x" * (MAX_NODE_ID + 1), 7, None, ["a"], True])
def test_rejects_bad_node_ids(kind: str, name: str, value: object) -> None:
    assert _reason(_parts(_header(kind, **{name: value}))) == f"field:{name}"


def test_accepts_longest_node_id() -> None:
    longest = "é" * MAX_NODE_ID  # counted in characters, not bytes
    frame = decode(_parts(_header("hb", src=longest)))
    assert frame.src == longest


@pytest.mark.parametrize(
    ("kind", "name", "minimum"),
    [
        ("data", "inc", 1),
        ("data", "dinc", 0),
        ("hb", "inc", 1),
        ("hb", "dinc", 0),
        ("hb", "next", 1),
        ("ack", "inc", 1),
        ("ack", "dinc", 0),
        ("ack", "ack", 0),
        ("ack", "rel", 0),
    ],
)
def test_integer_fields(kind: str, name: str, minimum: int) -> None:
    bad: list[object] = [DROP, minimum - 1, MAX_INT + 1, 2**64 - 1, 2**70, True, False]
    bad += [1.0, float(minimum), "1", None, [1]]
    for value in bad:
        assert _reason(_parts(_header(kind, **{name: value}))) == f"field:{name}", value
    for value in (minimum, MAX_INT):
        frame = decode(_parts(_header(kind, **{name: value})))
        assert getattr(frame, name) == value


def test_max_int_is_below_two_to_the_53() -> None:
    assert MAX_INT == 2**53 - 1
    assert _reason(_parts(_header("hb", next=2**53))) == "field:next"


@pytest.mark.parametrize(
    "table",
    [
        b"",  # no item
        _json_record(1, 4, b"{}")[:12],  # shorter than any record
        _json_record(1, 4, b"{}")[:16],  # a JSON record cut before its length
        _json_record(1, 4, b"{}")[:-1],  # its meta runs past the table
        _mc_record(1, 4, 0, 1, 1, 1, 0)[:46],  # a multicast record cut short
        _json_record(1, 4, b"{}", kind=3),  # an unknown record type
        _json_record(1, 4, b"{}") + b"\0",  # trailing junk
    ],
)
def test_rejects_malformed_item_tables(table: bytes) -> None:
    assert _reason(_parts(_header("data", og=["a"]), table=table)) == "field:items"


@pytest.mark.parametrize("seq", [0, MAX_INT + 1, 2**64 - 1])
def test_rejects_bad_item_seq(seq: int) -> None:
    assert _reason(_parts(_header("data"), table=_json_record(seq, 4, b"{}"))) == "field:items.s"
    table = _mc_record(seq, 4, 0, 1, 1, 1, 0)
    assert _reason(_parts(_header("data", og=["a"]), table=table)) == "field:items.s"


@pytest.mark.parametrize("meta", [b"null", b"[]", b'"mc"', b"1", b"true", b'[["t", "mc"]]', b"{"])
def test_rejects_non_object_json_meta(meta: bytes) -> None:
    assert _reason(_parts(_header("data"), table=_json_record(1, 4, meta))) == "field:items.m"


@pytest.mark.parametrize(
    "fields",
    [
        (1, 1, 1, 1, 0),  # origin index 1 of a one-entry list
        (0, 0, 1, 1, 0),  # epoch 0
        (0, 1, 0, 1, 0),  # sequence number 0
        (0, 1, 1, 0, 0),  # Lamport time 0
        (0, 1, 3, 1, 3),  # stable floor not below the sequence number
        (0, MAX_INT + 1, 1, 1, 0),
        (0, 1, MAX_INT + 1, 1, 0),
        (0, 1, 1, MAX_INT + 1, 0),
    ],
)
def test_rejects_bad_multicast_fields(fields: tuple[int, int, int, int, int]) -> None:
    table = _mc_record(1, 4, *fields)
    assert _reason(_parts(_header("data", og=["a"]), table=table)) == "field:items.m"
    # Read record by record (not all multicast) as well as in one go.
    mixed = _json_record(2, 4, b"{}") + table
    assert _reason(_parts(_header("data", og=["a"]), table=mixed)) == "field:items.m"


def test_multicast_records_need_an_origin_list() -> None:
    table = _mc_record(1, 4, 0, 1, 1, 1, 0)
    assert _reason(_parts(_header("data"), table=table)) == "field:items.m"
    frame = decode(_parts(_header("data", og=["é" * MAX_NODE_ID]), table=table))
    assert isinstance(frame, Data)
    assert frame.items[0].meta == MulticastMeta("é" * MAX_NODE_ID, 1, 1, 1, 0)


@pytest.mark.parametrize("og", [None, "a", {}, [1], [""], ["x" * (MAX_NODE_ID + 1)], [None]])
def test_rejects_bad_origin_lists(og: object) -> None:
    assert _reason(_parts(_header("data", og=og))) == "field:og"


def test_origin_list_length_is_bounded() -> None:
    header = _header("data", og=["a", "b", "c"])
    assert isinstance(decode(_parts(header), max_items=3), Data)
    assert _reason(_parts(header), max_items=2) == "field:og"


def test_meta_contents_pass_through() -> None:
    meta = {"t": "sc", "sid": "P1-1-1", "nested": {"a": [1, None, 2.5]}, "big": 2**60}
    table = _json_record(4, 4, orjson.dumps(meta))
    frame = decode(_parts(_header("data"), table=table))
    assert isinstance(frame, Data)
    assert frame.items[0].meta == meta
    assert frame.items[0].seq == 4


@pytest.mark.parametrize("payload", [b"", b"body", b"bodybod", b"bodybodyb"])
def test_rejects_sizes_that_do_not_add_up_to_the_payload(payload: bytes) -> None:
    table = _json_record(1, 4, b"{}") + _json_record(2, 4, b"{}")
    assert _reason(_parts(_header("data"), payload, table)) == "parts"
    multicast = _mc_record(1, 4, 0, 1, 1, 1, 0) + _mc_record(2, 4, 0, 1, 2, 1, 0)
    assert _reason(_parts(_header("data", og=["a"]), payload, multicast)) == "parts"


def test_rejects_a_data_frame_without_table_or_payload_part() -> None:
    header = orjson.dumps(_header("data"))
    assert _reason([header]) == "parts"
    assert _reason([header, _json_record(1, 0, b"{}")]) == "parts"


@pytest.mark.parametrize("kind", ["hb", "ack"])
def test_rejects_bodies_on_control_frames(kind: str) -> None:
    assert _reason(_parts(_header(kind), b"body")) == "parts"


def test_rejects_no_parts() -> None:
    assert _reason([]) == "parts"


def test_rejects_non_bytes_parts() -> None:
    header = orjson.dumps(_header("data"))
    table = _json_record(1, 4, b"{}")
    assert _reason([header, table, cast(bytes, "body")]) == "parts"
    assert _reason([cast(bytes, header.decode()), table, b"body"]) == "parts"
    assert _reason([header, cast(bytes, bytearray(table)), b"body"]) == "parts"


def test_rejects_more_parts_than_any_frame_can_have() -> None:
    # Checked before the header is even parsed, so the header may be junk.
    assert _reason([b"junk", b"", b"", b""]) == "parts"


def test_size_limit() -> None:
    parts = _parts(_header("data"))
    total = sum(len(p) for p in parts)
    assert isinstance(decode(parts, max_size=total), Data)
    assert _reason(parts, max_size=total - 1) == "size"
    assert _reason([b"x" * 100], max_size=99) == "size"  # before JSON parsing


def test_default_size_limit_is_one_mib() -> None:
    head = orjson.dumps(_header("data"))
    table = _json_record(1, 0, b"{}")
    size = (1 << 20) - len(head) - len(table)

    def parts(n: int) -> list[bytes]:
        return [head, _json_record(1, n, b"{}"), b"\0" * n]

    assert isinstance(decode(parts(size)), Data)
    assert _reason(parts(size + 1)) == "size"


def _records(count: int, multicast: bool) -> bytes:
    if multicast:
        return b"".join(_mc_record(i, 4, 0, 1, i, 1, 0) for i in range(1, count + 1))
    return b"".join(_json_record(i, 4, b"{}") for i in range(1, count + 1))


@pytest.mark.parametrize("multicast", [False, True])
def test_item_limit(multicast: bool) -> None:
    parts = _parts(_header("data", og=["a"]), b"body" * 4, _records(4, multicast))
    assert len(cast(Data, decode(parts, max_items=4)).items) == 4
    assert _reason(parts, max_items=3) == "items"


@pytest.mark.parametrize("multicast", [False, True])
def test_default_item_limit(multicast: bool) -> None:
    header = _header("data", og=["a"])
    assert _reason(_parts(header, b"body" * 1025, _records(1025, multicast))) == "items"
    ok = decode(_parts(header, b"body" * 1024, _records(1024, multicast)))
    assert len(cast(Data, ok).items) == 1024


@pytest.mark.parametrize("name", ["sack", "srel", "nack"])
@pytest.mark.parametrize(
    "value",
    [
        None,
        "1-2",
        {"lo": 1, "hi": 2},
        [1, 2],
        [[1]],
        [[1, 2, 3]],
        [[0, 1]],
        [[3, 2]],
        [[-1, 2]],
        [[1, MAX_INT + 1]],
        [[True, 2]],
        [[1, 2.0]],
        [["1", "2"]],
        [[1, 2], None],
        [{"lo": 1, "hi": 2}],
    ],
)
def test_rejects_malformed_ranges(name: str, value: object) -> None:
    assert _reason(_parts(_header("ack", **{name: value}))) == f"field:{name}"


@pytest.mark.parametrize("name", ["sack", "srel", "nack"])
def test_range_lists_decode(name: str) -> None:
    raw = [[1, 1], [3, 5], [MAX_INT, MAX_INT]]
    frame = decode(_parts(_header("ack", **{name: raw})))
    assert getattr(frame, name) == ((1, 1), (3, 5), (MAX_INT, MAX_INT))
    empty = decode(_parts(_header("ack", **{name: []})))
    assert getattr(empty, name) == ()


def test_range_list_length_is_bounded() -> None:
    header = _header("ack", sack=[[i, i] for i in range(1, 6)])
    assert len(cast(Ack, decode(_parts(header), max_items=5)).sack) == 5
    assert _reason(_parts(header), max_items=4) == "field:sack"


def test_unknown_fields_are_ignored() -> None:
    header = _header("data", future={"x": [1, 2]}, pri=3, og=["o"])
    frame = decode(_parts(header, table=_mc_record(2, 4, 0, 1, 1, 1, 0)))
    assert frame == Data("a", "b", 1, 0, (Item(2, MulticastMeta("o", 1, 1, 1, 0), b"body"),))


def test_frame_error_is_a_value_error_and_pickles() -> None:
    try:
        decode([b"{"])
    except ValueError as exc:
        assert isinstance(exc, FrameError)
        clone = pickle.loads(pickle.dumps(exc))
        assert clone.reason == exc.reason == "json"
        assert str(clone) == str(exc)
    else:
        pytest.fail("decode accepted invalid JSON")


def test_readme_lists_every_reason_the_decoder_gives() -> None:
    """README is the spec: a reason the code gives but README does not name is a bug."""
    root = Path(__file__).resolve().parents[2]
    source = (root / "zmqcast" / "wire.py").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    reasons = set(re.findall(r'FrameError\(\s*"([a-z:_.]+)"', source))
    assert {"json", "header", "parts", "field:items"} <= reasons
    missing = sorted(r for r in reasons if f"`{r}`" not in readme)
    assert missing == []


def test_readme_example_frame_is_what_the_encoder_writes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    header = '{"v":3,"k":"data","src":"P1","dst":"P2","inc":7,"dinc":8,"og":["P1"]}'
    assert f"`{header}`" in readme
    assert '`struct.pack("<QIBHQQQQ", 12, 2, 1, 0, 7, 5, 9, 4)`' in readme
    frame = Data("P1", "P2", 7, 8, (Item(12, MulticastMeta("P1", 7, 5, 9, 4), b"hi"),))
    record = struct.pack("<QIBHQQQQ", 12, 2, 1, 0, 7, 5, 9, 4)
    assert encode(frame) == [header.encode(), record, b"hi"]
