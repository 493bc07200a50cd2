"""Lai-Yang snapshots over reliable channels in any order (variant ``lai-yang``).

Source: Ten H. Lai and Tao H. Yang, "On Distributed Snapshots", Information
Processing Letters 25(3):153-158, 1987.

Lai and Yang replace markers with colours, so channels need not be FIFO. A node
is *white* until it records its state and *red* after; every message carries
its sender's colour; a white node that receives a red message records its state
before taking the message. A channel's state is then the white messages sent on
it minus the white messages received before the receiver turned red.

The algorithm, as this module runs it:

Initiation
    The initiator records its state (turns red for this snapshot). From then on
    its app messages carry the snapshot's id in ``meta.c``, the colour.
At the cut (any node)
    Besides turning red, the node tells each out-neighbour, on the control
    lane, how many app messages it had sent on that channel before the cut (a
    *count*, ``k`` = ``"ly"``). The count carries the colour too: a neighbour
    that has not cut cuts on receiving it.
On receiving a red message or count, while white
    Record the state first (the layer does this for any coloured item), then
    handle the item.
On receiving a white app message, while red
    Append it to its channel's state: it was sent before the sender's cut and
    is received after the receiver's, so it was in flight at the cut.
On receiving the count of channel ``c``
    ``c`` is complete once the white messages received on it, before and after
    the cut, add up to the count.
Local part complete
    When every incoming channel is complete.

Where this implementation departs from the paper. The paper sends no control
messages: each node keeps histories of the white messages it sent and
received, and the channel states are computed from them afterwards. Here the
receiver records the channel state itself and learns from the count when it
has all of it; counting white messages to know when they have all arrived is
the idea of Mattern's message counters (F. Mattern, "Efficient Algorithms for
Distributed Snapshots and Global Virtual Time Approximation", Journal of
Parallel and Distributed Computing 18(4), 1993); the per-channel count on the
control lane is this project's form of it. The count doubles as a red item, so
every out-neighbour of a node that cut turns red without waiting for app
traffic that may never come. Counts are kept per sender incarnation, since a
restarted sender numbers its messages afresh, and what earlier incarnations of
the receiver took still counts as received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from zmqcast.core.events import channel_name
from zmqcast.core.snapshot.base import VariantSnapshot
from zmqcast.core.snapshot.messages import AppMessage
from zmqcast.core.snapshot.ranges import seqset_size
from zmqcast.core.snapshot.variant import Variant

if TYPE_CHECKING:
    from zmqcast.core.snapshot.layer import SnapshotLayer

COUNT = "ly"
"""``k`` of a Lai-Yang count on the control lane."""


def parse_count(meta: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(sender inc, count)`` of a count item, or None if it is malformed.

    ``inc`` is 0 when the sender did not say which incarnation it is.
    """
    count, inc = meta.get("count"), meta.get("inc", 0)
    if type(count) is not int or count < 0 or type(inc) is not int or inc < 0:
        return None
    return inc, count


class LaiYangSnapshot(VariantSnapshot):
    """One Lai-Yang snapshot at one node; ``waiting`` holds the in-neighbours
    whose channel has not reached its count."""

    variant: ClassVar[Variant] = Variant.LAI_YANG
    side: ClassVar[str] = "receiver"
    coloured: ClassVar[bool] = True

    __slots__ = ("expected", "white")

    def __init__(self, layer: SnapshotLayer, sid: str, initiator: str, deadline: float) -> None:
        super().__init__(layer, sid, initiator, deadline)
        self.expected: dict[str, tuple[int, int]] = {}
        """In-neighbour -> (its incarnation, the white count it announced)."""
        self.white: dict[tuple[str, int], int] = {}
        """White messages received per in-neighbour incarnation: those of this
        incarnation before the cut (added at the cut) and all after it."""

    def on_cut(self, now: float) -> None:
        """Open every incoming channel, count what came before, announce what went out."""
        layer = self.layer
        self.waiting = set(layer.in_peers)
        self.channels = {channel_name(p, layer.id): [] for p in layer.in_peers}
        for p in layer.in_peers:
            if p in layer.heard_inc:
                key = (p, layer.heard_inc[p])
                self.white[key] = self.white.get(key, 0) + layer.received_count.get(p, 0)
        for peer in layer.out_peers:
            count = layer.sent_n[peer]
            layer.control(peer, {"k": COUNT, "sid": self.sid, "count": count, "inc": layer.inc})
        # A count may already be in (it is what made us cut) and already met.
        for p in list(self.waiting):
            self._check_channel(p, now)

    def on_app(self, msg: AppMessage, colour: Mapping[str, str], now: float) -> None:
        """Count a white message, and record it while its channel is open."""
        if self.sid in colour:
            return  # red: sent after its sender's cut, so not in any channel state
        key = (msg.src, msg.sinc)
        self.white[key] = self.white.get(key, 0) + 1
        if msg.src in self.waiting:
            self.channels[channel_name(msg.src, msg.dst)].append(msg)
            self._check_channel(msg.src, now)

    def on_count(self, src: str, inc: int, count: int, now: float) -> None:
        """Note how many white messages channel ``src -> self`` carried in all."""
        # A count without an incarnation is about the one our channels know.
        self.expected[src] = (inc or self.layer.prior(src)[0], count)
        self._check_channel(src, now)

    def _check_channel(self, src: str, now: float) -> None:
        """Close channel ``src -> self`` once its white messages reach the count."""
        announced = self.expected.get(src)
        if announced is None:
            return
        inc, count = announced
        # What our predecessors received of that sender incarnation counts too.
        prior = self.layer.prior_received.get((src, inc))
        white = self.white.get((src, inc), 0) + (seqset_size(prior) if prior is not None else 0)
        if white >= count:
            self.close_channel(src, now)
