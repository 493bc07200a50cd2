"""Unit tests for the snapshot checker in :mod:`zmqcast.check.snapshot`.

Traces are built by hand from per-node logs, as a run writes them, and records
are written by hand too, so a test states the snapshot it expects instead of
deriving it with the logic under test. Each invariant gets a case where it
breaks and must be named; a property test cross-checks the checker's indexed
search against a brute-force reading of the definitions on random runs.
"""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqcast.check.snapshot import (
    CHANNELS,
    CONSERVATION,
    CUT,
    NOT_BANK,
    STATES,
    AppId,
    Record,
    SnapshotFiles,
    SnapshotVerdict,
    check_snapshots,
    load_snapshot_files,
    snapshot_results_ok,
)

Event = dict[str, Any]
SID = "P1-1-1"
CL = "chandy-lamport"


class Run:
    """Per-node event logs with Lamport clocks and per-link message numbers."""

    def __init__(self, *nodes: str) -> None:
        self.logs: dict[str, list[Event]] = {n: [] for n in nodes}
        self.inc = dict.fromkeys(nodes, 1)
        self.clock = dict.fromkeys(nodes, 0)
        self.next_n: dict[tuple[str, str], int] = {}
        self.amounts: dict[AppId, int] = {}
        self.t = 0.0

    def _event(self, node: str, kind: str, **fields: Any) -> Event:
        self.t += 0.001
        self.clock[node] += 1
        ev: Event = {
            "node": node,
            "inc": self.inc[node],
            "kind": kind,
            "lamport": self.clock[node],
            "time": round(self.t, 6),
        }
        ev.update(fields)
        self.logs[node].append(ev)
        return ev

    @property
    def events(self) -> list[Event]:
        """The trace: each node's log in turn, as the CLI concatenates them."""
        return [ev for node in sorted(self.logs) for ev in self.logs[node]]

    def open(self, balance: int, *nodes: str) -> Run:
        for node in nodes:
            self._event(node, "bank_open", balance=balance)
        return self

    def send(self, src: str, dst: str, amount: int) -> AppId:
        n = self.next_n[(src, dst)] = self.next_n.get((src, dst), 0) + 1
        msg = (src, self.inc[src], dst, n)
        self.amounts[msg] = amount
        self._event(src, "app_send", dst=dst, n=n, amount=amount)
        return msg

    def recv(self, msg: AppId, amount: int | None = None) -> None:
        src, sinc, dst, n = msg
        got = self.amounts[msg] if amount is None else amount
        self._event(
            dst, "app_recv", **{"from": src}, finc=sinc, n=n, amount=got, ch=f"{src}>{dst}", cseq=n
        )

    def start(self, node: str, sid: str = SID, variant: str = CL) -> None:
        self._event(node, "snap_start", sid=sid, variant=variant)

    def cut(self, node: str, balance: int, sid: str = SID, variant: str = CL) -> None:
        initiator = sid.split("-", maxsplit=1)[0]
        self._event(
            node,
            "snap_cut",
            sid=sid,
            initiator=initiator,
            variant=variant,
            state={"balance": balance},
        )

    def abort(self, node: str, reason: str, sid: str = SID) -> None:
        self._event(node, "snap_abort", sid=sid, reason=reason)

    def message(self, msg: AppId, amount: int | None = None) -> dict[str, Any]:
        """A recorded channel message, as a record lists it."""
        src, sinc, dst, n = msg
        got = self.amounts[msg] if amount is None else amount
        return {"src": src, "sinc": sinc, "dst": dst, "n": n, "lamport": 0, "body": {"amount": got}}

    def record(
        self,
        node: str,
        balance: int,
        channels: dict[str, list[dict[str, Any]]] | None = None,
        *,
        sid: str = SID,
        variant: str = CL,
        side: str = "receiver",
    ) -> Record:
        return {
            "sid": sid,
            "variant": variant,
            "initiator": sid.split("-", maxsplit=1)[0],
            "node": node,
            "inc": self.inc[node],
            "lamport": 0,
            "time": 0.0,
            "state": {"balance": balance},
            "side": side,
            "channels": channels or {},
        }


