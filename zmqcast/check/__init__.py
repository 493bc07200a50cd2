"""Invariant checkers over event traces, shared by the simulator and real runs.

A trace is a list of event dicts (see :mod:`zmqcast.core.events`). It is
indexed once (:class:`TraceIndex`); each checker reads the index and returns an
:class:`InvariantResult`; :func:`check_multicast` runs them all into a
:class:`CheckReport`.
"""

from zmqcast.check.lamport import LAMPORT, check_lamport
from zmqcast.check.multicast import (
    AGREEMENT,
    FIFO,
    INTEGRITY,
    RESTART_VALIDITY,
    VALIDITY,
    check_agreement,
    check_fifo,
    check_integrity,
    check_multicast,
    check_restart_validity,
    check_validity,
)
from zmqcast.check.report import CheckReport, InvariantResult
from zmqcast.check.trace import (
    SIM_NODE,
    Incarnation,
    IncKey,
    MsgId,
    Multicast,
    Receipt,
    TraceIndex,
    fmt_inc,
    fmt_msg,
)

__all__ = [
    "AGREEMENT",
    "FIFO",
    "INTEGRITY",
    "LAMPORT",
    "RESTART_VALIDITY",
    "SIM_NODE",
    "VALIDITY",
    "CheckReport",
    "IncKey",
    "Incarnation",
    "InvariantResult",
    "MsgId",
    "Multicast",
    "Receipt",
    "TraceIndex",
    "check_agreement",
    "check_fifo",
    "check_integrity",
    "check_lamport",
    "check_multicast",
    "check_restart_validity",
    "check_validity",
    "fmt_inc",
    "fmt_msg",
]
