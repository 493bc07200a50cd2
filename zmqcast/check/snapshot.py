"""Checker for consistent global snapshots: the cut, channel states, node states, money.

A snapshot is judged against the event logs, not against what the algorithms
believed. The logs say which app messages each node sent and received before
its ``snap_cut``; from that alone follow whether the cut is consistent and
which messages each channel state must hold, for any application: these need
only message identities and cut positions. The bank application adds two
checks: which balance each node must have recorded, and that no money is
created or destroyed. A run of another application (app events with ``size``
instead of ``amount``, no ``bank_open``) has those two reported as not checked.

The trace is indexed once (:class:`_Index`). Per snapshot the checker only
bisects per-incarnation position lists at the cut positions and walks what it
reports, so checking dozens of snapshots over a long trace stays close to
linear in the trace. Positions are indices into the event list; since it is
the concatenation of per-node logs, positions of one incarnation's events are
in that incarnation's log order, which is all a cut comparison needs.
"""

from __future__ import annotations

import base64
import binascii
import sys
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import orjson

from zmqcast.check.report import InvariantResult
from zmqcast.check.trace import IncKey, fmt_inc
from zmqcast.core.events import EventKind
from zmqcast.core.snapshot import parse_sid

CUT = "cut"
CHANNELS = "channels"
STATES = "states"
CONSERVATION = "conservation"

AppId: TypeAlias = tuple[str, int, str, int]
"""An app message's identity: (src, sinc, dst, n)."""

_Content: TypeAlias = tuple[int | None, int | None]
"""What is known of an app message's payload: (bank amount, size in bytes)."""

Record: TypeAlias = dict[str, Any]
"""One node's snapshot record, as written to ``<node>.json``."""

_NEVER = sys.maxsize
"""Send index of a receipt whose message was never sent, or the receipt
position of a message never received: larger than any real index or position."""

_EARLIER = -1
"""Receipt position of a message an earlier incarnation of the receiver got:
that receipt precedes every event of the later incarnation, so also its cut."""

_SENDER = "sender"
_RECEIVER = "receiver"

RECORDS = "records"
"""Unit of the ``states`` and ``conservation`` results when they check nothing."""

NOT_BANK = "the application is not the bank"
"""Why ``states`` and ``conservation`` are not checked on a run of another application:
no incarnation logged ``bank_open`` and no app event carried an ``amount``."""


def fmt_app(msg: AppId) -> str:
    """Print an app message id as ``src#sinc>dst:n``."""
    return f"{msg[0]}#{msg[1]}>{msg[2]}:{msg[3]}"


def _as_int(value: object) -> int | None:
    """``value`` if it is an int; JSON ``true`` is not an amount, so bools are not."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------- files


@dataclass(frozen=True)
class SnapshotFiles:
    """What ``RUN_DIR/snapshots/<sid>/`` holds: per-node records and the global file."""

    sid: str
    records: Mapping[str, Record]
    """Node name (the file's stem) -> its ``<node>.json`` record."""
    global_record: Record | None = None
    """The parsed ``global.json``, or None if the initiator never wrote it."""


def _read_object(path: Path) -> dict[str, Any]:
    """Parse one snapshot file, which must hold a JSON object."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def load_snapshot_files(run_dir: Path) -> dict[str, SnapshotFiles]:
    """Every snapshot directory under ``run_dir/snapshots``, keyed by sid.

    Raises ValueError naming the file if one is not a JSON object, or if
    ``global.json`` lacks a ``records`` object of records: the checker needs
    well-formed files to say anything, and the CLI prints the message as is.
    """
    root = run_dir / "snapshots"
    if not root.is_dir():
        return {}
    found: dict[str, SnapshotFiles] = {}
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()):
        records: dict[str, Record] = {}
        global_record: Record | None = None
        for path in sorted(sdir.glob("*.json")):
            # Atomic writes leave ".<name>.<random>" temporaries if a writer
            # died mid-way; they are not records.
            if path.name.startswith("."):
                continue
            data = _read_object(path)
            if path.name == "global.json":
                recs = data.get("records")
                if not isinstance(recs, dict) or not all(
                    isinstance(r, dict) for r in recs.values()
                ):
                    raise ValueError(f"{path}: 'records' is not an object of records")
                global_record = data
            else:
                records[path.stem] = data
        found[sdir.name] = SnapshotFiles(sdir.name, records, global_record)
    return found


# --------------------------------------------------------------------- index


@dataclass(slots=True)
class _Sends:
    """The app_sends of one sender incarnation to one destination, in log order."""

    pos: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    amount: list[int | None] = field(default_factory=list)
    """The bank's ``amount``; None for an application that logs none."""
    size: list[int | None] = field(default_factory=list)
    """The payload's ``size`` in bytes, None if the event has none (the bank's)."""
    index: dict[int, int] = field(default_factory=dict)
    """n -> index of its first send (a repeated n is the implementation's bug,
    and reporting the first send keeps the checker's answer well defined)."""


@dataclass(slots=True)
class _Recvs:
    """The app_recvs of one receiver incarnation from one sender incarnation, in log order."""

    pos: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    si: list[int] = field(default_factory=list)
    """Index of each message in the sender's :class:`_Sends`, ``_NEVER`` if unsent."""
    smax: list[int] = field(default_factory=list)
    """Prefix maximum of ``si``: one bisect tells whether a prefix holds a late send."""


@dataclass(slots=True)
class _Ledger:
    """One incarnation's app events as prefix sums, to get its balance at any cut."""

    pos: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=lambda: [0])
    """``sent[i]``: total amount sent by the first ``i`` app events."""
    received: list[int] = field(default_factory=lambda: [0])