def complete(records: list[Record], duration: float = 0.0123) -> SnapshotFiles:
    """The files of a snapshot whose initiator wrote global.json."""
    first = records[0]
    glob: Record = {
        "sid": first["sid"],
        "variant": first["variant"],
        "initiator": first["initiator"],
        "started": 1.0,
        "completed": 1.0 + duration,
        "duration": duration,
        "records": {r["node"]: r for r in records},
    }
    return SnapshotFiles(first["sid"], {r["node"]: r for r in records}, glob)


def only(run: Run, files: SnapshotFiles) -> SnapshotVerdict:
    """The verdict of the single snapshot of ``run``."""
    verdicts = check_snapshots(run.events, {files.sid: files})
    assert len(verdicts) == 1
    return verdicts[0]


def broken(verdict: SnapshotVerdict) -> list[str]:
    return [r.name for r in verdict.results if not r.held]


# --------------------------------------------------------------- scenarios
def consistent() -> tuple[Run, list[Record], dict[str, AppId]]:
    """Three nodes with 100 each; P1 starts, P2>P1 holds 7 in flight at the cut.

    P1 cuts after sending 10 to P2 (received inside); P2 sends 7 to P1 before
    its cut, which P1 gets after its own (the channel state); P1's second
    payment of 5 is sent after its cut and received after P2's (outside).
    """
    run = Run("P1", "P2", "P3").open(100, "P1", "P2", "P3")
    m = {"a": run.send("P1", "P2", 10)}
    run.recv(m["a"])
    run.start("P1")
    run.cut("P1", 90)
    m["b"] = run.send("P1", "P2", 5)
    m["c"] = run.send("P2", "P1", 7)
    run.cut("P2", 103)
    run.recv(m["b"])
    run.recv(m["c"])
    m["d"] = run.send("P3", "P2", 1)
    run.cut("P3", 99)
    run.recv(m["d"])  # sent inside, received after P2's cut: in flight too
    records = [
        run.record("P1", 90, {"P2>P1": [run.message(m["c"])]}),
        run.record("P2", 103, {"P3>P2": [run.message(m["d"])], "P1>P2": []}),
        run.record("P3", 99),
    ]
    return run, records, m


def test_a_consistent_snapshot_passes_every_check() -> None:
    run, records, _ = consistent()
    v = only(run, complete(records))
    assert v.ok, v.line()
    assert [r.name for r in v.results] == [CUT, CHANNELS, STATES, CONSERVATION]
    assert (v.sid, v.variant, v.initiator, v.complete, v.aborted) == (SID, CL, "P1", True, False)
    assert v.nodes == ("P1", "P2", "P3")
    assert v.duration == pytest.approx(0.0123)
    assert v.result(CUT).checked == 1  # only P1>P2 #1 was received inside
    assert v.result(CHANNELS).checked == 3  # P1>P2, P2>P1, P3>P2
    assert v.result(STATES).checked == 3
    assert v.line() == f"{SID}  {CL}  12.3 ms  ok"
    assert snapshot_results_ok([v])


def test_a_message_received_inside_but_sent_outside_breaks_the_cut() -> None:
    run = Run("P1", "P2").open(100, "P1", "P2")
    run.start("P1")
    run.cut("P1", 100)
    late = run.send("P1", "P2", 5)
    run.recv(late)  # P2 should have cut before taking a message sent after P1's cut
    run.cut("P2", 105)
    v = only(run, complete([run.record("P1", 100), run.record("P2", 105)]))
    assert not v.ok
    assert CUT in broken(v)
    cut = v.result(CUT)
    assert (cut.checked, cut.violations) == (1, 1)
    assert "P2#1 received P1#1>P2:1 before its cut" in cut.detail
    assert "sent it after its own cut" in cut.detail
    assert "VIOLATED cut:" in v.line()


def test_a_missing_channel_message_breaks_channels() -> None:
    run, records, _ = consistent()
    records[0]["channels"] = {}  # P1 forgets the 7 in flight from P2
    v = only(run, complete(records))
    assert broken(v) == [CHANNELS, CONSERVATION]
    detail = v.result(CHANNELS).detail
    assert "channel P2>P1 misses P2#1>P1:1 (amount 7)" in detail
    assert v.line().startswith(f"{SID}  {CL}  12.3 ms  VIOLATED channels: channel P2>P1 misses")
    assert "(also conservation)" in v.line()


