"""The fixed-seed sweep CI runs on every change: every topology, channel mode and window.

About two minutes on two cores. It is the short form of the long sweeps README
reports; a failure prints the replay command of each failed run.
"""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.core.config import ChannelMode
from zmqcast.topology import SHAPES

RUNS = 160
SEED = 12


@pytest.mark.timeout(600)
def test_a_fixed_seed_sweep_passes_in_every_cell() -> None:
    result = CliRunner().invoke(
        app, ["sweep", "--runs", str(RUNS), "--jobs", "2", "--seed", str(SEED), "--json"]
    )
    report = orjson.loads(result.stdout)
    failures = "\n".join(
        f"{f['failure']}: {f['detail']}\n  {f['command']}" for f in report["failures"]
    )
    assert result.exit_code == 0, failures
    assert report["runs"] == RUNS
    assert report["passed"] == RUNS and report["failed"] == 0
    cells = report["cells"]
    drawn = {(c["topology"], c["channel"], c["window"]) for c in cells}
    assert {t for t, _, _ in drawn} == set(SHAPES)
    assert {c for _, c, _ in drawn} == {m.value for m in ChannelMode}
    assert {w for _, _, w in drawn} == {8, 32, 256}
    assert set(report["by_workload"]) == {"chat", "bank", "mixed"}
    assert set(report["by_relay"]) == {"tree", "flood"}
