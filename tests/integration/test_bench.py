"""`zmqcast bench`: a smoke run of every scenario at tiny sizes, so the benchmark
cannot rot; its figures are not judged here (that is not what CI is for)."""

from __future__ import annotations

import importlib
import ipaddress
import re
import subprocess
import sys
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import zmqcast_cmd
from zmqcast.bench.stats import median, percentile
from zmqcast.cli import app


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``zmqcast bench ARGS`` as a real process; it must succeed."""
    done = subprocess.run(
        zmqcast_cmd("bench", *args), capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "scenario", ["raw", "channel", "multicast", "all-to-all", "snapshot", "memory", "pyre", "core"]
)
def test_every_scenario_runs_and_reports_its_ratio(scenario: str) -> None:
    if scenario == "pyre":
        pytest.importorskip("pyre", reason="the optional extra: pip install 'zmqcast[pyre]'")
    messages = "3000" if scenario == "snapshot" else "300"  # time for a few snapshots
    # One repeat of the snapshot scenario: it runs five clusters per repeat.
    repeat = 1 if scenario == "snapshot" else 2
    done = _bench(scenario, "--messages", messages, "--repeat", str(repeat), "--json")
    record = orjson.loads(done.stdout.strip().splitlines()[-1])
    if scenario == "pyre" and "skipped" in record:
        # No namespaces here (not root): the comparison refuses the host's interfaces.
        pytest.skip(record["skipped"])
    assert record["scenario"] == scenario and record["repeat"] == repeat
    assert record["trace"] == "lean"
    metrics = {m["name"]: m for m in record["metrics"]}
    raw = metrics["raw frames/s"]
    assert raw["runs"] == repeat and raw["min"] <= raw["median"] <= raw["max"] and raw["min"] > 0
    if scenario == "snapshot":
        for variant in ("chandy-lamport", "lai-yang", "sender-log"):
            assert {f"{variant} p50", f"{variant} p99", f"{variant} throughput drop"} <= set(
                metrics
            )
            assert metrics[f"{variant} throughput drop"]["runs"] == repeat
    elif scenario == "memory":
        assert metrics["peak RSS after 30"]["median"] > 1000  # a Python process: MBs
        assert "RSS growth to 300" in metrics
    elif scenario == "pyre":
        theirs, ours = metrics["pyre delivered/s"], metrics["multicast delivered/s"]
        assert theirs["runs"] == ours["runs"] == 2
        assert theirs["median"] > 0 and ours["median"] > 0
        _check_ratios(record, "ratio_to_raw", theirs, raw)
        _check_ratios(record, "ratio_to_pyre", ours, theirs)
        assert 0 < metrics["send-to-deliver p50"]["median"] <= metrics["send-to-deliver p99"]["max"]
        assert 0 < metrics["delivered fraction"]["min"] <= 1  # Pyre does not repair loss
        _check_pyre_stayed_in_its_namespaces(record)
    elif scenario == "core":
        ours = metrics["core multicasts/s"]
        assert ours["runs"] == repeat and ours["median"] > 0
        _check_ratios(record, "ratio_to_raw", ours, raw)
        parts = ("origin core per multicast", "receiver core per multicast", "codec per multicast")
        for name in parts:
            assert 0 < metrics[name]["min"] <= metrics[name]["max"]
        # The parts happen one after the other in one process: in every run
        # they take less than the whole, so the least of each part together
        # take less than the slowest run's time per multicast.
        assert sum(metrics[name]["min"] for name in parts) <= 1 / ours["min"]
    elif scenario != "raw":
        ours = metrics[f"{scenario} delivered/s"]
        assert ours["median"] > 0
        _check_ratios(record, "ratio_to_raw", ours, raw)
        assert 0 < metrics["frames per delivery"]["median"] < 10
        # Relay trees on a mesh: the origin's own copies and nothing else.
        copies = metrics["copies per multicast"]
        assert copies["min"] == copies["max"] == record["nodes"] - 1


def _check_pyre_stayed_in_its_namespaces(record: dict[str, Any]) -> None:
    """Every Pyre node beaconed from the run's private subnet, and the lab is gone."""
    network = record["pyre_network"]
    match = re.fullmatch(r"a network namespace per node, (\S+) on bridge (zc\d+a)", network)
    assert match, network
    subnet, bridge = ipaddress.IPv4Network(match[1]), match[2]
    assert subnet.is_private and subnet.subnet_of(ipaddress.IPv4Network("10.213.0.0/16"))
    assert len(record["pyre_endpoints"]) == record["repeat"]
    for endpoints in record["pyre_endpoints"]:
        assert len(endpoints) == record["nodes"]
        for endpoint in endpoints:
            host = endpoint.removeprefix("tcp://").rpartition(":")[0]
            assert ipaddress.ip_address(host) in subnet, endpoint
    gone = subprocess.run(["ip", "link", "show", bridge], capture_output=True, check=False)
    assert gone.returncode != 0, f"bridge {bridge} left behind"


