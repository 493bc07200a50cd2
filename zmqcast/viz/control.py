"""Snapshot control messages, placed where the event logs allow.

The logs record a node's cut (``snap_cut``) and the end of its local part
(``snap_record``), but not each marker, count or record as it arrives. Each
is drawn from the event that sent it to the earliest event of its receiver
at which (or just after which) it can have arrived, given what the logs do
say, and is marked *inferred*:

* a Chandy-Lamport marker ``A -> B`` leaves at A's cut. It arrives at or after
  B's cut (a marker makes its receiver cut), after A's cut by the clock,
  after every transfer A sent B before its cut and before any A sent after
  (FIFO), and no later than B's ``snap_record`` (B finishes once every marker
  is in);
* a Lai-Yang count ``A -> B`` leaves at A's cut and arrives at or after B's
  cut, no later than B's ``snap_record``;
* a sender-log backward marker ``B -> A`` leaves at B's cut (B sends it to
  its in-neighbours) and arrives at or after A's cut, no later than A's
  ``snap_record``;
* a record leaves at its node's ``snap_record`` and arrives at the initiator
  no later than its ``snap_done``. Records travel hop by hop; the arrow is
  drawn straight.

One that no event of its receiver fits (a restarted node that joined a
snapshot long over, clocks of two hosts that disagree) is not drawn. They
take no part in the vector clocks, only in the vertical order.
"""

from __future__ import annotations

from zmqcast.core.snapshot.variant import Variant
from zmqcast.viz.cuts import Member, Snapshot
from zmqcast.viz.model import Flag, MessageKind, RunModel

_Transfers = dict[tuple[int, int], list[tuple[int, int]]]
"""(receiver lane, sender lane) -> (receipt seq, send seq) of each app message between them."""


def add_control_messages(model: RunModel, snapshots: list[Snapshot]) -> None:
    """Add the inferred control messages of every snapshot to ``model``."""
    transfers = _transfers(model)
    for snap in snapshots:
        members = snap.members
        for a in members.values():
            lane_a = model.lanes[a.lane]
            if snap.variant in (Variant.CHANDY_LAMPORT, Variant.LAI_YANG):
                kind = (
                    MessageKind.MARKER
                    if snap.variant == Variant.CHANDY_LAMPORT
                    else MessageKind.LY_COUNT
                )
                for peer in lane_a.out:
                    b = members.get(peer)
                    if b is None:
                        continue
                    fifo = transfers if snap.variant == Variant.CHANDY_LAMPORT else None
                    _add(model, kind, a, b, snap.sid, a.cut, _arrival(model, a.cut, b, fifo))
            elif snap.variant == Variant.SENDER_LOG:
                for peer in lane_a.ins:
                    b = members.get(peer)
                    if b is not None:
                        _add(
                            model,
                            MessageKind.BACKWARD_MARKER,
                            a,
                            b,
                            snap.sid,
                            a.cut,
                            _arrival(model, a.cut, b, None),
                        )
        initiator = members.get(snap.initiator)
        if initiator is None:
            continue
        for m in members.values():
            if m is initiator or m.record is None:
                continue
            at = _record_arrival(model, m.record, initiator, snap.done)
            _add(model, MessageKind.RECORD, m, initiator, snap.sid, m.record, at)


def _add(
    model: RunModel, kind: MessageKind, a: Member, b: Member, sid: str, send: int, recv: int | None
) -> None:
    """Add one control message; none if no event of the receiver fits its arrival."""
    if recv is None:
        return
    model.add(
        kind,
        a.node,
        b.node,
        sid,
        send,
        recv,
        causal=False,
        sid=sid,
        flags={Flag.INFERRED},
        note=f"its arrival is not logged: drawn at the earliest event of {b.node} where it fits",
    )


def _transfers(model: RunModel) -> _Transfers:
    """Every app message received, by lanes, in receipt order."""
    found: _Transfers = {}
    events = model.events
    for msg in model.messages:
        if (
            msg.kind != MessageKind.APP
            or msg.send is None
            or msg.recv is None
            or Flag.DUPLICATE in msg.flags
        ):
            continue
        sent, got = events[msg.send], events[msg.recv]
        found.setdefault((got.lane, sent.lane), []).append((got.seq, sent.seq))
    for pairs in found.values():
        pairs.sort()
    return found


def _arrival(model: RunModel, send: int, b: Member, fifo: _Transfers | None) -> int | None:
    """The event of ``b``'s lane where a control message sent at ``send`` is drawn to
    arrive: the earliest that fits, None if none does."""
    events = model.events
    lane = model.lanes[b.lane]
    sent = events[send]
    cut = events[b.cut].seq
    low = max(cut, lane.first_after(sent.time))
    high = len(lane.events) - 1
    if b.record is not None:
        high = min(high, events[b.record].seq)
    if fifo is not None:
        for recv_seq, send_seq in fifo.get((b.lane, sent.lane), ()):
            if send_seq < sent.seq:
                low = max(low, recv_seq)  # arrived just after that transfer, at the earliest
            elif recv_seq > cut:
                high = min(high, recv_seq - 1)
    return lane.events[low] if low <= high else None


def _record_arrival(model: RunModel, send: int, initiator: Member, done: int | None) -> int | None:
    events = model.events
    lane = model.lanes[initiator.lane]
    cut = events[initiator.cut].seq
    low = max(cut, lane.first_after(events[send].time))
    high = len(lane.events) - 1
    if done is not None and events[done].lane == lane.index:
        high = events[done].seq
    return lane.events[low] if low <= high else None
