"""Idle heartbeats: a frame to the same peer on another channel stands in for one."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.corenet import CoreNet
from zmqcast.core.config import CoreConfig
from zmqcast.core.events import EventKind
from zmqcast.core.frames import Frame
from zmqcast.topology import build, node_names

FAST = CoreConfig(rto=0.05, rto_max=0.2, heartbeat_interval=0.1, suspect_after=0.5)


def test_two_idle_neighbours_exchange_one_heartbeat_and_one_ack_per_interval() -> None:
    net = CoreNet(build("mesh", node_names(2)), FAST)
    net.run(1.0, interleave=True)  # handshakes done, nothing outstanding
    seen: Counter[str] = Counter()

    def count(frame: Frame) -> bool:
        seen[frame.kind] += 1
        return False

    net.drop = count
    net.run(2.0, interleave=True)
    intervals = 2.0 / FAST.heartbeat_interval
    # One of each per interval (give or take the window's edges), not two.
    assert intervals - 1 <= seen["hb"] <= intervals + 1
    assert intervals - 1 <= seen["ack"] <= intervals + 1
    assert not any(e["kind"] == EventKind.SUSPECT for e in net.events)


def test_only_an_idle_released_channel_lets_other_frames_stand_in_for_its_heartbeat() -> None:
    net = CoreNet(build("mesh", node_names(2)), FAST)
    net.run(0.5)
    sender = net.cores["P1"].senders["P2"]
    later = net.now + 0.05
    sender.note_contact(later, sender.peer_inc)
    assert sender.next_deadline() == pytest.approx(later + FAST.heartbeat_interval)
    due = sender.next_deadline()
    sender.note_contact(later + 0.02, sender.peer_inc + 1)  # sent to another incarnation
    assert sender.next_deadline() == due
    sender.send({"t": "x"}, b"queued")  # an item outstanding: it must prompt its receiver
    sender.note_contact(later + 0.04, sender.peer_inc)
    assert sender.next_deadline() == due
