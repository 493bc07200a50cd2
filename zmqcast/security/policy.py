"""Who may use a node's admin lane, and who may change its faults and workload.

The rules (README, "The admin lane's policy"):

- with ``security``, an admin request is taken only from a connection whose
  key is an admin key (its ``User-Id`` is ``~NAME``), wherever it comes from;
- without it, only from a loopback peer, unless the config's ``admin.remote``;
- either way, ``faults`` and ``workload`` (which can silence or wreck a
  cluster) only from a loopback peer, unless ``admin.remote_fault_control``:
  the stress harness sets it for its runs, whose admin requests come from
  the harness's own address when nodes run in network namespaces.

Each function returns the reason for a refusal, which goes back to the client
as the reply's ``error``, or None to let the request through.
"""

from __future__ import annotations

import ipaddress

from zmqcast.config import AdminPolicy
from zmqcast.security.auth import ADMIN_USER_PREFIX

FAULT_OPS = frozenset({"faults", "workload"})
"""Admin operations that change how the cluster behaves, not just read it."""


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (a peer's IP address as libzmq reports it) is this host's loopback."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def admin_refusal(
    policy: AdminPolicy, secure: bool, user: str | None, address: str | None
) -> str | None:
    """Why this client may not use the admin lane at all, or None if it may.

    ``user`` is the connection's authenticated name (``User-Id``; secure mode
    only), ``address`` the peer's IP address.
    """
    if secure:
        if user is not None and user.startswith(ADMIN_USER_PREFIX):
            return None
        return "refused: admin requests need an admin key (config security.admin_keys)"
    if policy.remote or is_loopback(address):
        return None
    return (
        f"refused: admin requests are taken from loopback only, not from {address or 'unknown'}"
        " (config admin.remote)"
    )


def op_refusal(policy: AdminPolicy, op: str, address: str | None) -> str | None:
    """Why operation ``op`` is refused to a client at ``address``, or None if it may run."""
    if op not in FAULT_OPS or policy.remote_fault_control or is_loopback(address):
        return None
    return (
        f"refused: {op} requests are taken from loopback only, not from {address or 'unknown'}"
        " (config admin.remote_fault_control)"
    )
