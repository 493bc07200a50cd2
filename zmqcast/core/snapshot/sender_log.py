"""Sender-side snapshots for any channels, lossy ones included (variant ``sender-log``).

This variant is zmqcast's own. It keeps the colouring of Lai and Yang (Ten H.
Lai and Tao H. Yang, "On Distributed Snapshots", Information Processing Letters
25(3):153-158, 1987; see :mod:`zmqcast.core.snapshot.lai_yang`) and their
definition of a channel's state, the white messages sent on it minus the white
messages received before the receiver turned red. Lai and Yang collect both
histories and take the difference afterwards; here the difference is taken at
the sender, which keeps a log of what it sent and is told by the receiver what
it had received. Nothing waits for a message to arrive, so a lost message does
not hold the snapshot up: it stays in the sender's log and in the channel's
state, which is exactly what was in flight *or lost* at the cut (README,
"Snapshots").

The algorithm:

Every node, snapshot or not
    Logs each app message it sends, per out-neighbour, and notes the numbers
    ``n`` it receives from each in-neighbour (:class:`LinkLog`).
Initiation, and the cut at any node
    The node records its state, turns red (its app messages carry the
    snapshot's id, as in Lai-Yang) and freezes a copy of its log. It sends each
    in-neighbour a *backward marker* on the control lane (``k`` = ``"sl"``): the
    runs of ``n`` it had received from that neighbour before the cut.
On receiving a red message or a backward marker, while white
    Record the state first (the layer does this for any coloured item).
On receiving an app message
    Nothing for the snapshot: the receiver's side is fixed at its cut.
On receiving the backward marker of out-neighbour ``B``
    The state of channel ``self -> B`` is the frozen log to ``B`` minus the
    numbers in the marker. Entries of the live log that the marker lists are
    dropped for good: ``B`` received them before this cut, hence before any of
    its later cuts. A snapshot that ``B`` cut earlier is not affected: its
    marker travelled ahead on the in-order control lane and made this node cut
    (freezing the log) before this marker arrived.
Local part complete
    When every out-neighbour's backward marker has come back.

The log only shrinks by those acknowledgements, so it grows with the app
messages lost on the way; a node keeps it only when this variant may run
(:attr:`~zmqcast.core.config.CoreConfig.sender_log`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from zmqcast.core.events import channel_name
from zmqcast.core.seqset import SeqSet
from zmqcast.core.snapshot.base import VariantSnapshot
from zmqcast.core.snapshot.messages import AppMessage
from zmqcast.core.snapshot.ranges import RangeSet, is_range, merged_runs
from zmqcast.core.snapshot.variant import Variant

if TYPE_CHECKING:
    from zmqcast.core.snapshot.layer import SnapshotLayer

BACKWARD_MARKER = "sl"
"""``k`` of a sender-log backward marker on the control lane."""


def parse_backward_marker(meta: Mapping[str, Any]) -> list[tuple[int, int]] | None:
    """The runs of received numbers a backward marker lists, or None if malformed."""
    recv = meta.get("recv")
    if type(recv) is not list or not all(is_range(r) for r in recv):
        return None
    return [(r[0], r[1]) for r in recv]


class LinkLog:
    """What this variant needs every node to keep, whether a snapshot runs or not.

    ``keep`` off (the variant cannot run here), nothing is logged and the
    backward markers this node sends list no receipts of its own.
    """

    __slots__ = ("_received", "_sent", "keep")

    def __init__(self, out_peers: Sequence[str], in_peers: Sequence[str], keep: bool) -> None:
        self.keep = keep
        self._sent: dict[str, dict[int, AppMessage]] = {p: {} for p in out_peers}
        """Out-neighbour -> ``n`` -> the message, until a backward marker acknowledges it."""
        self._received: dict[str, SeqSet] = {p: SeqSet() for p in in_peers}
        """In-neighbour -> the numbers received from its current incarnation."""

    def sent(self, msg: AppMessage) -> None:
        if self.keep:
            self._sent[msg.dst][msg.n] = msg

    def received(self, src: str, n: int) -> None:
        if self.keep:
            self._received.setdefault(src, SeqSet()).add(n)

    def new_peer_incarnation(self, peer: str) -> None:
        """``peer`` restarted: its numbering starts afresh."""
        self._received[peer] = SeqSet()

    def receipts(self, peer: str) -> SeqSet:
        return self._received.get(peer, SeqSet())

    def freeze(self) -> dict[str, dict[int, AppMessage]]:
        """A copy of the log as it is now, per out-neighbour."""
        return {p: dict(log) for p, log in self._sent.items()}

    def acknowledge(self, peer: str, got: RangeSet) -> None:
        """Drop the messages to ``peer`` that it has received."""
        log = self._sent.get(peer, {})
        for n in [n for n in log if n in got]:
            del log[n]

    def size(self) -> int:
        return sum(len(log) for log in self._sent.values())


class SenderLogSnapshot(VariantSnapshot):
    """One sender-log snapshot at one node; ``waiting`` holds the out-neighbours
    whose backward marker has not come back."""

    variant: ClassVar[Variant] = Variant.SENDER_LOG
    side: ClassVar[str] = "sender"
    coloured: ClassVar[bool] = True

    __slots__ = ("frozen",)

    def __init__(self, layer: SnapshotLayer, sid: str, initiator: str, deadline: float) -> None:
        super().__init__(layer, sid, initiator, deadline)
        self.frozen: dict[str, dict[int, AppMessage]] = {}
        """The log per out-neighbour as it was at the cut; freed when done."""

    def on_cut(self, now: float) -> None:
        """Freeze the log; tell every in-neighbour what came from it before the cut."""
        layer = self.layer
        self.waiting = set(layer.out_peers)
        self.channels = {channel_name(layer.id, p): [] for p in layer.out_peers}
        self.frozen = layer.link_log.freeze()
        for peer in layer.in_peers:
            inc, prior = layer.prior(peer)
            got = [layer.link_log.receipts(peer)]
            if prior is not None:
                got.append(prior)
            ranges = [list(r) for r in merged_runs(got)]
            layer.control(peer, {"k": BACKWARD_MARKER, "sid": self.sid, "recv": ranges, "inc": inc})

    def on_backward_marker(
        self, src: str, about_inc: object, received: list[tuple[int, int]], now: float
    ) -> None:
        """Channel ``self -> src``: the frozen log minus what ``src`` had received."""
        if src not in self.waiting:
            return
        # Ranges about an earlier incarnation of ours acknowledge nothing.
        got = RangeSet(received if about_inc in (0, self.layer.inc) else [])
        frozen = self.frozen.get(src, {})
        self.channels[channel_name(self.layer.id, src)] = [
            m for n, m in sorted(frozen.items()) if n not in got
        ]
        self.layer.link_log.acknowledge(src, got)
        self.close_channel(src, now)

    def on_complete(self) -> None:
        self.frozen = {}

    def held(self) -> int:
        return super().held() + sum(len(log) for log in self.frozen.values())