@dataclass(slots=True)
class _Flight:
    """For one channel and one receiver incarnation: when each sent message arrived.

    ``rp[i]`` is the position of the first receipt of send ``i`` by that
    incarnation, ``_EARLIER`` if an earlier incarnation got it, ``_NEVER`` if
    neither did. ``reach`` is the prefix maximum of the finite ``rp`` values
    (so it is sorted), ``unreceived`` the ascending indices with ``_NEVER``.
    """

    rp: list[int]
    reach: list[int]
    unreceived: list[int]


@dataclass(slots=True)
class _SnapEvents:
    """The snapshot events of one sid."""

    start: float | None = None
    initiator: str | None = None
    variant: str | None = None
    cuts: dict[IncKey, int] = field(default_factory=dict)
    """Incarnation -> position of its first snap_cut for this sid."""
    first_cut: float | None = None
    """Earliest cut time, to order a snapshot whose snap_start is missing."""
    abort: tuple[float, str] | None = None
    """(time, reason) of the earliest snap_abort."""
    stale: set[IncKey] = field(default_factory=set)
    """Restarted incarnations that joined after the snapshot ended."""


class _Index:
    """Every app and snapshot event of a trace, indexed by incarnation and sid."""

    def __init__(self, events: Iterable[Mapping[str, Any]]) -> None:
        self.sends: dict[tuple[str, int, str], _Sends] = {}
        self.recvs: dict[IncKey, dict[IncKey, _Recvs]] = {}
        """Receiver incarnation -> sender incarnation -> its receipts."""
        self.receivers: dict[tuple[str, int, str], set[int]] = {}
        """(src, sinc, dst) -> incarnations of dst that received from src#sinc."""
        self.dsts: dict[IncKey, set[str]] = {}
        """Sender incarnation -> nodes it sent app messages to."""
        self.ledgers: dict[IncKey, _Ledger] = {}
        self.opens: dict[IncKey, int] = {}
        """Incarnation -> balance of its first bank_open."""
        self.first_open: dict[str, int] = {}
        """Node -> bank_open balance of its first opening incarnation."""
        self.amounts = False
        """Whether any app event carried an integer ``amount``."""
        self._no_amount: dict[IncKey, tuple[int, Mapping[str, Any]]] = {}
        """Incarnation -> its first app event without an integer ``amount``."""
        self.snaps: dict[str, _SnapEvents] = {}
        self.latest_inc: dict[str, int] = {}
        """Node -> its last incarnation in the trace (from ``start`` events)."""
        self._flights: dict[tuple[str, int, str, int], _Flight] = {}
        self._scan(events)
        self._require_amounts()
        self.bank = bool(self.opens) or self.amounts
        """Whether the application is the bank, so balances and money can be checked."""
        self._link()
        self.lost = self._lost()
        """Sender incarnation -> money it sent that no incarnation of the
        destination ever received (only possible if the sender crashed)."""

    def _snap(self, sid: str) -> _SnapEvents:
        snap = self.snaps.get(sid)
        if snap is None:
            snap = self.snaps[sid] = _SnapEvents()
        return snap

    def _ledger(self, key: IncKey) -> _Ledger:
        ledger = self.ledgers.get(key)
        if ledger is None:
            ledger = self.ledgers[key] = _Ledger()
        return ledger

    def _scan(self, events: Iterable[Mapping[str, Any]]) -> None:
        pos = -1
        ev: Mapping[str, Any] = {}
        try:
            for pos, ev in enumerate(events):
                kind = ev["kind"]
                # App events first: they are the bulk of a snapshot trace.
                if kind == EventKind.APP_SEND:
                    key = (ev["node"], ev["inc"])
                    dst = ev["dst"]
                    amount = self._amount(key, pos, ev)
                    sends = self.sends.get((key[0], key[1], dst))
                    if sends is None:
                        sends = self.sends[(key[0], key[1], dst)] = _Sends()
                        self.dsts.setdefault(key, set()).add(dst)
                    n = ev["n"]
                    sends.index.setdefault(n, len(sends.pos))
                    sends.pos.append(pos)
                    sends.n.append(n)
                    sends.amount.append(amount)
                    sends.size.append(_as_int(ev.get("size")))
                    ledger = self._ledger(key)
                    ledger.pos.append(pos)
                    ledger.sent.append(ledger.sent[-1] + (amount or 0))
                    ledger.received.append(ledger.received[-1])
                elif kind == EventKind.APP_RECV:
                    key = (ev["node"], ev["inc"])
                    src = (ev["from"], ev["finc"])
                    by_src = self.recvs.setdefault(key, {})
                    recvs = by_src.get(src)
                    if recvs is None:
                        recvs = by_src[src] = _Recvs()
                        self.receivers.setdefault((src[0], src[1], key[0]), set()).add(key[1])
                    recvs.pos.append(pos)
                    recvs.n.append(ev["n"])
                    amount = self._amount(key, pos, ev)
                    ledger = self._ledger(key)
                    ledger.pos.append(pos)
                    ledger.sent.append(ledger.sent[-1])
                    ledger.received.append(ledger.received[-1] + (amount or 0))
                elif kind == EventKind.START:
                    latest = self.latest_inc.get(ev["node"], 0)
                    self.latest_inc[ev["node"]] = max(latest, ev["inc"])
                elif kind == EventKind.BANK_OPEN:
                    self.opens.setdefault((ev["node"], ev["inc"]), ev["balance"])
                    self.first_open.setdefault(ev["node"], ev["balance"])
                elif kind == EventKind.SNAP_CUT:
                    snap = self._snap(ev["sid"])
                    snap.cuts.setdefault((ev["node"], ev["inc"]), pos)
                    t = float(ev["time"])
                    if snap.first_cut is None or t < snap.first_cut:
                        snap.first_cut = t
                    if snap.initiator is None:
                        snap.initiator = ev.get("initiator")
                    if snap.variant is None:
                        snap.variant = ev.get("variant")
                elif kind == EventKind.SNAP_START:
                    snap = self._snap(ev["sid"])
                    if snap.start is None:
                        snap.start = float(ev["time"])
                        snap.initiator = ev["node"]
                        snap.variant = ev.get("variant", snap.variant)
                elif kind == EventKind.SNAP_ABORT and ev.get("reason") == "stale":
                    # A restarted node joined a snapshot already over: its cut
                    # is no part of it (README, "Restarts").
                    self._snap(ev["sid"]).stale.add((ev["node"], ev["inc"]))
                elif kind == EventKind.SNAP_ABORT:
                    snap = self._snap(ev["sid"])
                    t = float(ev["time"])
                    if snap.abort is None or t < snap.abort[0]:
                        snap.abort = (t, str(ev.get("reason", "unknown")))
        except KeyError as exc:
            raise ValueError(f"trace event {pos} lacks field {exc}: {dict(ev)!r}") from exc

    def _amount(self, key: IncKey, pos: int, ev: Mapping[str, Any]) -> int | None:
        """The ``amount`` of app event ``ev`` at ``pos`` of ``key``, None if it has none.

        Only the bank logs amounts; an event without one is remembered in case
        its incarnation turns out to be a bank account (:meth:`_require_amounts`).
        """
        amount = _as_int(ev.get("amount"))
        if amount is not None:
            self.amounts = True
        elif key not in self._no_amount:
            self._no_amount[key] = (pos, ev)
        return amount

    def _require_amounts(self) -> None:
        """ValueError if a bank account's app event has no integer ``amount``.

        A bank incarnation (one that logged ``bank_open``) whose transfer has
        no amount has a balance no one can follow: the event is malformed.
        Another application's events carry no amount, and need none.
        """
        bad = [self._no_amount[key] for key in self.opens if key in self._no_amount]
        if not bad:
            return
        pos, ev = min(bad, key=lambda found: found[0])
        what = "lacks field 'amount'" if "amount" not in ev else "has a non-integer 'amount'"
        raise ValueError(f"trace event {pos} {what}: {dict(ev)!r}")

    def _link(self) -> None:
        """Map every receipt to its send, once the whole trace is scanned."""
        empty = _Sends()
        for (dst, _), by_src in self.recvs.items():
            for (src, sinc), recvs in by_src.items():
                index = self.sends.get((src, sinc, dst), empty).index
                top = -1
                for n in recvs.n:
                    i = index.get(n, _NEVER)
                    recvs.si.append(i)
                    top = max(top, i)
                    recvs.smax.append(top)

    def _lost(self) -> dict[IncKey, int]:
        lost: dict[IncKey, int] = {}
        for (src, sinc, dst), sends in self.sends.items():
            got: set[int] = set()
            for d in self.receivers.get((src, sinc, dst), ()):
                got.update(self.recvs[(dst, d)][(src, sinc)].n)
            missing = sum(
                a or 0 for n, a in zip(sends.n, sends.amount, strict=True) if n not in got
            )
            if missing:
                lost[(src, sinc)] = lost.get((src, sinc), 0) + missing
        return lost

    def flight(self, src: str, sinc: int, dst: str, dinc: int) -> _Flight:
        """Receipt positions of src#sinc's messages to dst, as seen by dst#dinc (cached)."""
        key = (src, sinc, dst, dinc)
        found = self._flights.get(key)
        if found is not None:
            return found
        sends = self.sends.get((src, sinc, dst), _Sends())
        rp = [_NEVER] * len(sends.pos)
        for d in self.receivers.get((src, sinc, dst), ()):
            if d > dinc:
                continue  # a later incarnation's receipt is after dst#dinc's cut
            recvs = self.recvs[(dst, d)][(src, sinc)]
            for at, i in zip(recvs.pos, recvs.si, strict=True):
                if i != _NEVER:
                    # min() keeps the first receipt, and _EARLIER wins over any.
                    rp[i] = min(rp[i], _EARLIER if d < dinc else at)
        reach: list[int] = []
        unreceived: list[int] = []
        top = -1
        for i, at in enumerate(rp):
            if at == _NEVER:
                unreceived.append(i)
            else:
                top = max(top, at)
            reach.append(top)
        found = self._flights[key] = _Flight(rp, reach, unreceived)
        return found

    def in_flight(
        self, src: str, sinc: int, cut_a: int, dst: str, dinc: int, cut_b: int
    ) -> list[int]:
        """Send indices of src#sinc -> dst sent before ``cut_a`` and not received before ``cut_b``.

        Never-received messages come straight from a sorted list. For received
        ones, every send before the first whose prefix ``reach`` gets to
        ``cut_b`` was received inside, so only the sends from there to the
        sender's cut are walked: the window of messages in flight at the cut,
        widened by however far the channel reorders.
        """
        sends = self.sends.get((src, sinc, dst))
        if sends is None:
            return []
        k = bisect_left(sends.pos, cut_a)
        fl = self.flight(src, sinc, dst, dinc)
        found = fl.unreceived[: bisect_left(fl.unreceived, k)]
        rp = fl.rp
        found.extend(i for i in range(bisect_left(fl.reach, cut_b), k) if cut_b <= rp[i] < _NEVER)
        found.sort()
        return found


