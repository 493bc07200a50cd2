"""Snapshots on a diagram: each cut, its in-flight messages and its orphans.

A node incarnation's cut for snapshot ``sid`` is its first ``snap_cut`` event
for it. Which incarnation of a node counts is the one whose record the
snapshot holds (``global.json`` or the node's own file), else the latest that
cut; a restarted node that joined after the snapshot ended (``snap_abort``
with reason ``stale``) does not count. The rules are those of the snapshot
checker (:mod:`zmqcast.check.snapshot`), applied to each app message drawn:

* it is *sent inside* the cut if the sender's counted incarnation sent it
  before its cut, or an earlier incarnation of the sender sent it;
* it is *received inside* if the receiver's counted incarnation received it
  before its cut, or an earlier incarnation of the receiver did;
* *in flight*: sent inside by the counted incarnation and not received
  inside: the recorded channel state (for ``sender-log``: in flight or lost).
  What an earlier, crashed incarnation sent and nobody received inside was
  lost with it, and is in no channel state;
* an *orphan*: received inside but sent outside. A consistent cut has none.

For ``lai-yang`` every event of a counted incarnation is *white* before its
cut and *red* from it on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zmqcast.check.snapshot import SnapshotFiles
from zmqcast.core.events import EventKind
from zmqcast.core.snapshot import parse_sid
from zmqcast.core.snapshot.variant import Variant
from zmqcast.viz.model import Flag, MessageKind, RunModel, app_ident, natural_key


@dataclass(slots=True)
class Member:
    """One node's counted incarnation in a snapshot."""

    node: str
    lane: int
    cut: int
    """Event index of its ``snap_cut``."""
    record: int | None = None
    """Event index of its ``snap_record``, if it finished its local part."""


@dataclass(slots=True, eq=False)
class Snapshot:
    """One snapshot as the trace (and its files, if any) tell it."""

    sid: str
    variant: str
    initiator: str
    members: dict[str, Member]
    start_time: float
    done: int | None = None
    """Event index of the initiator's ``snap_done``."""
    aborted: str | None = None
    """Why it did not complete: the reason of the first ``snap_abort``, or
    ``initiator_restart`` when its initiator was replaced before it finished."""
    recorded: set[str] | None = None
    """Identities of the app messages in ``global.json``'s channel states
    (``src#sinc>dst:n``); None without a ``global.json``."""
    in_flight: list[int] = field(default_factory=list)
    """Message indexes: the channel state the trace gives."""
    orphans: list[int] = field(default_factory=list)
    red: set[int] = field(default_factory=set)
    """Event indexes that are red (``lai-yang`` only)."""
    drawn: set[str] = field(default_factory=set)
    """Identities of the in-flight messages drawn."""

    def matches_record(self) -> tuple[set[str], set[str]] | None:
        """(recorded but not drawn as in flight, drawn in flight but not recorded);
        None when there is no ``global.json`` to compare with."""
        if self.recorded is None:
            return None
        return self.recorded - self.drawn, self.drawn - self.recorded


def find_snapshots(model: RunModel, files: Mapping[str, SnapshotFiles]) -> list[Snapshot]:
    """Every snapshot some node cut, in the order they started."""
    cuts: dict[str, dict[int, int]] = {}
    records: dict[tuple[str, int], int] = {}
    stale: set[tuple[str, int]] = set()
    variants: dict[str, str] = {}
    initiators: dict[str, str] = {}
    starts: dict[str, float] = {}
    done: dict[str, int] = {}
    aborted: dict[str, str] = {}
    for ev in model.events:
        raw = ev.raw
        kind = raw["kind"]
        if not str(kind).startswith("snap_"):
            continue
        sid = str(raw.get("sid"))
        if kind == EventKind.SNAP_CUT:
            cuts.setdefault(sid, {}).setdefault(ev.lane, ev.index)
            variants.setdefault(sid, str(raw.get("variant", "?")))
            initiators.setdefault(sid, str(raw.get("initiator", "?")))
            starts[sid] = min(starts.get(sid, ev.time), ev.time)
        elif kind == EventKind.SNAP_START:
            variants[sid] = str(raw.get("variant", variants.get(sid, "?")))
            initiators[sid] = model.lanes[ev.lane].node
            starts[sid] = min(starts.get(sid, ev.time), ev.time)
        elif kind == EventKind.SNAP_RECORD:
            records.setdefault((sid, ev.lane), ev.index)
        elif kind == EventKind.SNAP_DONE:
            done.setdefault(sid, ev.index)
        elif kind == EventKind.SNAP_ABORT:
            if raw.get("reason") == "stale":
                stale.add((sid, ev.lane))
            else:
                aborted.setdefault(sid, str(raw.get("reason", "unknown")))
    found: list[Snapshot] = []
    for sid, by_lane in cuts.items():
        info = files.get(sid)
        glob = info.global_record if info is not None else None
        counted = _counted_incarnations(info)
        members: dict[str, Member] = {}
        for lane_index, cut in sorted(by_lane.items()):
            if (sid, lane_index) in stale:
                continue
            lane = model.lanes[lane_index]
            held = members.get(lane.node)
            wanted = counted.get(lane.node)
            if wanted is not None and lane.inc != wanted:
                continue
            if held is None or model.lanes[held.lane].inc < lane.inc:
                members[lane.node] = Member(
                    lane.node, lane_index, cut, records.get((sid, lane_index))
                )
        if glob is not None:
            variants[sid] = str(glob.get("variant", variants[sid]))
            initiators[sid] = str(glob.get("initiator", initiators[sid]))
        reason = None
        if glob is None and sid not in done:
            # Not complete: aborted somewhere, or its initiator was killed before
            # it could finish or abort it. (A completed snapshot that a node
            # gave up later still has its global record, and is drawn whole.)
            reason = aborted.get(sid)
            if reason is None and _initiator_died(model, sid):
                reason = "initiator_restart"
        snap = Snapshot(
            sid,
            variants[sid],
            initiators[sid],
            dict(sorted(members.items(), key=lambda item: natural_key(item[0]))),
            starts[sid],
            done.get(sid),
            reason,
            _recorded(glob) if glob is not None else None,
        )
        found.append(snap)
    found.sort(key=lambda s: (s.start_time, s.sid))
    return found


