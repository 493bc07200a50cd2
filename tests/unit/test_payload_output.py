"""Payloads in machine-readable output, and console text a peer cannot use to drive a terminal."""

from __future__ import annotations

import pytest

from zmqcast.apps.console import printable
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.frames import Data, Item, MulticastMeta
from zmqcast.core.node import NodeCore
from zmqcast.core.payload import payload_bytes, payload_fields


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"hello", {"payload": "hello", "encoding": "utf-8"}),
        ("h\u00e9".encode(), {"payload": "h\u00e9", "encoding": "utf-8"}),
        (b"\xff\x00", {"payload": "/wA=", "encoding": "base64"}),
        (b"", {"payload": "", "encoding": "utf-8"}),
    ],
)
def test_payload_fields_round_trip(body: bytes, fields: dict[str, str]) -> None:
    assert payload_fields(body) == fields
    assert payload_bytes(fields) == body


@pytest.mark.parametrize(
    "bad",
    [
        "text",
        {"payload": 3, "encoding": "utf-8"},
        {"payload": "x", "encoding": "latin-1"},
        {"payload": "not base64!", "encoding": "base64"},
    ],
)
def test_malformed_payload_fields_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        payload_bytes(bad)


def test_deliver_events_carry_the_payload_and_its_encoding() -> None:
    p2 = NodeCore("P2", 1, ["P1"], ["P1"], CoreConfig(mode=ChannelMode.UNORDERED), 0.0)
    p2.start(0.0)
    meta = MulticastMeta("P1", 1, 1, 1, 0)
    meta2 = meta._replace(oseq=2, ts=2)
    out = p2.receive(Data("P1", "P2", 1, 1, (Item(1, meta, b"hi"), Item(2, meta2, b"\xfe"))), 0.1)
    delivers = [e for e in out.events if e["kind"] == "deliver"]
    assert [(e["payload"], e["encoding"], e["size"]) for e in delivers] == [
        ("hi", "utf-8", 2),
        ("/g==", "base64", 1),
    ]


def test_console_text_escapes_control_characters() -> None:
    assert printable(b"plain text") == "plain text"
    # A peer's escape sequence (clear screen) and a bell are shown, not obeyed.
    shown = printable(b"\x1b[2J\x07hi\r\n")
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert shown == "\\x1b[2J\\x07hi\\r\\n"
    assert printable(b"\xff") == "\ufffd"
