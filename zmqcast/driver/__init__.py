"""The driver: what runs one node's sans-IO core, under ZeroMQ and in the simulator alike.

:class:`NodeDriver` feeds the core, hands its frames to a transport (real
sockets or the simulated network), writes its events and snapshot files,
hands deliveries to the application and answers snapshot waiters. It reads
the time from an injectable :class:`Clock`: the system's for a real node, a
:class:`VirtualClock` in the simulator, so a seeded simulation runs the same
driver code as a real node.
"""

from zmqcast.driver.clock import Clock, SystemClock, VirtualClock
from zmqcast.driver.driver import NodeDriver, SnapshotWaiter
from zmqcast.driver.eventlog import (
    LOG_FAILED_EXIT,
    EventLog,
    FileEventLog,
    IncarnationChoice,
    IncarnationError,
    MemoryEventLog,
    WriteFailed,
    choose_incarnation,
    last_incarnation,
    open_event_log_tail,
)
from zmqcast.driver.files import DirectorySnapshots, MemorySnapshots, SnapshotStore

__all__ = [
    "LOG_FAILED_EXIT",
    "Clock",
    "DirectorySnapshots",
    "EventLog",
    "FileEventLog",
    "IncarnationChoice",
    "IncarnationError",
    "MemoryEventLog",
    "MemorySnapshots",
    "NodeDriver",
    "SnapshotStore",
    "SnapshotWaiter",
    "SystemClock",
    "VirtualClock",
    "WriteFailed",
    "choose_incarnation",
    "last_incarnation",
    "open_event_log_tail",
]