def _initiator_died(model: RunModel, sid: str) -> bool:
    """Whether the incarnation that started ``sid`` was later replaced."""
    parsed = parse_sid(sid)
    if parsed is None:
        return False
    initiator, inc, _ = parsed
    return any(lane.node == initiator and lane.inc > inc for lane in model.lanes)


def _counted_incarnations(info: SnapshotFiles | None) -> dict[str, int]:
    """Node -> the incarnation whose record the snapshot's files hold."""
    if info is None:
        return {}
    source: Mapping[str, Any] = info.records
    if info.global_record is not None and isinstance(info.global_record.get("records"), dict):
        source = info.global_record["records"]
    counted: dict[str, int] = {}
    for name, rec in source.items():
        if isinstance(rec, dict) and isinstance(rec.get("inc"), int):
            counted[str(rec.get("node", name))] = int(rec["inc"])
    return counted


def _recorded(glob: Mapping[str, Any]) -> set[str]:
    """Identities of every message in the channel states of ``global.json``."""
    found: set[str] = set()
    records = glob.get("records")
    if not isinstance(records, dict):
        return found
    for rec in records.values():
        channels = rec.get("channels") if isinstance(rec, dict) else None
        if not isinstance(channels, dict):
            continue
        for msgs in channels.values():
            for m in msgs if isinstance(msgs, list) else ():
                if isinstance(m, dict):
                    found.add(app_ident(str(m["src"]), int(m["sinc"]), str(m["dst"]), int(m["n"])))
    return found


def classify(model: RunModel, snap: Snapshot) -> None:
    """Fill in ``snap``'s in-flight messages, orphans and (``lai-yang``) red events.

    An aborted snapshot is left as it is: its partial cut binds no one, as
    the checker does not judge it either.
    """
    events, lanes = model.events, model.lanes
    snap.in_flight.clear()
    snap.orphans.clear()
    snap.drawn.clear()
    snap.red.clear()
    if snap.aborted is not None:
        return
    complete = snap.done is not None or snap.recorded is not None
    for msg in model.messages:
        if msg.kind != MessageKind.APP or Flag.DUPLICATE in msg.flags or msg.send is None:
            continue
        sender = snap.members.get(msg.src)
        receiver = snap.members.get(msg.dst)
        if receiver is None:
            continue
        sent = events[msg.send]
        sinc = lanes[sent.lane].inc
        if sender is None:
            inside_sent = False
        else:
            counted = lanes[sender.lane].inc
            inside_sent = sinc < counted or (sinc == counted and sent.seq < events[sender.cut].seq)
        inside_received = False
        if msg.recv is not None:
            got = events[msg.recv]
            dinc, counted = lanes[got.lane].inc, lanes[receiver.lane].inc
            inside_received = dinc < counted or (
                dinc == counted and got.seq < events[receiver.cut].seq
            )
        current = sender is not None and sinc == lanes[sender.lane].inc
        if inside_sent and current and not inside_received:
            snap.in_flight.append(msg.index)
            snap.drawn.add(msg.ident)
        elif inside_received and not inside_sent and (complete or current):
            # In a snapshot still under way, a sender with no cut yet may yet cut.
            snap.orphans.append(msg.index)
    if snap.variant == Variant.LAI_YANG:
        for member in snap.members.values():
            lane = lanes[member.lane]
            snap.red.update(lane.events[events[member.cut].seq :])
