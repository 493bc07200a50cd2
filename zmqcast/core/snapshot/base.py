"""What every snapshot variant shares: one snapshot's state at one node, and its hooks.

:class:`~zmqcast.core.snapshot.layer.SnapshotLayer` owns the parts common to all
variants (ids, the cut record, collection at the initiator, aborts). It holds one
:class:`VariantSnapshot` per running snapshot and hands it, through the hooks
below, only what its algorithm reacts to: the cut, app messages after the cut,
and the variant's own marker or count. Each algorithm module overrides the hooks
it needs; the rest do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from zmqcast.core.snapshot.messages import AppMessage
from zmqcast.core.snapshot.variant import Variant

if TYPE_CHECKING:
    from zmqcast.core.snapshot.layer import SnapshotLayer


class VariantSnapshot:
    """One snapshot, as one node incarnation runs it.

    A snapshot is created when the node first meets it (initiation, a marker,
    a coloured message or a control item) and cut at once. It is *done* when
    no channel is still open (``waiting`` is empty): its record then goes to
    the initiator, which alone keeps collecting ``records`` until all are in.
    """

    variant: ClassVar[Variant]
    """Which algorithm this class runs."""
    side: ClassVar[str]
    """``receiver``: the record's channels are this node's incoming ones;
    ``sender``: its outgoing ones."""
    coloured: ClassVar[bool]
    """Whether app messages sent after the cut carry this snapshot's id."""

    __slots__ = (
        "channels",
        "cut",
        "deadline",
        "done",
        "initiator",
        "layer",
        "record",
        "records",
        "sid",
        "started",
        "waiting",
    )

    def __init__(self, layer: SnapshotLayer, sid: str, initiator: str, deadline: float) -> None:
        self.layer = layer
        self.sid = sid
        self.initiator = initiator
        self.deadline = deadline
        """When the snapshot is aborted here if still running."""
        self.cut = False
        self.record: dict[str, Any] = {}
        """This node's record, begun at the cut; ``channels`` is added when done."""
        self.channels: dict[str, list[AppMessage]] = {}
        """Channel name -> the messages recorded as its state, set up at the cut."""
        self.waiting: set[str] = set()
        """Neighbours whose channel is still open (which neighbours, and what
        closes their channel, is the variant's business)."""
        self.done = False
        # Initiator only.
        self.started = 0.0
        self.records: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------- hooks
    def on_cut(self, now: float) -> None:
        """The local state was just recorded: open the channels, send what the
        algorithm sends at a cut. The layer checks for completion afterwards.

        Every variant implements this one; the other hooks are optional.
        """
        raise NotImplementedError

    def on_app(self, msg: AppMessage, colour: Mapping[str, str], now: float) -> None:
        """An app message arrived after the cut (``colour``: the snapshots its
        sender had cut, by id). It has not been applied yet."""

    def on_marker(self, src: str, now: float) -> None:
        """A Chandy-Lamport marker for this snapshot arrived from ``src``.

        Markers, counts and backward markers name a snapshot of their own
        variant, so a correct peer never sends one to a snapshot of another
        variant; each variant ignores the others' items.
        """

    def on_count(self, src: str, inc: int, count: int, now: float) -> None:
        """A Lai-Yang count for this snapshot arrived from in-neighbour ``src``
        (incarnation ``inc``, 0 if it did not say)."""

    def on_backward_marker(
        self, src: str, about_inc: object, received: list[tuple[int, int]], now: float
    ) -> None:
        """A sender-log backward marker arrived from out-neighbour ``src``: the
        numbers it had received from incarnation ``about_inc`` of this node."""

    def on_complete(self) -> None:
        """The local record is complete and serialised: drop what only served it."""

    # ------------------------------------------------------------- helpers
    def close_channel(self, peer: str, now: float) -> None:
        """The channel with ``peer`` is fully recorded; the snapshot may be done."""
        self.waiting.discard(peer)
        self.layer.maybe_done(self, now)

    def held(self) -> int:
        """Messages this snapshot holds here, for the memory footprint."""
        return sum(len(msgs) for msgs in self.channels.values())
