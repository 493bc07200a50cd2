"""The runtime's loss injector: each fault acts as configured and is reported."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from zmqcast.config import FaultConfig
from zmqcast.core.frames import Data, Frame, Heartbeat, Item
from zmqcast.runtime.faults import FaultInjector


def _data(seq: int, dst: str = "P2") -> Data:
    return Data("P1", dst, 1, 2, (Item(seq, {}, b"x"),))


def _injector(loss: float = 0.0, dup: float = 0.0) -> FaultInjector:
    return FaultInjector(FaultConfig(loss=loss, dup=dup), "P1", random.Random(5))


def _seqs(frames: list[Frame]) -> list[int]:
    return [f.items[0].seq for f in frames if isinstance(f, Data)]


def test_no_faults_passes_every_frame_untouched() -> None:
    inj = _injector()
    assert not inj.active
    out = inj.send(_data(1), 0.0)
    assert out.frames == [_data(1)] and out.faults == []


def test_loss_drops_about_the_configured_share_and_reports_each_drop() -> None:
    inj = _injector(loss=0.3)
    kinds: Counter[str] = Counter()
    sent = 0
    for seq in range(10_000):
        out = inj.send(_data(seq), 0.0)
        sent += len(out.frames)
        kinds.update(kind for kind, _ in out.faults)
    assert kinds["inject_drop"] + sent == 10_000
    assert 2_700 < kinds["inject_drop"] < 3_300


def test_dup_sends_a_second_copy() -> None:
    inj = _injector(dup=0.5)
    frames: list[Frame] = []
    dups = 0
    for seq in range(1_000):
        out = inj.send(_data(seq), 0.0)
        frames += out.frames
        dups += sum(kind == "inject_dup" for kind, _ in out.faults)
    assert len(frames) == 1_000 + dups
    assert 400 < dups < 600


def test_delay_holds_frames_until_their_time() -> None:
    inj = FaultInjector(FaultConfig(delay=0.99, max_delay=0.5), "P1", random.Random(1))
    held = [seq for seq in range(50) if not inj.send(_data(seq), 10.0).frames]
    assert held, "with delay 0.99 most frames must be held"
    assert inj.due(10.0) == []
    assert 10.0 < inj.next_deadline() <= 10.5
    released = _seqs(inj.due(10.5))
    assert sorted(released) == held
    assert inj.next_deadline() == float("inf")


def test_reorder_swaps_a_frame_with_the_next_one_on_its_link() -> None:
    inj = FaultInjector(FaultConfig(reorder=0.5, max_delay=1.0), "P1", random.Random(3))
    order: list[int] = []
    reordered = 0
    for seq in range(200):
        out = inj.send(_data(seq), 0.0)
        reordered += sum(kind == "inject_reorder" for kind, _ in out.faults)
        order += _seqs(out.frames)
    order += _seqs(inj.due(1.0))
    assert sorted(order) == list(range(200)), "reordering loses nothing"
    assert reordered > 20
    inversions = sum(1 for a, b in itertools.pairwise(order) if a > b)
    assert inversions == reordered


def test_a_held_frame_is_released_after_max_delay_if_nothing_follows() -> None:
    inj = FaultInjector(FaultConfig(reorder=0.99, max_delay=0.2), "P1", random.Random(0))
    assert inj.send(_data(1), 3.0).frames == []
    assert inj.next_deadline() == 3.2
    assert _seqs(inj.due(3.2)) == [1]


def test_per_link_override_only_touches_that_link() -> None:
    faults = FaultConfig(links={"P1>P3": {"loss": 0.99}})
    inj = FaultInjector(faults, "P1", random.Random(2))
    to_p2 = sum(len(inj.send(_data(s, "P2"), 0.0).frames) for s in range(100))
    to_p3 = sum(len(inj.send(_data(s, "P3"), 0.0).frames) for s in range(100))
    assert to_p2 == 100
    assert to_p3 < 10


def test_blocking_a_peer_cuts_the_link_both_ways() -> None:
    inj = _injector()
    inj.blocked.add("P2")
    assert inj.active
    out = inj.send(Heartbeat("P1", "P2", 1, 2, 0), 0.0)
    assert out.frames == [] and [k for k, _ in out.faults] == ["inject_block"]
    assert not inj.admit("P2")
    assert inj.admit("P3")
    inj.blocked.clear()
    assert inj.admit("P2")
    assert inj.send(_data(1), 0.0).frames == [_data(1)]


def test_same_seed_same_fates() -> None:
    def fates(seed: int) -> list[str]:
        inj = FaultInjector(FaultConfig(loss=0.2, dup=0.2, reorder=0.2), "P1", random.Random(seed))
        return [k for s in range(500) for k, _ in inj.send(_data(s), 0.0).faults]

    assert fates(9) == fates(9)
    assert fates(9) != fates(10)
