"""Digests and pulls (``zmqcast.core.digest``): repair from any neighbour that holds a message."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.unit.corenet import CoreNet
from zmqcast.core.config import CoreConfig
from zmqcast.core.digest import DIGEST, PULL, from_meta, missing, ranges_of, to_meta
from zmqcast.core.events import EventKind
from zmqcast.core.frames import Data, Frame
from zmqcast.core.seqset import SeqSet
from zmqcast.topology import mesh


def test_ranges_of_groups_consecutive_values() -> None:
    assert ranges_of([5, 1, 2, 3, 9, 10]) == [(1, 3), (5, 5), (9, 10)]
    assert ranges_of([]) == []


def test_a_digest_round_trips_through_its_item_header() -> None:
    claims = {("P1", 2): [(1, 4), (7, 7)], ("P3", 1): [(10, 12)]}
    meta = to_meta(DIGEST, claims)
    assert meta["t"] == DIGEST
    assert from_meta(meta) == claims


@pytest.mark.parametrize(
    "entries",
    [
        "no list",
        [["P1", 1]],
        [[1, 1, []]],
        [["P1", 0, []]],
        [["P1", 1, [[3, 2]]]],
        [["P1", 1, [[0, 2]]]],
        [["P1", 1, [[1, True]]]],
        [["P1", 1, [[1, 2, 3]]]],
        [["P1", 1, [[1, 2]] * 300]],
    ],
)
def test_a_malformed_digest_is_refused(entries: Any) -> None:
    assert from_meta({"t": PULL, "d": entries}) is None


def test_missing_skips_what_is_held_at_or_below_the_floor_or_pulled_lately() -> None:
    mine = SeqSet(3)
    mine.add(6)
    claims = {("P1", 1): [(1, 8)], ("P2", 1): [(1, 2)]}
    records = {("P1", 1): mine}
    floors = {("P2", 1): 2}  # everything P2 claims is at or below its floor
    pulled = {("P1", 1, 5): 0.0}
    want, keep = missing(
        claims, lambda o, e: records.get((o, e)), floors, pulled, limit=10, reach=100
    )
    assert want == {("P1", 1): [(4, 4), (7, 8)]}
    assert keep == {("P1", 1): [(5, 5)]}


def test_missing_is_bounded_by_limit_and_reach() -> None:
    claims = {("P1", 1): [(1, 1 << 40)]}
    want, keep = missing(claims, lambda o, e: None, {}, {}, limit=3, reach=10)
    assert want == {("P1", 1): [(1, 3)]}
    assert keep == {("P1", 1): [(4, 10)]}


QUIET = CoreConfig(heartbeat_interval=5.0, suspect_after=10.0, digest_interval=0.2)


def test_a_node_pulls_from_a_neighbour_what_a_dead_origin_never_sent_it() -> None:
    """P1 multicasts; its copy to P3 is lost and P1 dies before resending it.
    Nobody suspects P1 yet (no repair flood), and on a mesh P2 relays nothing
    (its tree has no children). P2's digest shows the message; P3 pulls it."""
    net = CoreNet(mesh(["P1", "P2", "P3"]), QUIET)

    def lost(frame: Frame) -> bool:
        return isinstance(frame, Data) and (frame.src, frame.dst) == ("P1", "P3")

    net.drop = lost
    net.multicast("P1", b"m")
    net.run(0.05)
    assert net.got("P2", b"m") and not net.got("P3", b"m")
    net.down.add("P1")
    net.drop = lambda f: False
    net.run(1.0)
    assert net.got("P3", b"m")
    pulls = [e for e in net.events if e["kind"] == EventKind.PULL]
    assert [(e["node"], e["peer"], e["count"]) for e in pulls] == [("P3", "P2", 1)]
    assert net.cores["P2"].flood.stats.served == 1
    assert not any(e["kind"] == EventKind.SUSPECT for e in net.events)


