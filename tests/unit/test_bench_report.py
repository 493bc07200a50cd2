"""How `zmqcast bench` prints and records a figure that some runs did not produce."""

from __future__ import annotations

import math

import orjson

from zmqcast.cli.bench import Metric, _fmt

NAN = math.nan


def _snapshot_p50(*samples: float) -> Metric:
    return Metric("lai-yang p50", "s", list(samples), missing="no snapshot completed")


def test_a_variant_that_completed_no_snapshot_says_so_instead_of_0_us() -> None:
    metric = _snapshot_p50(NAN, NAN, NAN)
    text = _fmt(metric)
    assert text.split() == ["none", "(no", "snapshot", "completed", "in", "any", "of", "3", "runs)"]
    assert "us" not in text and "0" not in text
    record = metric.record()
    assert record["runs"] == 0
    # JSON null, not a made-up 0.
    assert orjson.loads(orjson.dumps(record))["median"] is None
    assert record["min"] is None and record["max"] is None


def test_a_figure_from_some_runs_says_how_many() -> None:
    text = _fmt(_snapshot_p50(0.007, NAN, 0.0071))
    assert text.startswith("      7050 us  (7000 - 7100)")
    assert text.endswith("(2 of 3 runs; no snapshot completed in the others)")


def test_a_figure_from_every_run_is_printed_as_before() -> None:
    assert _fmt(_snapshot_p50(0.007, 0.008)) == "      7500 us  (7000 - 8000)"
    assert _fmt(Metric("raw frames/s", "1/s", [100.0, 300.0])) == "       200 /s  (100 - 300)"
    assert _fmt(Metric("ratio", "1", [NAN])).split()[:2] == ["none", "(no"]