# --------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class SnapshotVerdict:
    """Whether one snapshot completed and was consistent, with one result per invariant.

    ``results`` are, in this order, ``cut``, ``channels``, ``states`` and
    ``conservation``: a broken cut usually breaks the others too, so the first
    violated result is the likeliest cause. Checks an incomplete snapshot
    cannot do are present, held, with ``checked == 0``; so are ``states`` and
    ``conservation`` when the application is not the bank.
    """

    sid: str
    variant: str
    initiator: str
    started: float | None
    """Time of ``snap_start`` (else of the earliest cut), None if neither was logged."""
    complete: bool
    """``global.json`` was written."""
    aborted: bool
    abort_reason: str | None
    duration: float | None
    """From ``global.json``, in seconds."""
    nodes: tuple[str, ...]
    """Nodes whose records were checked."""
    results: tuple[InvariantResult, ...]

    @property
    def ok(self) -> bool:
        """Complete, not aborted, and every invariant held."""
        return self.complete and not self.aborted and all(r.held for r in self.results)

    def result(self, name: str) -> InvariantResult:
        """The result named ``name``; KeyError if there is none."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def line(self) -> str:
        """One line, e.g. ``P1-3-2  chandy-lamport  12.3 ms  ok``."""
        took = "-" if self.duration is None else f"{self.duration * 1000:.1f} ms"
        parts: list[str] = []
        if self.aborted:
            parts.append(f"aborted ({self.abort_reason})")
        elif not self.complete:
            parts.append(f"incomplete (no global.json, {len(self.nodes)} records)")
        # An aborted snapshot's partial records bind no one: not judged.
        bad = [] if self.aborted else [r for r in self.results if not r.held]
        if bad:
            first = bad[0]
            also = f" (also {', '.join(r.name for r in bad[1:])})" if len(bad) > 1 else ""
            parts.append(f"VIOLATED {first.name}: {first.detail}{also}")
        if not parts:
            parts.append("ok")
        return f"{self.sid}  {self.variant}  {took}  {'; '.join(parts)}"


def snapshot_results_ok(verdicts: Iterable[SnapshotVerdict]) -> bool:
    """True if every snapshot was consistent, or was aborted.

    An abort (a peer restarted, or the snapshot timed out) is reported, not
    failed: the simulator, ``zmqcast stress`` and ``zmqcast check`` agree on
    it. A snapshot that neither completed nor aborted is a failure.
    """
    return all(v.ok or v.aborted for v in verdicts)


@dataclass(slots=True)
class _Member:
    """One node incarnation taking part in a snapshot."""

    node: str
    inc: int
    cut: int | None
    """Position of its snap_cut for the sid; None if it logged none."""
    record: Record | None
    """Its record; None for a node that cut in an incomplete snapshot but wrote none."""

    @property
    def key(self) -> IncKey:
        return (self.node, self.inc)


def _amount(raw: object) -> int | None:
    """``body.amount`` of a recorded message, None if it has none."""
    body = raw.get("body") if isinstance(raw, dict) else None
    return _as_int(body.get("amount")) if isinstance(body, dict) else None


def _payload_size(raw: object) -> int | None:
    """The byte size of a recorded message's ``body``, None if it does not tell one.

    A body is ``{"payload": str, "encoding": "utf-8" | "base64"}`` for an
    application's bytes, or a hex string when the node runs no application;
    the bank's ``{"amount": int}`` has no size.
    """
    body = raw.get("body") if isinstance(raw, dict) else None
    if isinstance(body, str):
        try:
            return len(bytes.fromhex(body))
        except ValueError:
            return None
    if not isinstance(body, dict) or not isinstance(body.get("payload"), str):
        return None
    payload, encoding = body["payload"], body.get("encoding")
    if encoding == "utf-8":
        return len(payload.encode("utf-8", errors="surrogatepass"))
    if encoding == "base64":
        try:
            return len(base64.b64decode(payload, validate=True))
        except binascii.Error:
            return None
    return None


def _describe(content: _Content) -> str:
    """`` (amount N)`` or `` (N bytes)`` for a message in a report, or ``""``."""
    amount, size = content
    if amount is not None:
        return f" (amount {amount})"
    return f" ({size} bytes)" if size is not None else ""


def _parse_message(raw: object) -> tuple[AppId, _Content] | None:
    """A recorded channel message as (identity, content); None if its identity is invalid."""
    if not isinstance(raw, dict):
        return None
    src, sinc, dst, n = (
        raw.get("src"),
        _as_int(raw.get("sinc")),
        raw.get("dst"),
        _as_int(raw.get("n")),
    )
    if not isinstance(src, str) or not isinstance(dst, str) or sinc is None or n is None:
        return None
    return (src, sinc, dst, n), (_amount(raw), _payload_size(raw))


def _result(name: str, checked: int, problems: Sequence[str]) -> InvariantResult:
    """A result whose violations are ``problems``, reporting the first."""
    return InvariantResult(
        name, not problems, checked, len(problems), problems[0] if problems else ""
    )


def _skipped(name: str) -> InvariantResult:
    return InvariantResult(name, True, 0, 0, "snapshot incomplete", unit=RECORDS)


def _not_bank(name: str) -> InvariantResult:
    """``not checked (0 records: the application is not the bank)``."""
    return InvariantResult(name, True, 0, 0, NOT_BANK, unit=RECORDS)


class _SnapshotCheck:
    """Checks one snapshot against the index; built and used once per sid."""

    def __init__(self, index: _Index, sid: str, files: SnapshotFiles | None) -> None:
        self.index = index
        self.sid = sid
        self.events = index.snaps.get(sid) or _SnapEvents()
        glob = files.global_record if files is not None else None
        self.glob = glob
        self.complete = glob is not None
        if glob is not None:
            records: Mapping[str, Record] = glob.get("records") or {}
        else:
            records = files.records if files is not None else {}
        self.records = records
        # Problems with who takes part; reported under ``cut``.
        self.membership: list[str] = []
        self.members = self._members()

    # ------------------------------------------------------------ membership
    def _members(self) -> dict[str, _Member]:
        stale = self.events.stale
        cuts = {key: pos for key, pos in self.events.cuts.items() if key not in stale}
        members: dict[str, _Member] = {}
        for name in sorted(self.records):
            rec = self.records[name]
            node = rec.get("node", name)
            inc = _as_int(rec.get("inc"))
            if not isinstance(node, str) or inc is None:
                self.membership.append(f"the record of {name} names no node incarnation")
                continue
            cut = cuts.get((node, inc))
            members[node] = _Member(node, inc, cut, rec)
            if cut is None:
                self.membership.append(
                    f"{fmt_inc((node, inc))} has a record but logged no snap_cut for {self.sid}"
                )
        for (node, inc), pos in sorted(cuts.items()):
            m = members.get(node)
            if m is None:
                if self.complete:
                    self.membership.append(
                        f"{fmt_inc((node, inc))} cut for {self.sid}, but global.json has no record "
                        "of it"
                    )
                else:
                    # The record may just not be written yet; the cut still
                    # tells which of its messages are inside.
                    members[node] = _Member(node, inc, pos, None)
            elif m.record is None and inc > m.inc:
                members[node] = _Member(node, inc, pos, None)
            # Otherwise another incarnation of the node also cut (one that
            # crashed after its record was taken, or a restarted one that
            # joined afterwards); only the recorded incarnation's cut counts.
        if self.complete:
            cut_nodes = {node for node, _ in cuts}
            for node in sorted(self.index.first_open):
                # A node that cut without a record is reported above already.
                if node not in members and node not in cut_nodes:
                    self.membership.append(f"{node} opened a bank account but has no record")
        return members

    def _side(self) -> str:
        """Which end holds channel states: from the records, else from the variant."""
        for m in self.members.values():
            if m.record is not None and m.record.get("side") in (_SENDER, _RECEIVER):
                return str(m.record["side"])
        return _SENDER if self.variant() == "sender-log" else _RECEIVER

    def variant(self) -> str:
        for source in (self.glob, *self.records.values()):
            if source is not None and isinstance(source.get("variant"), str):
                return str(source["variant"])
        return self.events.variant or "?"

    def initiator(self) -> str:
        for source in (self.glob, *self.records.values()):
            if source is not None and isinstance(source.get("initiator"), str):
                return str(source["initiator"])
        return self.events.initiator or "?"

    # ------------------------------------------------------------------- cut
    def check_cut(self) -> InvariantResult:
        """No message is received inside the cut but sent outside it.

        ``checked`` counts the messages received inside. A message from an
        earlier incarnation of a member counts as sent inside (that
        incarnation ended before the member began); one from a node or
        incarnation with no cut does not, except in an incomplete snapshot,
        where the sender may simply not have cut yet.
        """
        index, members = self.index, self.members
        checked = 0
        violations = len(self.membership)
        first: tuple[int, str] | None = None
        for m in members.values():
            if m.cut is None:
                continue
            who = fmt_inc(m.key)
            for (src, sinc), recvs in index.recvs.get(m.key, {}).items():
                r = bisect_left(recvs.pos, m.cut)
                if not r:
                    continue
                sender = members.get(src)
                if sender is None or sinc > sender.inc:
                    if not self.complete:
                        continue
                    checked += r
                    violations += r
                    msg = (src, sinc, m.node, recvs.n[0])
                    found = (
                        recvs.pos[0],
                        f"{who} received {fmt_app(msg)} before its cut, but "
                        f"{fmt_inc((src, sinc))} has no cut for {self.sid}",
                    )
                    first = found if first is None else min(first, found)
                    continue
                if sinc == sender.inc and sender.cut is None:
                    continue  # already reported under membership
                checked += r
                sends = index.sends.get((src, sinc, m.node))
                if sends is None:
                    k = 0
                elif sinc < sender.inc:
                    k = len(sends.pos)
                else:
                    assert sender.cut is not None
                    k = bisect_left(sends.pos, sender.cut)
                if recvs.smax[r - 1] < k:
                    continue
                for j in range(r):
                    i = recvs.si[j]
                    if i < k:
                        continue
                    violations += 1
                    if first is None or recvs.pos[j] < first[0]:
                        why = (
                            "it was never sent"
                            if i == _NEVER
                            else f"{fmt_inc((src, sinc))} sent it after its own cut"
                        )
                        msg = (src, sinc, m.node, recvs.n[j])
                        first = (
                            recvs.pos[j],
                            f"{who} received {fmt_app(msg)} before its cut, but {why}",
                        )
        details = [*self.membership, *([first[1]] if first is not None else [])]
        detail = details[0] if details else ""
        return InvariantResult(CUT, violations == 0, checked, violations, detail)

    # -------------------------------------------------------------- channels
    def _recorded(self, problems: list[str]) -> dict[tuple[str, str], tuple[str, Any]]:
        """Channel -> (holding node, its recorded message list), checking ownership."""
        recorded: dict[tuple[str, str], tuple[str, Any]] = {}
        for m in self.members.values():
            rec = m.record
            if rec is None:
                continue
            side = rec.get("side")
            channels = rec.get("channels", {})
            if side not in (_SENDER, _RECEIVER) or not isinstance(channels, dict):
                problems.append(f"the record of {m.node} has no valid side or channels")
                continue
            for name, msgs in channels.items():
                a, sep, b = name.partition(">")
                if not sep or not a or not b:
                    problems.append(f"the record of {m.node} holds a channel named {name!r}")
                    continue
                owner = a if side == _SENDER else b
                if owner != m.node:
                    problems.append(
                        f"the record of {m.node} holds channel {name}, "
                        f"not one of its {side} channels"
                    )
                elif (a, b) in recorded:
                    problems.append(f"channel {name} is held by both {a} and {b}")
                else:
                    recorded[(a, b)] = (m.node, msgs)
        return recorded

    def _explain_extra(self, msg: AppId, a: _Member, b: _Member) -> str:
        """Why a recorded message does not belong in its channel state."""
        src, sinc, dst, n = msg
        if (src, sinc, dst) != (a.node, a.inc, b.node):
            return f"it is not a message of {fmt_inc(a.key)}>{b.node}"
        sends = self.index.sends.get((src, sinc, dst))
        i = None if sends is None else sends.index.get(n)
        if sends is None or i is None:
            return "it was never sent"
        assert a.cut is not None and b.cut is not None
        if sends.pos[i] >= a.cut:
            return f"{fmt_inc(a.key)} sent it after its cut"
        return f"{fmt_inc(b.key)} received it before its cut"

    def check_channels(self) -> InvariantResult:
        """Each channel state is exactly the messages sent inside and not received inside.

        ``checked`` counts channels compared; a channel counts once as a
        violation however many of its messages are wrong.
        """
        problems: list[str] = []
        recorded = self._recorded(problems)
        side = self._side()
        members = self.members
        holders = {m.node for m in members.values() if m.record is not None}
        pairs: set[tuple[str, str]] = set()
        for a, b in recorded:
            if a in members and b in members:
                pairs.add((a, b))
            elif self.complete:
                problems.append(
                    f"channel {a}>{b} is recorded but {a} or {b} is not in the snapshot"
                )
        for m in members.values():
            for dst in self.index.dsts.get(m.key, ()):
                # A channel nobody recorded counts as recorded empty, but only
                # if its holder wrote a record at all.
                holder = m.node if side == _SENDER else dst
                if dst in members and holder in holders:
                    pairs.add((m.node, dst))
        checked = 0
        for pair in sorted(pairs):
            sender, receiver = members[pair[0]], members[pair[1]]
            if sender.cut is None or receiver.cut is None:
                continue  # no cut to compare with; reported under ``cut``
            checked += 1
            problem = self._compare(sender, receiver, recorded.get(pair))
            if problem:
                problems.append(problem)
        return _result(CHANNELS, checked, problems)

    def _compare(self, a: _Member, b: _Member, held: tuple[str, Any] | None) -> str:
        """The first difference between a channel's recorded and true state, or ``""``."""
        assert a.cut is not None and b.cut is not None
        name = f"{a.node}>{b.node}"
        sends = self.index.sends.get((a.node, a.inc, b.node), _Sends())
        want: dict[AppId, _Content] = {
            (a.node, a.inc, b.node, sends.n[i]): (sends.amount[i], sends.size[i])
            for i in self.index.in_flight(a.node, a.inc, a.cut, b.node, b.inc, b.cut)
        }
        got: dict[AppId, _Content] = {}
        repeated: list[AppId] = []
        msgs = [] if held is None else held[1]
        if not isinstance(msgs, list):
            return f"channel {name} is not a list of messages"
        for raw in msgs:
            parsed = _parse_message(raw)
            if parsed is None:
                return f"channel {name} holds a malformed message {raw!r}"
            msg, content = parsed
            if msg in got:
                repeated.append(msg)
            got[msg] = content
        missing = sorted(want.keys() - got.keys(), key=lambda m: m[3])
        if missing:
            msg = missing[0]
            return (
                f"channel {name} misses {fmt_app(msg)}{_describe(want[msg])}, sent before "
                f"{fmt_inc(a.key)}'s cut and not received before {fmt_inc(b.key)}'s "
                f"({len(missing)} missing)"
            )
        extra = sorted(got.keys() - want.keys())
        if extra:
            msg = extra[0]
            return (
                f"channel {name} holds {fmt_app(msg)}, but {self._explain_extra(msg, a, b)} "
                f"({len(extra)} extra)"
            )
        if repeated:
            return f"channel {name} holds {fmt_app(repeated[0])} more than once"
        for msg in sorted(want, key=lambda m: m[3]):
            (sent, sent_size), (held_amount, held_size) = want[msg], got[msg]
            # The bank's amounts must match; another application's messages
            # are known by identity, and by payload size where both sides tell it.
            if sent is not None and held_amount != sent:
                return (
                    f"channel {name} records {fmt_app(msg)} with amount {held_amount}, "
                    f"sent with {sent}"
                )
            if sent is None and None not in (sent_size, held_size) and held_size != sent_size:
                return (
                    f"channel {name} records {fmt_app(msg)} with a {held_size}-byte payload, "
                    f"sent with {sent_size} bytes"
                )
        return ""

    # ---------------------------------------------------------------- states
    def check_states(self) -> InvariantResult:
        """Each recorded balance is the opening balance plus app traffic before the cut.

        ``checked`` counts records compared. Only the bank has balances: for
        another application the result is not checked.
        """
        if not self.index.bank:
            return _not_bank(STATES)
        problems: list[str] = []
        checked = 0
        for m in self.members.values():
            if m.record is None or m.cut is None:
                continue
            checked += 1
            who = fmt_inc(m.key)
            state = m.record.get("state")
            balance = _as_int(state.get("balance")) if isinstance(state, dict) else None
            opened = self.index.opens.get(m.key)
            if balance is None:
                problems.append(f"{who} recorded no balance")
                continue
            if opened is None:
                problems.append(f"{who} recorded a balance but logged no bank_open")
                continue
            ledger = self.index.ledgers.get(m.key, _Ledger())
            k = bisect_left(ledger.pos, m.cut)
            sent, received = ledger.sent[k], ledger.received[k]
            expected = opened - sent + received
            if balance != expected:
                problems.append(
                    f"{who} recorded balance {balance}, its log gives {expected} "
                    f"(opened {opened}, sent {sent}, received {received} before its cut)"
                )
        return _result(STATES, checked, problems)

    # ---------------------------------------------------------- conservation
    def check_conservation(self) -> InvariantResult:
        """Recorded balances plus money in recorded channels equal the opening total.

        The opening total counts each node's first incarnation only: a later
        incarnation reopens its account from its ledger and brings no new
        money. Transfers that a crashed sender logged and no one ever received
        are subtracted once that sender's death is inside the cut. ``checked``
        counts the records and channel messages summed. Only the bank has
        money: for another application the result is not checked.
        """
        if not self.index.bank:
            return _not_bank(CONSERVATION)
        if not self.complete:
            return _skipped(CONSERVATION)
        balances = in_channels = checked = 0
        problems: list[str] = []
        for m in self.members.values():
            rec = m.record
            if rec is None:
                continue
            checked += 1
            state = rec.get("state")
            balance = _as_int(state.get("balance")) if isinstance(state, dict) else None
            if balance is None:
                problems.append(f"{fmt_inc(m.key)} recorded no balance")
            else:
                balances += balance
            channels = rec.get("channels")
            for msgs in channels.values() if isinstance(channels, dict) else ():
                for raw in msgs if isinstance(msgs, list) else ():
                    amount = _amount(raw)
                    checked += 1
                    if amount is None:
                        problems.append(f"a message in {m.node}'s record has no amount")
                    else:
                        in_channels += amount
        opened = sum(self.index.first_open.values())
        # Money a crashed sender took with it: transfers it logged that no one
        # ever received. It left the system when that incarnation died, which is
        # inside the cut if the snapshot's incarnation of that node is a later one.
        lost = sum(
            amount
            for (src, sinc), amount in self.index.lost.items()
            if src in self.members and self.members[src].inc > sinc
        )
        initial = opened - lost
        total = balances + in_channels
        if not problems and total != initial:
            gone = f" less {lost} lost with crashed senders" if lost else ""
            problems.append(
                f"recorded {balances} in balances + {in_channels} in channels = {total}, "
                f"but the nodes opened with {opened}{gone}"
            )
        return _result(CONSERVATION, checked, problems)

    # ---------------------------------------------------------------- verdict
    def _initiator_died(self) -> bool:
        """Whether the incarnation that started this snapshot was later replaced."""
        parsed = parse_sid(self.sid)
        if parsed is None:
            return False
        initiator, inc, _ = parsed
        return self.index.latest_inc.get(initiator, 0) > inc

    def verdict(self) -> SnapshotVerdict:
        ev = self.events
        duration = self.glob.get("duration") if self.glob is not None else None
        started = ev.start if ev.start is not None else ev.first_cut
        abort = ev.abort
        if abort is None and not self.complete and self._initiator_died():
            # Its initiator was killed before it could finish or abort it.
            abort = (started or 0.0, "initiator_restart")
        return SnapshotVerdict(
            sid=self.sid,
            variant=self.variant(),
            initiator=self.initiator(),
            started=started,
            complete=self.complete,
            aborted=abort is not None,
            abort_reason=abort[1] if abort is not None else None,
            duration=float(duration) if isinstance(duration, int | float) else None,
            nodes=tuple(sorted(m.node for m in self.members.values() if m.record is not None)),
            results=(
                self.check_cut(),
                self.check_channels(),
                self.check_states(),
                self.check_conservation(),
            ),
        )


def check_snapshots(
    events: Iterable[Mapping[str, Any]], files: Mapping[str, SnapshotFiles]
) -> list[SnapshotVerdict]:
    """A verdict for every snapshot the events or the files mention, by start time then sid.

    A snapshot with ``global.json`` is checked from the records there; one
    without is checked from whatever per-node files exist, is incomplete, and
    so is never ok, though the per-record checks still run to catch wrong
    records early. Raises ValueError if an event lacks a field its kind needs.
    """
    index = _Index(events)
    sids = set(index.snaps) | set(files)
    verdicts = [_SnapshotCheck(index, sid, files.get(sid)).verdict() for sid in sids]
    verdicts.sort(key=lambda v: (v.started if v.started is not None else float("inf"), v.sid))
    return verdicts
