"""Tunable parameters of the protocol core, shared by the simulator and the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChannelMode(StrEnum):
    """What a channel promises its user."""

    FIFO = "fifo"
    """Reliable, delivered in sequence order."""
    UNORDERED = "unordered"
    """Reliable, delivered as it arrives."""
    LOSSY = "lossy"
    """No repair: gaps are reported as losses, duplicates still dropped."""

    @property
    def reliable(self) -> bool:
        return self is not ChannelMode.LOSSY


class Relay(StrEnum):
    """How a multicast spreads (config ``relay``; README, "Dissemination")."""

    TREE = "tree"
    """Along each origin's breadth-first out-tree: N-1 data copies per
    multicast while nothing fails; flooding takes over where a copy may have
    been cut off (see :mod:`zmqcast.core.flood`)."""
    FLOOD = "flood"
    """The seed's eager flooding: every node relays to every out-neighbour,
    one copy per link (N(N-1) on a mesh)."""


FRAME_HEADROOM = 64 * 1024
"""Bytes of a frame kept for its header and item table (up to ``max_batch`` records)."""


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Timers are in seconds of whatever clock the driver feeds as ``now``."""

    mode: ChannelMode = ChannelMode.FIFO
    relay: Relay = Relay.TREE
    """How multicasts spread; the drivers hand the core its relay trees."""
    window: int = 256
    """Most unreleased items an origin may have on one channel before it is told
    to wait. Also the width of the duplicate-suppression window per origin."""
    reorder_limit: int = 4096
    """Most out-of-order items a receiver buffers; later ones are dropped and
    come back by retransmission."""
    max_batch: int = 64
    """Most items packed into one data frame."""
    max_frame_bytes: int = 1 << 20
    """Largest frame a receiver accepts (config ``max_frame_bytes``). A data
    frame takes further items only while its bodies stay ``FRAME_HEADROOM``
    below it, so batching never builds a frame the receiver must refuse."""
    rto: float = 0.2
    """First retransmission timeout; doubled on every retry up to ``rto_max``."""
    rto_max: float = 2.0
    ack_delay: float = 0.005
    """How long a receiver may hold an ack to coalesce it with later ones."""
    digest_interval: float = 0.5
    """How often a node sends its out-neighbours a digest of what it retains,
    while that changes, and pulls what their digests show it lacks."""
    ack_every: int = 32
    """Ack at once after this many unacknowledged items, whatever the delay."""
    nack_interval: float = 0.1
    """Least time between two NACKs of the same gap, and between a NACK-driven
    retransmission and the next one of the same item."""
    heartbeat_interval: float = 0.5
    """Idle time after which a channel sender sends a heartbeat."""
    suspect_after: float = 2.0
    """Silence after which a peer is reported as suspected."""
    loss_timeout: float = 0.5
    """On lossy channels, how long a gap may stay open before it is declared lost."""
    max_ranges: int = 32
    """Most ranges carried in one ack field."""
    holdback_timeout: float = 3.0
    """On a restarted incarnation with ``fifo`` channels, how long a per-origin
    delivery gap may stay open before it is skipped (its predecessor may have
    delivered the missing messages, which then never come back)."""
    epochs_per_origin: int = 4
    """Duplicate-suppression records kept per origin: one per recent epoch."""
    dedup_horizon: int = 4096
    """How far an origin's stable floor must pass an id this node never
    delivered before duplicate suppression forgets it (a late copy of it is
    then dropped). The floor can pass a copy still in flight after a relay
    restarts; see :mod:`zmqcast.core.dedup`."""
    snapshot_timeout: float = 30.0
    """A snapshot not complete this long after it reached a node is aborted there."""
    trace_messages: bool = True
    """Emit an event for every multicast, delivery, duplicate and held copy.
    Off (config ``"trace": "lean"``), the clock still ticks for each of them
    and every other event is still emitted; only the per-message lines, which
    cost a busy node about a sixth of its time, are left out."""
    sender_log: bool = False
    """Keep the outgoing-message log that ``sender-log`` snapshots need. Only
    acknowledgements by that variant's markers trim it, so it is off unless the
    variant may run."""

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool]] = [
            ("window", self.window >= 1),
            ("reorder_limit", self.reorder_limit >= self.window),
            ("max_batch", self.max_batch >= 1),
            ("max_frame_bytes", self.max_frame_bytes > FRAME_HEADROOM),
            ("rto", self.rto > 0),
            ("rto_max", self.rto_max >= self.rto),
            ("ack_delay", self.ack_delay >= 0),
            ("ack_every", self.ack_every >= 1),
            ("digest_interval", self.digest_interval > 0),
            ("nack_interval", self.nack_interval > 0),
            ("heartbeat_interval", self.heartbeat_interval > 0),
            ("suspect_after", self.suspect_after > self.heartbeat_interval),
            ("loss_timeout", self.loss_timeout > 0),
            ("max_ranges", self.max_ranges >= 1),
            ("holdback_timeout", self.holdback_timeout > 0),
            ("epochs_per_origin", self.epochs_per_origin >= 1),
            ("dedup_horizon", self.dedup_horizon >= self.window),
            ("snapshot_timeout", self.snapshot_timeout > 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"{name}: out of range ({getattr(self, name)!r})")
