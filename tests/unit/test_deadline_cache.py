"""The core keeps its next deadline between inputs: after every input the kept
answer is what walking every timer gives, and it is not recomputed until then."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.corenet import CoreNet
from zmqcast.core.config import ChannelMode, CoreConfig, Relay
from zmqcast.core.node import NodeCore
from zmqcast.core.snapshot import Variant
from zmqcast.topology import SHAPES, build, node_names


def _agrees(core: NodeCore) -> bool:
    return core.next_deadline() == core._earliest_timer()


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    mode=st.sampled_from(list(ChannelMode)),
    relay=st.sampled_from(list(Relay)),
    seed=st.integers(0, 2**32),
)
def test_the_kept_deadline_is_the_earliest_timer_after_every_input(
    shape: str, mode: ChannelMode, relay: Relay, seed: int
) -> None:
    rng = random.Random(seed)
    cfg = CoreConfig(mode=mode, relay=relay, window=8, rto=0.05, rto_max=0.2, sender_log=True)
    net = CoreNet(build(shape, node_names(8 if shape == "squares" else 4)), cfg)
    net.drop = lambda frame: rng.random() < 0.2
    variant = next(v for v in Variant if v.supports(mode))
    for step in range(40):
        node = rng.choice(list(net.cores))
        core = net.cores[node]
        action = rng.random()
        if action < 0.4 and core.can_multicast():
            net.absorb(node, core.multicast(f"{step}".encode(), net.now))
        elif action < 0.45:
            net.absorb(node, core.snapshot(variant, net.now)[1])
        elif action < 0.5:
            net.down.add(node)  # a crash; its frames are lost from now on
        elif action < 0.55 and net.down:
            net.boot(sorted(net.down)[0], step + 2)
        # Carry frames one at a time, checking every core after each input.
        while net.queue:
            frame = net.queue.pop(0)
            if frame.dst in net.down or frame.src in net.down or net.drop(frame):
                continue
            net.absorb(frame.dst, net.cores[frame.dst].receive(frame, net.now))
            assert _agrees(net.cores[frame.dst])
        net.now = round(net.now + rng.choice([0.001, 0.01, 0.2]), 6)
        for name, each in net.cores.items():
            if name not in net.down:
                net.absorb(name, each.tick(net.now))
                assert _agrees(each)


def test_the_deadline_is_not_recomputed_until_an_input() -> None:
    net = CoreNet(build("mesh", node_names(3)), CoreConfig())
    core = net.cores["P1"]
    calls = 0
    walk = core._earliest_timer

    def counted() -> float:
        nonlocal calls
        calls += 1
        return walk()

    core._earliest_timer = counted  # type: ignore[method-assign]
    first = core.next_deadline()
    assert core.next_deadline() == first and calls == 1
    net.absorb("P1", core.tick(net.now + 0.01))
    core.next_deadline()
    assert calls == 2
