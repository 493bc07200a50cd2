"""Textbook walks through each snapshot algorithm, frame by frame, with exact records.

Two banks, P1 and P2, linked both ways, each opening with 1,000. The test moves
every frame itself: it delivers, holds back or drops each one, so a transfer is
in flight (or lost) exactly when the snapshot passes it. Each test then asserts
the recorded balances and channel states message by message, and that they
account for every unit of money.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from zmqcast.core.bank import Bank, transfer_body
from zmqcast.core.config import ChannelMode, CoreConfig
from zmqcast.core.events import Event, Outputs, SnapshotFile
from zmqcast.core.frames import CONTROL_LANE, DATA_LANE, Data, Frame
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import APP, MARKER, Variant

Match = Callable[[Frame], bool]
OTHER = {"P1": "P2", "P2": "P1"}


def anything(_frame: Frame) -> bool:
    return True


def _items_of(frame: Frame, src: str, lane: int, kind: str) -> bool:
    return (
        isinstance(frame, Data)
        and frame.src == src
        and frame.lane == lane
        and any(isinstance(item.meta, dict) and item.meta.get("t") == kind for item in frame.items)
    )


def transfer_from(src: str) -> Match:
    """Data frames carrying app messages (transfers) sent by ``src``."""
    return lambda f: _items_of(f, src, DATA_LANE, APP)


def marker_from(src: str) -> Match:
    """Data frames carrying Chandy-Lamport markers sent by ``src``."""
    return lambda f: _items_of(f, src, DATA_LANE, MARKER)


def control_from(src: str) -> Match:
    """Control-lane data frames (counts, backward markers, records) sent by ``src``."""
    return lambda f: isinstance(f, Data) and f.src == src and f.lane == CONTROL_LANE


class Banks:
    """Two node cores with a bank each, and the frames between them, moved by hand.

    Time only moves when the test says so and no core is ever ticked, so
    nothing is retransmitted behind the test's back: a held frame stays held.
    """

    def __init__(self, mode: ChannelMode, sender_log: bool = False) -> None:
        cfg = CoreConfig(mode=mode, sender_log=sender_log)
        self.now = 0.0
        self.cores = {
            n: NodeCore(n, 1, [o], [o], cfg, self.now, members=["P1", "P2"], routes={o: o})
            for n, o in OTHER.items()
        }
        self.banks = {n: Bank([OTHER[n]], random.Random(0)) for n in OTHER}
        for n, core in self.cores.items():
            core.attach(self.banks[n])
        self.in_flight: list[Frame] = []
        self.events: list[Event] = []
        self.files: list[SnapshotFile] = []
        for core in self.cores.values():
            self._take(core.start(self.now))
        self.deliver(anything)  # the handshakes on both lanes

    def _take(self, out: Outputs) -> None:
        self.in_flight.extend(out.frames)
        self.events.extend(out.events)
        self.files.extend(out.files)

    def deliver(self, match: Match) -> int:
        """Deliver, in order, every frame in flight that ``match`` accepts,
        including those the deliveries produce; hold back the others. Return
        how many frames were delivered."""
        delivered = 0
        while True:
            frame = next((f for f in self.in_flight if match(f)), None)
            if frame is None:
                return delivered
            delivered += 1
            self.in_flight.remove(frame)
            self.now = round(self.now + 0.001, 6)
            self._take(self.cores[frame.dst].receive(frame, self.now))

    def drop(self, match: Match) -> int:
        """Lose every frame in flight that ``match`` accepts; return how many."""
        lost = [f for f in self.in_flight if match(f)]
        self.in_flight = [f for f in self.in_flight if not match(f)]
        return len(lost)

    def transfer(self, src: str, amount: int) -> dict[str, Any]:
        """``src`` pays ``amount`` to the other node (debit and send are one step,
        as in :meth:`Bank.next_transfer`); return the message as a record lists it."""
        self.banks[src].balance -= amount
        self.now = round(self.now + 0.001, 6)
        self._take(self.cores[src].send_app(OTHER[src], transfer_body(amount), self.now))
        sent = self.events[-1]
        assert sent["kind"] == "app_send"
        return {
            "src": src,
            "sinc": 1,
            "dst": OTHER[src],
            "n": sent["n"],
            "lamport": sent["lamport"],
            "body": {"amount": amount},
        }

    def snapshot(self, node: str, variant: Variant) -> str:
        self.now = round(self.now + 0.001, 6)
        sid, out = self.cores[node].snapshot(variant, self.now)
        self._take(out)
        return sid

    def kinds(self, sid: str) -> list[tuple[str, str]]:
        """``(node, kind)`` of the snapshot events of ``sid`` so far, in order."""
        return [(e["node"], e["kind"]) for e in self.events if e.get("sid") == sid]

    def record(self, sid: str, node: str) -> dict[str, Any]:
        (f,) = [f for f in self.files if f.sid == sid and f.name == node]
        return f.content

    def global_file(self, sid: str) -> dict[str, Any] | None:
        found = [f.content for f in self.files if f.sid == sid and f.name == "global"]
        return found[0] if found else None

    def balance(self, node: str) -> int:
        return self.banks[node].balance


def _summary(record: dict[str, Any]) -> tuple[int, dict[str, list[dict[str, Any]]], str]:
    return record["state"]["balance"], record["channels"], record["side"]


def _recorded(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message in every channel state of a global snapshot."""
    return [
        m for r in snapshot["records"].values() for msgs in r["channels"].values() for m in msgs
    ]