def test_an_extra_channel_message_breaks_channels() -> None:
    run, records, m = consistent()
    # P1>P2 #1 was received before P2's cut, so it is not in flight.
    records[1]["channels"]["P1>P2"] = [run.message(m["a"])]
    v = only(run, complete(records))
    assert CHANNELS in broken(v)
    detail = v.result(CHANNELS).detail
    assert "channel P1>P2 holds P1#1>P2:1" in detail
    assert "P2#1 received it before its cut" in detail


def test_a_message_sent_after_the_cut_is_no_channel_state() -> None:
    run, records, m = consistent()
    records[1]["channels"]["P1>P2"] = [run.message(m["b"])]
    v = only(run, complete(records))
    assert "P1#1 sent it after its cut" in v.result(CHANNELS).detail


def test_a_recorded_message_with_the_wrong_amount_breaks_channels() -> None:
    run, records, m = consistent()
    records[0]["channels"]["P2>P1"] = [run.message(m["c"], amount=8)]
    v = only(run, complete(records))
    assert CHANNELS in broken(v)
    assert "with amount 8, sent with 7" in v.result(CHANNELS).detail


def test_a_channel_in_the_wrong_record_breaks_channels() -> None:
    run, records, _ = consistent()
    # P2>P1 is one of P1's incoming channels, not P2's.
    records[1]["channels"]["P2>P1"] = records[0]["channels"].pop("P2>P1")
    v = only(run, complete(records))
    assert "the record of P2 holds channel P2>P1" in v.result(CHANNELS).detail


def test_a_wrong_balance_breaks_states() -> None:
    run, records, _ = consistent()
    records[1]["state"]["balance"] = 104
    v = only(run, complete(records))
    assert broken(v) == [STATES, CONSERVATION]
    detail = v.result(STATES).detail
    assert "P2#1 recorded balance 104, its log gives 103" in detail
    assert "sent 7, received 10" in detail


def test_money_changed_in_transit_breaks_only_conservation() -> None:
    # Every local view agrees with its own log, but P2 got 12 for a payment of
    # 10: only the global sum can see money appear.
    run = Run("P1", "P2").open(100, "P1", "P2")
    pay = run.send("P1", "P2", 10)
    run.recv(pay, amount=12)
    run.start("P1")
    run.cut("P1", 90)
    run.cut("P2", 112)
    v = only(run, complete([run.record("P1", 90), run.record("P2", 112)]))
    assert broken(v) == [CONSERVATION]
    detail = v.result(CONSERVATION).detail
    assert "202" in detail
    assert "200" in detail


def test_conservation_counts_the_first_incarnation_opening_only() -> None:
    run, records, _ = consistent()
    # P3 restarts after its cut and opens again: a reopening brings no money.
    run.inc["P3"] = 2
    run.open(1000, "P3")
    v = only(run, complete(records))
    assert v.result(CONSERVATION).held, v.line()


def test_an_aborted_snapshot_is_reported_not_ok_and_not_a_failure() -> None:
    run = Run("P1", "P2").open(100, "P1", "P2")
    run.start("P1")
    run.cut("P1", 100)
    run.abort("P1", "timeout")
    files = SnapshotFiles(SID, {"P1": run.record("P1", 100)}, None)
    v = only(run, files)
    assert v.aborted
    assert v.abort_reason == "timeout"
    assert not v.complete
    assert not v.ok
    # Reported, not failed: the simulator, stress and check agree.
    assert snapshot_results_ok([v])
    assert v.line() == f"{SID}  {CL}  -  aborted (timeout)"
    # The record that was written is still checked against the log.
    assert v.result(STATES).checked == 1


def test_an_incomplete_snapshot_is_not_ok_even_if_its_records_are_right() -> None:
    run, records, _ = consistent()
    v = only(run, SnapshotFiles(SID, {r["node"]: r for r in records[:2]}, None))
    assert all(r.held for r in v.results), v.line()
    assert not v.complete
    assert not v.ok
    assert "incomplete" in v.line()
    assert v.result(CONSERVATION).checked == 0


def test_an_incomplete_snapshot_still_catches_a_wrong_record() -> None:
    run, records, _ = consistent()
    records[0]["state"]["balance"] = 91
    v = only(run, SnapshotFiles(SID, {"P1": records[0]}, None))
    assert broken(v) == [STATES]


