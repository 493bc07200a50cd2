"""Tests for the wire encoding of channel frames (:mod:`zmqcast.wire`)."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqcast.core.frames import Ack, Data, Frame, Heartbeat, Item
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
metas = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
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
    assert len(parts) == 2
    assert parts[1] == b"".join(it.body for it in frame.items)
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
    ["v", "k", "src", "dst", "inc", "dinc", "items", "next", "ack", "rel", "sack", "srel", "nack"]
)
item_like = st.dictionaries(st.sampled_from(["s", "n", "m", "x"]), json_values, max_size=4)
field_values = (
    json_values
    | st.sampled_from([1, 0, -1, MAX_INT, MAX_INT + 1, True, 1.0, "data", "hb", "ack", "", "a"])
    | st.lists(item_like, max_size=3)
    | st.lists(st.lists(st.integers(-2, 4) | st.booleans(), max_size=3), max_size=3)
)


@st.composite
def header_like(draw: st.DrawFn) -> list[bytes]:
    """Mostly-plausible headers: valid version and kind, fields of any type."""
    header: dict[str, Any] = {"v": 2, "k": draw(st.sampled_from(["data", "hb", "ack"]))}
    header.update(draw(st.dictionaries(field_names, field_values, max_size=10)))
    bodies = draw(st.lists(st.binary(max_size=8), max_size=3))
    return [orjson.dumps(header), *bodies]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(header_like(), st.integers(0, 4), st.integers(0, 4096))
def test_fuzz_structured_headers(parts: list[bytes], max_items: int, max_size: int) -> None:
    _decodes_or_frame_error(parts, max_items=max_items, max_size=max_size)


@given(frames, st.data())
def test_fuzz_mutated_encodings(frame: Frame, data: st.DataObject) -> None:
    parts = encode(frame)
    header = bytearray(parts[0])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(header) - 1))
        header[pos] = data.draw(st.integers(0, 255))
    _decodes_or_frame_error([bytes(header), *parts[1:]])


# ------------------------------------------------------------ bodies untouched
def test_decode_slices_bodies_out_of_the_payload_by_size() -> None:
    bodies = [b"first body", b"", bytes(range(256)) * 4, b"z"]
    header = {
        "v": 2,
        "k": "data",
        "src": "a",
        "dst": "b",
        "inc": 1,
        "dinc": 0,
        "items": [{"s": i + 1, "n": len(b), "m": {}} for i, b in enumerate(bodies)],
    }
    frame = decode([orjson.dumps(header), b"".join(bodies)])
    assert isinstance(frame, Data)
    assert [item.body for item in frame.items] == bodies
    assert all(type(item.body) is bytes for item in frame.items)


def test_a_lone_body_is_passed_through_uncopied() -> None:
    body = b"x" * 1000
    frame = Data("a", "b", 3, 2, (Item(7, {"t": "mc"}, body),))
    parts = encode(frame)
    assert parts[1] is body
    relayed = decode(parts)
    assert isinstance(relayed, Data)
    assert relayed.items[0].body is body


# ----------------------------------------------------------- header contents
def test_heartbeat_header_fields() -> None:
    parts = encode(Heartbeat("n1", "n2", 5, 0, 9))
    assert orjson.loads(parts[0]) == {
        "v": 2,
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
        "v": 2,
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
    frame = Data("n1", "n2", 1, 1, (Item(1, {"t": "mc"}, b"p"), Item(2, {}, b"q")))
    parts = encode(frame)
    assert orjson.loads(parts[0]) == {
        "v": 2,
        "k": "data",
        "src": "n1",
        "dst": "n2",
        "inc": 1,
        "dinc": 1,
        "items": [{"s": 1, "n": 1, "m": {"t": "mc"}}, {"s": 2, "n": 1, "m": {}}],
    }
    assert parts[1:] == [b"pq"]


def test_encode_rejects_non_frames() -> None:
    with pytest.raises(TypeError):
        encode(cast(Frame, object()))


# ------------------------------------------------------------------ rejections
def _header(kind: str, **changes: Any) -> dict[str, Any]:
    """A valid header of ``kind``; a change to ``DROP`` removes the field."""
    h: dict[str, Any] = {"v": 2, "k": kind, "src": "a", "dst": "b", "inc": 1, "dinc": 0}
    if kind == "data":
        h["items"] = [{"s": 1, "n": 4, "m": {}}]
    elif kind == "hb":
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


def _parts(header: dict[str, Any], payload: bytes | None = None) -> list[bytes]:
    """The header, and for data a payload of four bytes per item (unless given)."""
    if payload is None and header.get("k") == "data":
        items = header.get("items")
        payload = b"body" * (len(items) if isinstance(items, list) else 1)
    # The stdlib encoder, unlike orjson, also writes integers beyond 64 bits.
    head = json.dumps(header).encode()
    return [head] if payload is None else [head, payload]


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


@pytest.mark.parametrize("version", [DROP, 0, 1, 3, True, 2.0, "2", None])
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


@pytest.mark.parametrize("items", [DROP, [], None, {}, "items", [1], [[1, {}]], [None]])
def test_rejects_malformed_items(items: object) -> None:
    assert _reason(_parts(_header("data", items=items))) == "field:items"


@pytest.mark.parametrize("seq", [DROP, 0, -1, True, 1.5, "1", None, MAX_INT + 1])
def test_rejects_bad_item_seq(seq: object) -> None:
    item: dict[str, object] = {"n": 4, "m": {}} if seq is DROP else {"s": seq, "n": 4, "m": {}}
    assert _reason(_parts(_header("data", items=[item]))) == "field:items.s"


@pytest.mark.parametrize("meta", [DROP, None, [], "mc", 1, True, [["t", "mc"]]])
def test_rejects_non_object_meta(meta: object) -> None:
    item: dict[str, object] = {"s": 1, "n": 4} if meta is DROP else {"s": 1, "n": 4, "m": meta}
    assert _reason(_parts(_header("data", items=[item]))) == "field:items.m"


def test_meta_contents_pass_through() -> None:
    meta = {"t": "mc", "o": "n1", "oe": 1, "os": 2, "ts": 3, "nested": {"a": [1, None, 2.5]}}
    frame = decode(_parts(_header("data", items=[{"s": 4, "n": 4, "m": meta}])))
    assert isinstance(frame, Data)
    assert frame.items[0].meta == meta
    assert frame.items[0].seq == 4


@pytest.mark.parametrize("size", [DROP, -1, True, 1.5, "4", None])
def test_rejects_bad_item_size(size: object) -> None:
    item: dict[str, object] = {"s": 1, "m": {}} if size is DROP else {"s": 1, "n": size, "m": {}}
    assert _reason(_parts(_header("data", items=[item]))) == "field:items.n"


@pytest.mark.parametrize("payload", [b"", b"body", b"bodybod", b"bodybodyb"])
def test_rejects_sizes_that_do_not_add_up_to_the_payload(payload: bytes) -> None:
    header = _header("data", items=[{"s": 1, "n": 4, "m": {}}, {"s": 2, "n": 4, "m": {}}])
    assert _reason(_parts(header, payload)) == "parts"


def test_rejects_a_data_frame_without_payload_part() -> None:
    header = orjson.dumps(_header("data"))
    assert _reason([header]) == "parts"


@pytest.mark.parametrize("kind", ["hb", "ack"])
def test_rejects_bodies_on_control_frames(kind: str) -> None:
    assert _reason(_parts(_header(kind), b"body")) == "parts"


def test_rejects_no_parts() -> None:
    assert _reason([]) == "parts"


def test_rejects_non_bytes_parts() -> None:
    header = orjson.dumps(_header("data"))
    assert _reason([header, cast(bytes, "body")]) == "parts"
    assert _reason([cast(bytes, header.decode()), b"body"]) == "parts"
    assert _reason([header, cast(bytes, bytearray(b"body"))]) == "parts"


def test_rejects_more_parts_than_any_frame_can_have() -> None:
    # Checked before the header is even parsed, so the header may be junk.
    assert _reason([b"junk", b"", b""]) == "parts"


def test_size_limit() -> None:
    parts = _parts(_header("data"))
    total = sum(len(p) for p in parts)
    assert isinstance(decode(parts, max_size=total), Data)
    assert _reason(parts, max_size=total - 1) == "size"
    assert _reason([b"x" * 100], max_size=99) == "size"  # before JSON parsing


def test_default_size_limit_is_one_mib() -> None:
    def head(size: int) -> bytes:
        return orjson.dumps(_header("data", items=[{"s": 1, "n": size, "m": {}}]))

    # Any seven-digit size gives a header of the same length.
    size = (1 << 20) - len(head(1_000_000))
    assert isinstance(decode([head(size), b"\0" * size]), Data)
    assert _reason([head(size + 1), b"\0" * (size + 1)]) == "size"


def test_item_limit() -> None:
    header = _header("data", items=[{"s": i, "n": 4, "m": {}} for i in range(1, 5)])
    assert len(cast(Data, decode(_parts(header), max_items=4)).items) == 4
    assert _reason(_parts(header), max_items=3) == "items"


def test_default_item_limit() -> None:
    header = _header("data", items=[{"s": i, "n": 4, "m": {}} for i in range(1, 1026)])
    assert _reason(_parts(header)) == "items"
    ok = _header("data", items=[{"s": i, "n": 4, "m": {}} for i in range(1, 1025)])
    assert len(cast(Data, decode(_parts(ok))).items) == 1024


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
    header = _header("data", future={"x": [1, 2]}, pri=3)
    header["items"] = [{"s": 2, "n": 4, "m": {"t": "mc"}, "ttl": 5}]
    frame = decode(_parts(header))
    assert frame == Data("a", "b", 1, 0, (Item(2, {"t": "mc"}, b"body"),))


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
