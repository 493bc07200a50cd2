"""A node's core, placed in its topology: the one place that derives what the
core needs from the whole graph (neighbours, echoes, routes, relay trees)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zmqcast.core.config import CoreConfig, Relay
from zmqcast.core.node import NodeCore
from zmqcast.topology import echo_neighbours, in_neighbours, next_hops, relay_tree


def place_core(
    node_id: str,
    inc: int,
    topology: Mapping[str, Sequence[str]],
    cfg: CoreConfig,
    now: float,
    *,
    restarted: bool,
    routes: Mapping[str, str] | None = None,
) -> NodeCore:
    """The core of incarnation ``inc`` of ``node_id``, linked as ``topology`` says.

    ``routes`` may be passed in when the caller already computed them.
    """
    return NodeCore(
        node_id,
        inc,
        topology[node_id],
        in_neighbours(topology)[node_id],
        cfg,
        now,
        echo_to=echo_neighbours(topology, node_id),
        restarted=restarted,
        members=list(topology),
        routes=routes if routes is not None else next_hops(topology, node_id),
        tree=relay_tree(topology, node_id) if cfg.relay is Relay.TREE else None,
    )