def test_a_record_without_a_cut_event_breaks_the_cut() -> None:
    run, records, _ = consistent()
    stray = run.record("P3", 0)
    stray["node"] = "P4"
    records.append(stray)
    v = only(run, complete(records))
    assert "P4#1 has a record but logged no snap_cut" in v.result(CUT).detail


def test_a_node_missing_from_global_json_breaks_the_cut() -> None:
    run, records, _ = consistent()
    v = only(run, complete(records[:2]))
    assert not v.result(CUT).held
    assert "P3#1 cut for P1-1-1, but global.json has no record" in v.result(CUT).detail


def test_sender_log_records_a_lost_message_on_the_sender_side() -> None:
    sl = "sender-log"
    run = Run("P1", "P2").open(50, "P1", "P2")
    got = run.send("P1", "P2", 3)
    run.recv(got)
    lost = run.send("P1", "P2", 4)  # never received: lossy channel
    run.start("P1", variant=sl)
    run.cut("P1", 43, variant=sl)
    run.cut("P2", 53, variant=sl)
    p1 = run.record("P1", 43, {"P1>P2": [run.message(lost)]}, variant=sl, side="sender")
    p2 = run.record("P2", 53, variant=sl, side="sender")
    v = only(run, complete([p1, p2]))
    assert v.ok, v.line()
    assert v.variant == sl
    assert v.result(CHANNELS).checked == 1
    # And without it the channel state is wrong.
    p1["channels"] = {"P1>P2": []}
    v = only(run, complete([p1, p2]))
    assert "misses P1#1>P2:2" in v.result(CHANNELS).detail


def test_unordered_arrival_in_flight_is_found_past_a_later_receipt() -> None:
    ly = "lai-yang"
    run = Run("P1", "P2").open(100, "P1", "P2")
    first = [run.send("P1", "P2", a) for a in (1, 2, 3, 4)]
    run.start("P1", variant=ly)
    run.cut("P1", 90, variant=ly)
    run.recv(first[1])
    run.recv(first[3])  # overtakes #1 and #3
    run.cut("P2", 106, variant=ly)
    run.recv(first[2])
    run.recv(first[0])
    flight = [run.message(first[0]), run.message(first[2])]
    records = [
        run.record("P1", 90, variant=ly),
        run.record("P2", 106, {"P1>P2": flight}, variant=ly),
    ]
    v = only(run, complete(records))
    assert v.ok, v.line()
    records[1]["channels"]["P1>P2"] = flight[1:]
    v = only(run, complete(records))
    assert "misses P1#1>P2:1" in v.result(CHANNELS).detail


def test_snapshots_come_in_start_order_then_sid() -> None:
    run = Run("P1", "P2").open(100, "P1", "P2")
    run.start("P2", sid="P2-1-1")
    run.cut("P2", 100, sid="P2-1-1")
    run.cut("P1", 100, sid="P2-1-1")
    run.start("P1", sid="P1-1-1")
    run.cut("P1", 100, sid="P1-1-1")
    run.cut("P2", 100, sid="P1-1-1")
    files = {
        sid: complete([run.record(n, 100, sid=sid) for n in ("P1", "P2")])
        for sid in ("P1-1-1", "P2-1-1")
    }
    verdicts = check_snapshots(run.events, files)
    assert [v.sid for v in verdicts] == ["P2-1-1", "P1-1-1"]
    assert [v.initiator for v in verdicts] == ["P2", "P1"]
    assert snapshot_results_ok(verdicts)


def test_an_event_missing_a_field_is_a_value_error() -> None:
    run, records, _ = consistent()
    events = run.events
    del next(e for e in events if e["kind"] == "app_send")["amount"]
    with pytest.raises(ValueError, match="lacks field 'amount'"):
        check_snapshots(events, {SID: complete(records)})


# --------------------------------------------------------------------- files
def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data))