def _money(snapshot: dict[str, Any]) -> int:
    """Balances plus transfers in channel states: what a consistent snapshot keeps at 2,000."""
    total = 0
    for record in snapshot["records"].values():
        total += record["state"]["balance"]
        total += sum(m["body"]["amount"] for msgs in record["channels"].values() for m in msgs)
    return total


def test_chandy_lamport_records_the_transfer_the_marker_finds_in_flight() -> None:
    """The classic walk: a transfer is on its way to the initiator when it cuts.

    FIFO channels: P2's marker travels behind the transfer, so P1 receives the
    transfer after its cut and before that marker, and records it as the state
    of channel P2 -> P1. A transfer P1 sends after its cut travels behind P1's
    marker, so it is in no state at all.
    """
    net = Banks(ChannelMode.FIFO)
    net.transfer("P1", 20)
    net.deliver(anything)
    assert (net.balance("P1"), net.balance("P2")) == (980, 1020)

    # P2 pays 30; the transfer is in flight to P1.
    in_flight = net.transfer("P2", 30)
    # P1 starts the snapshot: it records 980 and puts a marker on P1 -> P2.
    sid = net.snapshot("P1", Variant.CHANDY_LAMPORT)
    assert net.kinds(sid) == [("P1", "snap_start"), ("P1", "snap_cut")]
    # After its cut P1 pays 5: the transfer goes out behind the marker.
    after_cut = net.transfer("P1", 5)

    # P1 -> P2 carries the marker, then the 5. P2 cuts on the marker (990,
    # before the 5 is applied), closes P1 -> P2 empty, sends its own marker
    # and, with no other incoming channel, is done. Its record is held on the
    # control lane with everything else P2 sends.
    net.deliver(lambda f: f.src == "P1")
    assert net.balance("P2") == 995
    assert net.kinds(sid)[2:] == [("P2", "snap_cut"), ("P2", "snap_record")]
    assert _summary(net.record(sid, "P2")) == (990, {"P1>P2": []}, "receiver")

    # P2's marker reaches P1 before the transfer: the FIFO channel holds it back
    # until the transfer arrives, so the marker cannot overtake it.
    assert net.deliver(marker_from("P2")) == 1
    assert net.kinds(sid)[4:] == []
    assert net.balance("P1") == 975
    # The transfer arrives: P1 records it on P2 -> P1, then takes the marker.
    assert net.deliver(transfer_from("P2")) == 1
    assert net.balance("P1") == 1005
    assert _summary(net.record(sid, "P1")) == (980, {"P2>P1": [in_flight]}, "receiver")

    # P2's record reaches the initiator, which completes the snapshot.
    net.deliver(anything)
    done = net.global_file(sid)
    assert done is not None
    assert done["variant"] == "chandy-lamport"
    assert done["records"] == {"P1": net.record(sid, "P1"), "P2": net.record(sid, "P2")}
    assert _money(done) == 2000
    # The transfer sent after P1's cut and received after P2's is in no state.
    assert after_cut not in _recorded(done)
    assert net.kinds(sid)[-1] == ("P1", "snap_done")
    assert (net.balance("P1"), net.balance("P2")) == (1005, 995)


