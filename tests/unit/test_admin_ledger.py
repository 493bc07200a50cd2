"""The admin lane's request format, the ledger a restarted bank reopens from, and
the snapshot layer's refusal to credit a transfer twice."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from zmqcast.core.bank import Bank, transfer_body
from zmqcast.core.config import CoreConfig
from zmqcast.core.frames import Item
from zmqcast.core.node import NodeCore
from zmqcast.core.seqset import SeqSet
from zmqcast.runtime.admin import AdminError, decode_request, encode_reply
from zmqcast.runtime.ledger import read_ledger


def _req(**fields: object) -> list[bytes]:
    return [orjson.dumps({"v": 1, "k": "admin", "id": 7, "op": "status", **fields})]


def test_a_request_decodes_with_its_arguments() -> None:
    req = decode_request(_req(op="faults", loss=0.2, blocked=["P2"]))
    assert (req.id, req.op) == (7, "faults")
    assert req.args == {"loss": 0.2, "blocked": ["P2"]}
    reply = orjson.loads(encode_reply(7, True, {"sid": "P1-1-1"}))
    assert reply == {"v": 1, "k": "reply", "id": 7, "ok": True, "sid": "P1-1-1"}


@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        ([b"{"], "not JSON"),
        ([b"[]"], "not an admin request"),
        ([orjson.dumps({"v": 2, "k": "admin", "id": 1, "op": "status"})], "not an admin"),
        (_req(id=-1), "field id"),
        (_req(id=True), "field id"),
        (_req(op="reboot"), "field op"),
        ([b"{}", b"{}"], "one part"),
        ([b" " * (65 * 1024)], "one part"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(parts: list[bytes], needle: str) -> None:
    with pytest.raises(AdminError, match=needle):
        decode_request(parts)


def _log(path: Path, events: list[dict[str, object]], torn: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + torn)


def test_the_ledger_replays_every_incarnation_of_the_node(tmp_path: Path) -> None:
    log = tmp_path / "P2.jsonl"
    _log(
        log,
        [
            {"node": "P2", "inc": 1, "kind": "bank_open", "balance": 1000},
            {"node": "P2", "inc": 1, "kind": "app_send", "dst": "P1", "n": 1, "amount": 30},
            {
                "node": "P2",
                "inc": 1,
                "kind": "app_recv",
                "from": "P1",
                "finc": 5,
                "n": 1,
                "amount": 12,
            },
            {"node": "P2", "inc": 1, "kind": "deliver", "origin": "P1"},
            {"node": "P2", "inc": 2, "kind": "bank_open", "balance": 982, "restored": True},
            {
                "node": "P2",
                "inc": 2,
                "kind": "app_recv",
                "from": "P1",
                "finc": 5,
                "n": 3,
                "amount": 8,
            },
            {"node": "P1", "inc": 5, "kind": "app_send", "dst": "P2", "n": 4, "amount": 99},
        ],
        torn=b'{"node": "P2", "kind": "app_recv", "amou',
    )
    ledger = read_ledger(log, "P2")
    assert ledger.balance == 990
    seen = ledger.received[("P1", 5)]
    assert 1 in seen and 3 in seen and 2 not in seen
    assert read_ledger(tmp_path / "absent.jsonl", "P2").balance is None


def test_a_transfer_an_earlier_incarnation_took_is_not_credited_again() -> None:
    core = NodeCore("P2", 9, ["P1"], ["P1"], CoreConfig(), 0.0)
    bank = Bank(["P1"], random.Random(1), balance=500)
    core.attach(bank, {("P1", 4): SeqSet(2)})
    again = Item(1, {"t": "ap", "n": 2, "ts": 3}, transfer_body(40))
    fresh = Item(2, {"t": "ap", "n": 3, "ts": 4}, transfer_body(5))
    assert core.snapshots.on_app("P1", 4, again, "P1>P2", 0.0)
    assert core.snapshots.on_app("P1", 4, fresh, "P1>P2", 0.0)
    assert bank.balance == 505
    kinds = [e["kind"] for e in core.tick(0.0).events]
    assert kinds.count("app_dup") == 1 and kinds.count("app_recv") == 1