def test_load_snapshot_files_reads_records_and_global(tmp_path: Path) -> None:
    run, records, _ = consistent()
    sdir = tmp_path / "snapshots" / SID
    for rec in records:
        write(sdir / f"{rec['node']}.json", rec)
    want = complete(records)
    assert want.global_record is not None
    write(sdir / "global.json", want.global_record)
    (sdir / ".global.json.tmp123").write_bytes(b"{torn")  # a dead writer's temporary
    write(tmp_path / "snapshots" / "P2-1-1" / "P2.json", run.record("P2", 100, sid="P2-1-1"))

    files = load_snapshot_files(tmp_path)
    assert sorted(files) == [SID, "P2-1-1"]
    got = files[SID]
    assert got.sid == SID
    assert dict(got.records) == {r["node"]: r for r in records}
    assert got.global_record == want.global_record
    assert files["P2-1-1"].global_record is None
    assert only(run, got).ok


def test_load_snapshot_files_without_snapshots_is_empty(tmp_path: Path) -> None:
    assert load_snapshot_files(tmp_path) == {}


def test_load_snapshot_files_names_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "snapshots" / SID / "P2.json"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b'{"sid": "P1-1-1", ')
    with pytest.raises(ValueError, match=re.escape(f"{bad}: malformed JSON")):
        load_snapshot_files(tmp_path)


def test_load_snapshot_files_rejects_a_global_file_without_records(tmp_path: Path) -> None:
    write(tmp_path / "snapshots" / SID / "global.json", {"sid": SID, "records": [1]})
    with pytest.raises(ValueError, match=r"global\.json: 'records' is not an object"):
        load_snapshot_files(tmp_path)


# ------------------------------------------------------ random runs vs definitions
NODES = ("P1", "P2", "P3")


def reference_records(run: Run, side: str, variant: str) -> list[Record]:
    """Records straight from the definitions, by brute force over the logs."""
    cut_at = {
        n: next(i for i, e in enumerate(log) if e["kind"] == "snap_cut")
        for n, log in run.logs.items()
    }
    inside_sent: set[AppId] = set()
    inside_recv: set[AppId] = set()
    balance: dict[str, int] = {}
    for node, log in run.logs.items():
        balance[node] = 0
        for e in log[: cut_at[node]]:
            if e["kind"] == "bank_open":
                balance[node] += e["balance"]
            elif e["kind"] == "app_send":
                balance[node] -= e["amount"]
                inside_sent.add((node, 1, e["dst"], e["n"]))
            elif e["kind"] == "app_recv":
                balance[node] += e["amount"]
                inside_recv.add((e["from"], e["finc"], node, e["n"]))
    assert inside_recv <= inside_sent, "the simulated algorithm made an inconsistent cut"
    channels: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in NODES}
    for msg in sorted(inside_sent - inside_recv):
        holder = msg[0] if side == "sender" else msg[2]
        channels[holder].setdefault(f"{msg[0]}>{msg[2]}", []).append(run.message(msg))
    return [
        run.record(n, balance[n], channels[n], side=side, variant=variant) for n in sorted(NODES)
    ]


def random_run(seed: int) -> Run:
    """A Lai-Yang-style run: coloured messages force a cut before they are processed.

    Deliveries pick any pending message (unordered channels) and some
    messages are lost; every node has cut by the end, so the cut is complete
    and consistent.
    """
    rng = random.Random(seed)
    run = Run(*NODES).open(100, *NODES)
    red: set[str] = set()
    pending: list[tuple[AppId, bool]] = []

    def cut(node: str) -> None:
        if node not in red:
            red.add(node)
            run.cut(node, 0)  # the balance in the event is not what is checked

    for step in range(rng.randint(5, 80)):
        roll = rng.random()
        if step == 3:
            run.start("P1")
            cut("P1")
        elif roll < 0.45:
            src, dst = rng.sample(NODES, 2)
            pending.append((run.send(src, dst, rng.randint(1, 9)), src in red))
        elif roll < 0.85 and pending:
            msg, coloured = pending.pop(rng.randrange(len(pending)))
            if coloured:
                cut(msg[2])
            run.recv(msg)
        elif roll < 0.9 and pending:
            pending.pop(rng.randrange(len(pending)))  # lost
        elif roll < 0.95:
            cut(rng.choice(NODES))
    if "P1" not in red:
        run.start("P1")
    for node in NODES:
        cut(node)
    return run


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["receiver", "sender"]), st.data())
def test_random_consistent_runs_pass_and_any_dropped_message_is_caught(
    seed: int, side: str, data: st.DataObject
) -> None:
    variant = "sender-log" if side == "sender" else "lai-yang"
    run = random_run(seed)
    records = reference_records(run, side, variant)
    v = only(run, complete(records))
    assert v.ok, v.line()

    in_flight = [
        (i, name) for i, r in enumerate(records) for name, msgs in r["channels"].items() if msgs
    ]
    if in_flight:
        i, name = data.draw(st.sampled_from(in_flight))
        dropped = records[i]["channels"][name].pop()
        v = only(run, complete(records))
        assert broken(v) == [CHANNELS, CONSERVATION]
        assert f">{dropped['dst']}:{dropped['n']}" in v.result(CHANNELS).detail
        records[i]["channels"][name].append(dropped)
    victim = data.draw(st.sampled_from(records))
    victim["state"]["balance"] += 1
    assert broken(only(run, complete(records))) == [STATES, CONSERVATION]