def test_nothing_is_pulled_while_every_node_has_everything() -> None:
    net = CoreNet(mesh(["P1", "P2", "P3"]), QUIET)
    for i in range(5):
        net.multicast("P1", f"m{i}".encode())
    net.run(1.0)
    assert not any(e["kind"] == EventKind.PULL for e in net.events)
    # Digests went out, and stopped once nothing changed: every node is quiet.
    assert all(c.quiescent() for c in net.cores.values())
    assert all(c.next_deadline() >= net.now + 1.0 for c in net.cores.values())


def test_a_claim_the_holder_no_longer_serves_is_pulled_once() -> None:
    """P2's digest names a message it then drops; P3 pulls it once, gets
    nothing, and does not ask again: the pulls stop."""
    cfg = dataclasses.replace(QUIET)
    net = CoreNet(mesh(["P1", "P2", "P3"]), cfg)
    p3 = net.cores["P3"]
    ghost = {"t": DIGEST, "d": [["P9", 1, [[1, 1]]]]}
    assert p3.flood.on_digest("P2", ghost, net.now)
    net.run(1.5)
    pulls = [e for e in net.events if e["kind"] == EventKind.PULL]
    assert [(e["node"], e["peer"], e["count"]) for e in pulls] == [("P3", "P2", 1)]
    assert not p3.flood.busy()
    assert net.delivered["P3"] == []


def test_a_hostile_digest_is_merged_and_looked_at_in_bounded_steps() -> None:
    """The same huge range, repeated: merged into one, and each look covers at
    most ``reach`` numbers, keeping the rest as ranges (review, 2026-12-02:
    such a digest took 136 s and 4 GB in one look)."""
    huge = [[1, 2**62]] * 256
    claims = from_meta({"t": DIGEST, "d": [[f"P{i}", 1, huge] for i in range(16)]})
    assert claims is not None
    assert all(spans == [(1, 2**62)] for spans in claims.values())
    want, keep = missing(claims, lambda o, e: None, {}, {}, limit=256, reach=4096)
    pulled = sum(hi - lo + 1 for spans in want.values() for lo, hi in spans)
    assert pulled == 256
    assert sum(len(spans) for spans in keep.values()) <= 2 * len(claims)
    examined = pulled + sum(
        hi - lo + 1 for spans in keep.values() for lo, hi in spans if hi <= 4096
    )
    assert examined <= 16 * 4096  # nothing past floor + reach is kept


def test_too_big_a_digest_is_cut_to_what_a_receiver_takes() -> None:
    claims = {(f"P{i}", 1): [(2 * j + 1, 2 * j + 1) for j in range(300)] for i in range(20)}
    meta = to_meta(DIGEST, claims)
    assert from_meta(meta) is not None


def test_a_pull_serves_each_retained_copy_once_whatever_it_names() -> None:
    net = CoreNet(mesh(["P1", "P2", "P3"]), QUIET)
    for i in range(10):
        net.multicast("P1", f"m{i}".encode())
    net.run(0.1)
    p2 = net.cores["P2"]
    before = p2.status().items_sent
    assert p2.flood.on_pull("P3", {"t": PULL, "d": [["P1", 1, [[1, 2**62]] * 256]]})
    # P2 knows the floor passed most of them: it serves only what lies above.
    served = p2.status().items_sent - before
    assert served == p2.flood.stats.served <= 10


def test_a_restarted_node_is_not_offered_what_is_stable() -> None:
    """P1's messages were released everywhere; P2 restarts. P1's digest leaves
    out what is at or below its floor, so the new P2 pulls nothing and
    delivers none of them again (review, 2026-12-02: it pulled all six)."""
    cfg = dataclasses.replace(QUIET, heartbeat_interval=0.2)
    net = CoreNet(mesh(["P1", "P2"]), cfg)
    for i in range(6):
        net.multicast("P1", f"m{i}".encode())
        net.run(0.05)
    net.run(1.0)
    assert net.cores["P1"].idle()
    net.down.add("P2")
    net.run(0.5)
    net.delivered["P2"].clear()
    net.boot("P2", 2)
    net.run(3.0)
    assert net.delivered["P2"] == []
    assert not any(e["kind"] == EventKind.PULL for e in net.events)
