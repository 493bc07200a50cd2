"""The snapshot variants, and the channel modes each one is correct over."""

from __future__ import annotations

from enum import StrEnum

from zmqcast.core.config import ChannelMode


class Variant(StrEnum):
    """A snapshot algorithm, by its name on the wire, in records and on the command line."""

    CHANDY_LAMPORT = "chandy-lamport"
    LAI_YANG = "lai-yang"
    SENDER_LOG = "sender-log"

    def supports(self, mode: ChannelMode) -> bool:
        """Whether this variant is correct over channels of ``mode``."""
        return mode in _WORKS_OVER[self]


_WORKS_OVER: dict[Variant, frozenset[ChannelMode]] = {
    # Markers must not be overtaken: the marker is what closes a channel.
    Variant.CHANDY_LAMPORT: frozenset({ChannelMode.FIFO}),
    # Any order, but every white message must arrive, or its count never completes.
    Variant.LAI_YANG: frozenset(m for m in ChannelMode if m.reliable),
    # A lost message stays in its sender's log and in the channel state.
    Variant.SENDER_LOG: frozenset(ChannelMode),
}

DEFAULT_VARIANT = {
    ChannelMode.FIFO: Variant.CHANDY_LAMPORT,
    ChannelMode.UNORDERED: Variant.LAI_YANG,
    ChannelMode.LOSSY: Variant.SENDER_LOG,
}
"""The variant a node runs when none is chosen: the one built for its channels."""