# ------------------------------------------------------- any other application
# A run of an application other than the bank (``zmqcast.Node(..., state=f)``):
# app events carry the payload's ``size`` instead of an ``amount``, nobody logs
# ``bank_open``, a record's state is whatever the application returned, and a
# recorded message's body is its payload as text or base64.


class AppRun(Run):
    """Per-node logs of a non-bank application: payloads instead of transfers."""

    def __init__(self, *nodes: str) -> None:
        super().__init__(*nodes)
        self.payloads: dict[AppId, bytes] = {}

    def post(self, src: str, dst: str, payload: bytes) -> AppId:
        n = self.next_n[(src, dst)] = self.next_n.get((src, dst), 0) + 1
        msg = (src, self.inc[src], dst, n)
        self.payloads[msg] = payload
        self._event(src, "app_send", dst=dst, n=n, size=len(payload))
        return msg

    def take(self, msg: AppId) -> None:
        src, sinc, dst, n = msg
        self._event(
            dst,
            "app_recv",
            **{"from": src},
            finc=sinc,
            n=n,
            ts=1,
            ch=f"{src}>{dst}",
            cseq=n,
            size=len(self.payloads[msg]),
        )

    def cut_with(self, node: str, state: Any) -> None:
        self._event(node, "snap_cut", sid=SID, initiator="P1", variant=CL, state=state)

    def carried(self, msg: AppId, body: Any = None) -> dict[str, Any]:
        """A recorded channel message; by default its body is the payload it was sent with."""
        src, sinc, dst, n = msg
        if body is None:
            payload = self.payloads[msg]
            try:
                body = {"payload": payload.decode("utf-8"), "encoding": "utf-8"}
            except UnicodeDecodeError:
                body = {"payload": base64.b64encode(payload).decode(), "encoding": "base64"}
        return {"src": src, "sinc": sinc, "dst": dst, "n": n, "lamport": 0, "body": body}

    def record_of(
        self, node: str, state: Any, channels: dict[str, list[dict[str, Any]]] | None = None
    ) -> Record:
        rec = self.record(node, 0, channels)
        rec["state"] = state
        return rec


def other_app() -> tuple[AppRun, list[Record], dict[str, AppId]]:
    """The shape of :func:`consistent`, for an application that is not the bank.

    P1 cuts after its "hello" reached P2; P2's binary message to P1, sent
    before P2's cut and received after P1's, is P2>P1's channel state; P1's
    "late", sent after its cut, is in no channel state; P3's "ping", received
    after P2's cut, is in P3>P2's. P3's state looks like a bank balance but
    is only what the application chose to return.
    """
    run = AppRun("P1", "P2", "P3")
    m = {"a": run.post("P1", "P2", b"hello")}
    run.take(m["a"])
    run.start("P1")
    run.cut_with("P1", {"count": 1, "seen": ["hello"]})
    m["b"] = run.post("P1", "P2", b"late")
    m["c"] = run.post("P2", "P1", b"\xff\x00\x01\x02")
    run.cut_with("P2", ["any", 2, None])
    run.take(m["b"])
    run.take(m["c"])
    m["d"] = run.post("P3", "P2", b"ping")
    run.cut_with("P3", {"balance": 12})
    run.take(m["d"])
    records = [
        run.record_of("P1", {"count": 1, "seen": ["hello"]}, {"P2>P1": [run.carried(m["c"])]}),
        run.record_of("P2", ["any", 2, None], {"P3>P2": [run.carried(m["d"])], "P1>P2": []}),
        run.record_of("P3", {"balance": 12}),
    ]
    return run, records, m


