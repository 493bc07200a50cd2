"""Chandy-Lamport snapshots over FIFO channels (variant ``chandy-lamport``).

Source: K. Mani Chandy and Leslie Lamport, "Distributed Snapshots: Determining
Global States of Distributed Systems", ACM Transactions on Computer Systems
3(1):63-75, 1985.

The algorithm, as this module runs it:

Initiation
    The initiator records its state, then sends a marker on each outgoing
    channel before any further message on it (the paper's marker-sending rule).
On receiving a marker on channel ``c``
    A node that has not recorded its state records it and follows the
    marker-sending rule; the state of ``c`` is then empty. A node that had
    recorded its state closes ``c``: its state is what arrived on it in between
    (the marker-receiving rule).
On receiving an app message after the cut
    It is appended to its channel's state while that channel's marker has not
    arrived yet. FIFO order is what makes this right: everything ahead of the
    marker was sent before the sender's cut, everything behind it after.
Local part complete
    When every incoming channel has brought its marker.

Where this implementation goes beyond the paper, which takes one snapshot and
leaves collecting the result open: markers carry a snapshot id, so several
snapshots run at once; markers travel as items of the data stream (``meta.t`` =
``"mk"``), so the channel's own sequencing gives them the FIFO order the
algorithm needs; the shared layer (:mod:`zmqcast.core.snapshot.layer`) sends
each record to the initiator and aborts the snapshot if a neighbour restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from zmqcast.core.events import channel_name
from zmqcast.core.snapshot.base import VariantSnapshot
from zmqcast.core.snapshot.messages import AppMessage
from zmqcast.core.snapshot.variant import Variant

MARKER = "mk"
"""``meta.t`` of a Chandy-Lamport marker on a data channel."""


class ChandyLamportSnapshot(VariantSnapshot):
    """One Chandy-Lamport snapshot at one node; ``waiting`` holds the
    in-neighbours whose marker has not arrived."""

    variant: ClassVar[Variant] = Variant.CHANDY_LAMPORT
    side: ClassVar[str] = "receiver"
    coloured: ClassVar[bool] = False  # the marker, not a colour, separates before from after

    __slots__ = ()

    def on_cut(self, now: float) -> None:
        """Open every incoming channel; put a marker on every outgoing one."""
        layer = self.layer
        self.waiting = set(layer.in_peers)
        self.channels = {channel_name(p, layer.id): [] for p in layer.in_peers}
        for peer in layer.out_peers:
            layer.send_data(peer, {"t": MARKER, "sid": self.sid})

    def on_marker(self, src: str, now: float) -> None:
        """Close channel ``src -> self``: what it brought since the cut is its state.

        A marker that made this node cut closes its channel empty: the layer cut
        (opening every channel) just before handing the marker over.
        """
        self.close_channel(src, now)

    def on_app(self, msg: AppMessage, colour: Mapping[str, str], now: float) -> None:
        """Record a message that arrived between the cut and its channel's marker."""
        if msg.src in self.waiting:
            self.channels[channel_name(msg.src, msg.dst)].append(msg)