def test_lai_yang_records_a_white_transfer_that_arrives_after_the_receiver_turned_red() -> None:
    """Colours instead of markers, over channels that keep no order.

    P2's transfer leaves while P2 is white and arrives after P1 turned red: it
    is recorded on P2 -> P1, and the count P2 announces at its cut (one white
    message sent) tells P1 when that channel is complete. P1's red transfer
    makes P2 cut before applying it, even though P1's count is still held back.
    """
    net = Banks(ChannelMode.UNORDERED)
    net.transfer("P1", 20)
    net.deliver(anything)

    # P2 pays 30 while white; the transfer is in flight to P1.
    white = net.transfer("P2", 30)
    # P1 turns red (records 980) and sends P2 its count on the control lane:
    # one message sent on P1 -> P2 before the cut. The count is held back.
    sid = net.snapshot("P1", Variant.LAI_YANG)
    (count_frame,) = [f for f in net.in_flight if control_from("P1")(f)]
    assert isinstance(count_frame, Data)
    assert [i.meta for i in count_frame.items] == [
        {"t": "sc", "k": "ly", "sid": sid, "count": 1, "inc": 1}
    ]
    # P1 pays 5 after its cut: the transfer carries P1's colour.
    red = net.transfer("P1", 5)
    red_frames = [f for f in net.in_flight if transfer_from("P1")(f)]
    colours = [
        i.meta.get("c")
        for f in red_frames
        if isinstance(f, Data)
        for i in f.items
        if isinstance(i.meta, dict)
    ]
    assert colours == [{sid: "lai-yang"}]

    # The red transfer reaches P2 first: P2 cuts at 990, before applying it.
    assert net.deliver(transfer_from("P1")) == 1
    assert net.kinds(sid) == [("P1", "snap_start"), ("P1", "snap_cut"), ("P2", "snap_cut")]
    cut = next(e for e in net.events if e.get("sid") == sid and e["node"] == "P2")
    assert cut["state"] == {"balance": 990}
    assert net.balance("P2") == 995
    # P1's count arrives: P2 had received one white message from P1 (the 20),
    # so P1 -> P2 is complete and empty, and P2 is done.
    net.deliver(control_from("P1"))
    assert _summary(net.record(sid, "P2")) == (990, {"P1>P2": []}, "receiver")

    # P2's count (1) and record reach P1. P1 has received no white message
    # from P2 yet, so it waits for the one in flight.
    net.deliver(control_from("P2"))
    assert net.global_file(sid) is None
    assert net.kinds(sid)[-1] == ("P2", "snap_record")
    # The white transfer arrives at red P1: recorded, and the count is met.
    assert net.deliver(transfer_from("P2")) == 1
    assert _summary(net.record(sid, "P1")) == (980, {"P2>P1": [white]}, "receiver")

    done = net.global_file(sid)
    assert done is not None
    assert done["variant"] == "lai-yang"
    assert done["records"] == {"P1": net.record(sid, "P1"), "P2": net.record(sid, "P2")}
    assert _recorded(done) == [white]
    assert red not in _recorded(done)
    assert _money(done) == 2000
    assert net.kinds(sid)[-2:] == [("P1", "snap_record"), ("P1", "snap_done")]
    assert (net.balance("P1"), net.balance("P2")) == (1005, 995)


def test_sender_log_records_the_lost_transfer_from_the_senders_log() -> None:
    """Over lossy channels the sender records what the receiver never got.

    P2's transfer is lost. At P2's cut its frozen log still holds it, and P1's
    backward marker lists nothing received from P2, so the state of P2 -> P1 is
    exactly that transfer. P1's own transfer was received, so P2's backward
    marker acknowledges it: P1's channel state is empty and its log is trimmed,
    while the lost transfer stays in P2's log and in the next snapshot too.
    """
    net = Banks(ChannelMode.LOSSY, sender_log=True)
    to_p2 = net.transfer("P1", 20)
    net.deliver(anything)
    assert net.cores["P1"].footprint().snapshot_log == 1  # logged until acknowledged

    # P2 pays 30 and the frame is lost: lossy channels never repair it.
    lost = net.transfer("P2", 30)
    assert net.drop(transfer_from("P2")) == 1

    # P1 cuts (980), freezes its log (the 20) and sends P2 its backward marker:
    # nothing received from P2.
    sid = net.snapshot("P1", Variant.SENDER_LOG)
    (marker_frame,) = [f for f in net.in_flight if control_from("P1")(f)]
    assert isinstance(marker_frame, Data)
    assert [i.meta for i in marker_frame.items] == [
        {"t": "sc", "k": "sl", "sid": sid, "recv": [], "inc": 1}
    ]
    # The marker makes P2 cut (990) and freeze its log (the lost 30). The
    # state of P2 -> P1 is that log minus nothing: the lost transfer. P2 sends
    # back its own marker, acknowledging the 20 (n = 1), and is done.
    net.deliver(control_from("P1"))
    assert _summary(net.record(sid, "P2")) == (990, {"P2>P1": [lost]}, "sender")
    (back,) = [
        i.meta
        for f in net.in_flight
        if control_from("P2")(f) and isinstance(f, Data)
        for i in f.items
        if isinstance(i.meta, dict) and i.meta.get("k") == "sl"
    ]
    assert back == {"t": "sc", "k": "sl", "sid": sid, "recv": [[1, 1]], "inc": 1}

    # P2's marker reaches P1: P1 -> P2 is the frozen log minus n = 1, empty;
    # the acknowledged 20 leaves P1's log for good.
    net.deliver(anything)
    assert _summary(net.record(sid, "P1")) == (980, {"P1>P2": []}, "sender")
    done = net.global_file(sid)
    assert done is not None
    assert done["variant"] == "sender-log"
    assert _recorded(done) == [lost]
    assert to_p2 not in _recorded(done)
    assert _money(done) == 2000
    assert net.cores["P1"].footprint().snapshot_log == 0
    assert net.cores["P2"].footprint().snapshot_log == 1

    # Nobody acknowledges what was lost, so the next snapshot finds it again.
    again = net.snapshot("P2", Variant.SENDER_LOG)
    net.deliver(anything)
    done = net.global_file(again)
    assert done is not None
    assert done["records"]["P2"]["channels"] == {"P2>P1": [lost]}
    assert done["records"]["P1"]["channels"] == {"P1>P2": []}
    assert _money(done) == 2000
