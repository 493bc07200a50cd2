"""Consistent global snapshots: Chandy-Lamport, Lai-Yang and sender-side logging.

The snapshotted application exchanges *app messages* with its neighbours; this
package sends and receives them for it and runs any number of snapshots over
them at once. Each snapshot has an id ``<initiator>-<inc>-<k>`` and a variant;
README.md ("Snapshots") is the specification.

Where things live:

:mod:`~zmqcast.core.snapshot.chandy_lamport`
    Chandy & Lamport (1985): markers in the data stream, for ``fifo`` channels.
:mod:`~zmqcast.core.snapshot.lai_yang`
    Lai & Yang (1987): colours and per-channel counts, for reliable channels in
    any order.
:mod:`~zmqcast.core.snapshot.sender_log`
    zmqcast's own sender-side variant: colours, sender logs and backward
    markers, for any channels, lossy ones included.
:mod:`~zmqcast.core.snapshot.layer`
    What the variants share: app messages and their colours, the cut record,
    collection at the initiator, aborts and timeouts (:class:`SnapshotLayer`).
:mod:`~zmqcast.core.snapshot.base`
    :class:`VariantSnapshot`, the per-snapshot state and hooks each variant
    implements.
:mod:`~zmqcast.core.snapshot.ids`, :mod:`~zmqcast.core.snapshot.variant`,
:mod:`~zmqcast.core.snapshot.messages`, :mod:`~zmqcast.core.snapshot.ranges`
    Snapshot ids, the variant names, the app-message types, number runs.
"""

from zmqcast.core.snapshot.base import VariantSnapshot
from zmqcast.core.snapshot.chandy_lamport import MARKER, ChandyLamportSnapshot
from zmqcast.core.snapshot.ids import parse_sid
from zmqcast.core.snapshot.lai_yang import LaiYangSnapshot
from zmqcast.core.snapshot.layer import (
    ALGORITHMS,
    CONTROL,
    STALE,
    EventSink,
    SendItem,
    SnapshotLayer,
)
from zmqcast.core.snapshot.messages import APP, App, AppMessage
from zmqcast.core.snapshot.sender_log import SenderLogSnapshot
from zmqcast.core.snapshot.variant import DEFAULT_VARIANT, Variant

__all__ = [
    "ALGORITHMS",
    "APP",
    "CONTROL",
    "DEFAULT_VARIANT",
    "MARKER",
    "STALE",
    "App",
    "AppMessage",
    "ChandyLamportSnapshot",
    "EventSink",
    "LaiYangSnapshot",
    "SendItem",
    "SenderLogSnapshot",
    "SnapshotLayer",
    "Variant",
    "VariantSnapshot",
    "parse_sid",
]
