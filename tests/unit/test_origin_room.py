"""A batch of multicasts takes exactly as many as fit: ``room()`` agrees with
asking ``can_multicast()`` before each, whatever the windows hold."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.corenet import CoreNet
from zmqcast.core.config import ChannelMode, CoreConfig, Relay
from zmqcast.topology import SHAPES, build, node_names, relay_tree


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    mode=st.sampled_from(list(ChannelMode)),
    relay=st.sampled_from(list(Relay)),
    window=st.integers(2, 12),
    loss=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**32),
)
def test_room_is_how_many_multicasts_in_a_row_are_accepted(
    shape: str, mode: ChannelMode, relay: Relay, window: int, loss: float, seed: int
) -> None:
    rng = random.Random(seed)
    cfg = CoreConfig(mode=mode, relay=relay, window=window, rto=0.05, rto_max=0.2)
    net = CoreNet(build(shape, node_names(8 if shape == "squares" else 4)), cfg)
    net.drop = lambda frame: rng.random() < loss
    checked = 0
    for step in range(6):
        node = rng.choice(list(net.cores))
        core = net.cores[node]
        room = core.flood.room()
        taken = 0
        # What the batch took before room(): ask before each, flush at the end.
        while core.flood.can_multicast():
            core.flood.multicast(f"{node}:{step}:{taken}".encode())
            taken += 1
            assert taken <= window, "a window bounds what one batch takes"
        net.absorb(node, core.receive_many([], net.now))
        assert taken == room, (step, node)
        checked += room
        net.run(rng.choice([0.0, 0.02, 0.3]))
    if loss == 0.0:
        assert checked > 0


def test_an_origin_sends_its_own_multicasts_to_every_out_neighbour() -> None:
    """What room() relies on: in its own breadth-first tree, every out-neighbour
    of the origin is its child, so an own multicast fills every channel."""
    for shape in SHAPES:
        topology = build(shape, node_names(8))
        for node, out in topology.items():
            assert set(relay_tree(topology, node).children[node]) == set(out), (shape, node)