def assert_bank_checks_skipped(v: SnapshotVerdict) -> None:
    for name in (STATES, CONSERVATION):
        r = v.result(name)
        assert (r.held, r.checked, r.violations, r.vacuous) == (True, 0, 0, True)
        assert r.verdict() == f"not checked (0 records: {NOT_BANK})"
        assert r.verdict().startswith("not checked (0 records: the application is not the bank")


def test_another_app_consistent_snapshot_passes_cut_and_channels() -> None:
    run, records, _ = other_app()
    assert not any("amount" in e or e["kind"] == "bank_open" for e in run.events)
    assert records[1]["channels"]["P3>P2"][0]["body"] == {"payload": "ping", "encoding": "utf-8"}
    assert records[0]["channels"]["P2>P1"][0]["body"] == {
        "payload": "/wABAg==",
        "encoding": "base64",
    }
    v = only(run, complete(records))
    assert v.ok, v.line()
    assert v.line() == f"{SID}  {CL}  12.3 ms  ok"
    cut, channels = v.result(CUT), v.result(CHANNELS)
    assert (cut.held, cut.checked) == (True, 1)  # only P1>P2 #1 was received inside
    assert (channels.held, channels.checked) == (True, 3)  # P1>P2, P2>P1, P3>P2
    assert_bank_checks_skipped(v)


def test_another_app_record_missing_an_in_flight_message_breaks_channels() -> None:
    run, records, _ = other_app()
    records[0]["channels"] = {}  # P1 forgets P2's message in flight
    v = only(run, complete(records))
    assert broken(v) == [CHANNELS]
    assert not v.ok
    detail = v.result(CHANNELS).detail
    assert detail.startswith("channel P2>P1 misses P2#1>P1:1 (4 bytes), sent before P2#1's cut")
    assert "VIOLATED channels: channel P2>P1 misses" in v.line()
    assert_bank_checks_skipped(v)


def test_another_app_record_holding_a_message_sent_after_the_cut_breaks_channels() -> None:
    run, records, m = other_app()
    records[1]["channels"]["P1>P2"] = [run.carried(m["b"])]
    v = only(run, complete(records))
    assert broken(v) == [CHANNELS]
    assert v.result(CHANNELS).detail == (
        "channel P1>P2 holds P1#1>P2:2, but P1#1 sent it after its cut (1 extra)"
    )
    assert_bank_checks_skipped(v)


def test_another_app_record_holding_a_message_received_inside_breaks_channels() -> None:
    run, records, m = other_app()
    records[1]["channels"]["P1>P2"] = [run.carried(m["a"])]
    v = only(run, complete(records))
    assert broken(v) == [CHANNELS]
    assert "P2#1 received it before its cut" in v.result(CHANNELS).detail


def test_another_app_inconsistent_cut_breaks_the_cut() -> None:
    run = AppRun("P1", "P2")
    run.start("P1")
    run.cut_with("P1", None)
    late = run.post("P1", "P2", b"x")
    run.take(late)  # P2 takes a message sent after P1's cut before cutting
    run.cut_with("P2", "whatever")
    v = only(run, complete([run.record_of("P1", None), run.record_of("P2", "whatever")]))
    assert broken(v) == [CUT]
    cut = v.result(CUT)
    assert (cut.checked, cut.violations) == (1, 1)
    assert cut.detail == (
        "P2#1 received P1#1>P2:1 before its cut, but P1#1 sent it after its own cut"
    )
    assert_bank_checks_skipped(v)