def _check_ratios(
    record: dict[str, Any], key: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    """The ratio is the median of the per-run ratios, each between the extremes."""
    runs = record[f"{key}_runs"]
    assert len(runs) == record["repeat"]
    assert record[key] == pytest.approx(median(runs), rel=1e-12)
    for r in runs:
        assert (
            ours["min"] / theirs["max"] * (1 - 1e-9)
            <= r
            <= ours["max"] / theirs["min"] * (1 + 1e-9)
        )


@pytest.mark.timeout(120)
def test_multicast_with_the_full_trace() -> None:
    """The default runs lean; the full trace (an event per delivery) must work too."""
    done = _bench("multicast", "--messages", "300", "--repeat", "1", "--trace", "full")
    assert "multicast delivered/s" in done.stdout


@pytest.mark.timeout(120)
def test_large_bodies_are_batched_within_the_frame_limit() -> None:
    """64 bodies of 100 kB would make a 6 MB frame that receivers refuse (1 MiB
    limit); the sender must split batches by bytes, or the run never ends."""
    done = _bench("channel", "--size", "100000", "--messages", "130", "--repeat", "1")
    assert "channel delivered/s" in done.stdout


@pytest.mark.timeout(120)
def test_secure_reports_the_cost_of_encryption_as_a_ratio_to_plain_mode() -> None:
    done = _bench("multicast", "--messages", "300", "--repeat", "1", "--secure", "--json")
    record = orjson.loads(done.stdout.strip().splitlines()[-1])
    metrics = {m["name"]: m for m in record["metrics"]}
    secure, plain = metrics["secure delivered/s"], metrics["multicast delivered/s"]
    assert secure["runs"] == plain["runs"] == 1 and secure["median"] > 0
    _check_ratios(record, "ratio_secure_to_plain", secure, plain)
    assert 0 < metrics["secure latency p50"]["median"] <= metrics["secure latency p99"]["max"]


@pytest.mark.timeout(120)
def test_light_load_latency_and_copies_per_multicast_when_flooding() -> None:
    """``--rate`` paces the origin, for latency at light load; a 4-node mesh
    costs (N-1)^2 copies per multicast flooding (the default relay trees' N-1
    is checked with every scenario above)."""
    done = _bench(
        "multicast", "--nodes", "4", "--messages", "100", "--rate", "200", "--repeat", "1",
        "--relay", "flood", "--json",
    )  # fmt: skip
    record = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert record["relay"] == "flood" and record["rate"] == 200
    metrics = {m["name"]: m for m in record["metrics"]}
    assert metrics["copies per multicast"]["median"] == 9
    # At 200 a second, 100 messages take about half a second to send.
    assert metrics["multicast delivered/s"]["median"] < 250
    p50, rtt = metrics["send-to-deliver p50"]["median"], metrics["raw rtt p50"]["median"]
    assert record["ratio_p50_to_rtt"] == pytest.approx(p50 / rtt)


def test_bad_bench_flags_name_the_flag() -> None:
    runner = CliRunner()
    for args, flag in [
        (["nope"], "SCENARIO"),
        (["raw", "--nodes", "1"], "--nodes"),
        (["raw", "--messages", "1"], "--messages"),
        (["raw", "--size", "2"], "--size"),
        (["raw", "--repeat", "0"], "--repeat"),
        (["raw", "--trace", "verbose"], "--trace"),
        (["snapshot", "--secure"], "--secure"),
        (["multicast", "--relay", "gossip"], "--relay"),
        (["multicast", "--rate", "-1"], "--rate"),
        (["snapshot", "--rate", "10"], "--rate"),
    ]:
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 2, result.output
        assert flag in result.output and "Traceback" not in result.output


def test_pyre_without_its_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyre", None)  # makes `import pyre` fail
    result = CliRunner().invoke(app, ["bench", "pyre"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: pyre: needs the optional extra: pip install 'zmqcast[pyre]'"
    )


def test_statistics_helpers() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.5) == 3.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    assert percentile([], 0.5) == 0.0


def test_a_failed_run_is_an_error_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def node_died(*args: object, **kwargs: object) -> None:
        raise RuntimeError("benchmark node P2 exited early:\nsome output of P2")

    # The package exports the command under the module's name, hence importlib.
    monkeypatch.setattr(importlib.import_module("zmqcast.cli.bench"), "run_cluster", node_died)
    result = CliRunner().invoke(app, ["bench", "multicast", "--messages", "10", "--repeat", "1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert "error: bench multicast: benchmark node P2 exited early:" in lines
    assert "some output of P2" in lines
