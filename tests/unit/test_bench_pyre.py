"""The reduction of the ``pyre`` bench scenario's node records to its figures."""

from __future__ import annotations

from typing import Any

import pytest

from zmqcast.bench.pyre import PyreResult, free_udp_port, reduce_pyre


def _receiver(delivered: int, last: float | None, latencies: list[float]) -> dict[str, Any]:
    return {
        "delivered": delivered,
        "first_delivery": None if last is None else 10.0,
        "last_delivery": last,
        "latencies": latencies,
    }


SENT = {"sent": 1000, "first_send": 10.0, "last_send": 10.5, "disconnected": 0}


def test_no_loss_is_the_zmqcast_figure_at_the_slowest_receiver() -> None:
    result = reduce_pyre(
        SENT,
        [_receiver(1000, 11.0, [0.1, 0.2]), _receiver(1000, 12.0, [0.3, 0.4])],
        1000,
    )
    # messages / (latest last delivery - first send)
    assert result.throughput == pytest.approx(500.0)
    assert result.delivered_fraction == 1.0
    assert result.delivered == 2000
    assert result.latency_p50 == 0.2  # nearest rank over all receivers' samples
    assert result.latency_p99 == 0.4
    assert result.disconnected == 0


def test_loss_counts_only_what_arrived() -> None:
    # The second receiver was cut off early: its last delivery is early, but it got little.
    sent = {**SENT, "disconnected": 1}
    result = reduce_pyre(sent, [_receiver(1000, 12.0, [0.1]), _receiver(100, 10.5, [0.1])], 1000)
    assert result.throughput == pytest.approx(100 / 0.5)
    assert result.delivered_fraction == 0.1
    assert result.delivered == 1100
    assert result.disconnected == 1


def test_a_receiver_that_got_nothing_makes_the_rate_zero() -> None:
    result = reduce_pyre(SENT, [_receiver(1000, 11.0, [0.1]), _receiver(0, None, [])], 1000)
    assert result == PyreResult(
        throughput=0.0,
        latency_p50=0.1,
        latency_p99=0.1,
        delivered_fraction=0.0,
        delivered=1000,
        disconnected=0,
    )


def test_free_udp_port_is_a_port() -> None:
    assert 0 < free_udp_port() < 65536