def test_another_app_message_is_compared_by_identity_and_payload_size() -> None:
    run, records, m = other_app()
    # The log tells only the size: same-size bytes are the same message to the checker.
    records[0]["channels"]["P2>P1"] = [
        run.carried(m["c"], {"payload": "AAAAAA==", "encoding": "base64"})
    ]
    assert only(run, complete(records)).ok
    # A body the log contradicts: 1 byte recorded, 4 sent.
    records[0]["channels"]["P2>P1"] = [
        run.carried(m["c"], {"payload": "/w==", "encoding": "base64"})
    ]
    v = only(run, complete(records))
    assert broken(v) == [CHANNELS]
    assert v.result(CHANNELS).detail == (
        "channel P2>P1 records P2#1>P1:1 with a 1-byte payload, sent with 4 bytes"
    )
    # A node running no application records the payload as hex.
    records[0]["channels"]["P2>P1"] = [run.carried(m["c"], "ff000102")]
    assert only(run, complete(records)).ok
    records[0]["channels"]["P2>P1"] = [run.carried(m["c"], "ff00")]
    assert (
        "with a 2-byte payload, sent with 4 bytes"
        in only(run, complete(records)).result(CHANNELS).detail
    )
    # A body that tells no size leaves the identity, which matches.
    records[0]["channels"]["P2>P1"] = [run.carried(m["c"], {"payload": "?", "encoding": "rot13"})]
    assert only(run, complete(records)).ok


def test_another_app_incomplete_snapshot_still_checks_its_records() -> None:
    run, records, _ = other_app()
    records[0]["channels"] = {}
    v = only(run, SnapshotFiles(SID, {"P1": records[0]}, None))
    assert not v.complete
    assert broken(v) == [CHANNELS]
    assert "misses P2#1>P1:1" in v.result(CHANNELS).detail
    assert_bank_checks_skipped(v)


def test_another_app_event_missing_a_generic_field_is_a_value_error() -> None:
    run, records, _ = other_app()
    events = run.events
    del next(e for e in events if e["kind"] == "app_recv")["n"]
    with pytest.raises(ValueError, match="lacks field 'n'"):
        check_snapshots(events, {SID: complete(records)})


def test_a_bank_transfer_without_an_integer_amount_is_a_value_error() -> None:
    run, records, _ = consistent()
    events = run.events
    next(e for e in events if e["kind"] == "app_recv")["amount"] = "10"
    with pytest.raises(ValueError, match="has a non-integer 'amount'"):
        check_snapshots(events, {SID: complete(records)})


def test_the_bank_checks_still_run_on_a_bank_run() -> None:
    run, records, _ = consistent()
    v = only(run, complete(records))
    assert not any(r.vacuous for r in v.results), [r.verdict() for r in v.results]
    incomplete = only(run, SnapshotFiles(SID, {"P1": records[0]}, None))
    assert (
        incomplete.result(CONSERVATION).verdict() == "not checked (0 records: snapshot incomplete)"
    )


def as_other_app(run: Run, records: list[Record]) -> tuple[list[Event], list[Record]]:
    """A bank run rewritten as another application's: each transfer of N becomes N bytes."""
    events: list[Event] = []
    for original in run.events:
        if original["kind"] == "bank_open":
            continue
        ev = dict(original)
        if ev["kind"] in ("app_send", "app_recv"):
            ev["size"] = ev.pop("amount")
        events.append(ev)
    rewritten: list[Record] = []
    for rec in records:
        channels = {
            name: [
                {**msg, "body": {"payload": "x" * msg["body"]["amount"], "encoding": "utf-8"}}
                for msg in msgs
            ]
            for name, msgs in rec["channels"].items()
        }
        rewritten.append({**rec, "state": {"node": rec["node"]}, "channels": channels})
    return events, rewritten


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["receiver", "sender"]), st.data())
def test_random_runs_of_another_app_pass_and_any_dropped_message_is_caught(
    seed: int, side: str, data: st.DataObject
) -> None:
    variant = "sender-log" if side == "sender" else "lai-yang"
    run = random_run(seed)
    events, records = as_other_app(run, reference_records(run, side, variant))

    def verdict() -> SnapshotVerdict:
        (v,) = check_snapshots(events, {SID: complete(records)})
        return v

    v = verdict()
    assert v.ok, v.line()
    assert_bank_checks_skipped(v)
    in_flight = [
        (i, name) for i, r in enumerate(records) for name, msgs in r["channels"].items() if msgs
    ]
    if in_flight:
        i, name = data.draw(st.sampled_from(in_flight))
        dropped = records[i]["channels"][name].pop()
        v = verdict()
        assert broken(v) == [CHANNELS]
        assert f">{dropped['dst']}:{dropped['n']}" in v.result(CHANNELS).detail
        assert f"({len(dropped['body']['payload'])} bytes)" in v.result(CHANNELS).detail
