"""The ``pyre`` bench scenario: the reduction of its node records to its figures,
and its refusal to let Pyre beacon anywhere but in namespaces of its own."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from zmqcast.bench import pyre as bench_pyre
from zmqcast.bench.pyre import (
    PyreResult,
    PyreSkipped,
    check_endpoints,
    free_udp_port,
    reduce_pyre,
    run_pyre,
)
from zmqcast.cli import app
from zmqcast.stress.netns import NetnsLab


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


def _no_processes(*args: object, **kwargs: object) -> None:
    raise AssertionError("a process was started although the run must be refused")


def test_without_namespaces_the_run_is_refused_not_moved_to_a_real_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_pyre, "unavailable", lambda: "not root")
    monkeypatch.setattr(subprocess, "Popen", _no_processes)
    with pytest.raises(PyreSkipped) as refused:
        run_pyre(3, 100, 64)
    assert "not root" in str(refused.value)
    assert "real interface" in str(refused.value)


def test_the_cli_skips_the_comparison_in_one_line_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pyre", reason="the optional extra: pip install 'zmqcast[pyre]'")
    monkeypatch.setattr(bench_pyre, "unavailable", lambda: "not root")
    cli = importlib.import_module("zmqcast.cli.bench")
    for name in ("raw_throughput", "run_cluster", "run_pyre"):
        monkeypatch.setattr(cli, name, _no_processes)
    text = CliRunner().invoke(app, ["bench", "pyre"])
    assert text.exit_code == 0, text.output
    assert text.output.count("\n") == 1
    assert text.output.startswith("bench pyre: skipped: Pyre needs network namespaces (not root)")
    json = CliRunner().invoke(app, ["bench", "pyre", "--json"])
    assert json.exit_code == 0, json.output
    record = orjson.loads(json.output)
    assert record["scenario"] == "pyre" and "not root" in record["skipped"]


def test_an_endpoint_outside_the_lab_subnet_fails_the_run() -> None:
    lab = NetnsLab(["Y1", "Y2"])  # names only: nothing is set up
    inside = {"endpoint": f"tcp://{lab.subnet}.1:40000"}
    assert check_endpoints([inside], lab) == (inside["endpoint"],)
    for stray in ("tcp://172.17.0.2:40000", "tcp://127.0.0.1:40000", "tcp://eth0:1"):
        with pytest.raises(RuntimeError, match="outside its namespace's subnet"):
            check_endpoints([inside, {"endpoint": stray}], lab)


def test_a_pyre_node_outside_its_namespace_refuses_to_start() -> None:
    pytest.importorskip("pyre", reason="the optional extra: pip install 'zmqcast[pyre]'")
    node = importlib.import_module("zmqcast.bench.pyre_node")
    # Run in the host's namespace and given one that does not exist: it must stop there.
    args = ["--netns", "zc-none", "--port", "1", "--group", "g", "--nodes", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "zmqcast.bench.pyre_node", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("ERROR ")
    assert "refusing to beacon on the host's interfaces" in done.stdout
    assert node.namespace_problem("zc-none", "/nonexistent") is not None


def test_namespace_identity_is_the_kernel_object_not_the_name(tmp_path: Path) -> None:
    node = pytest.importorskip("zmqcast.bench.pyre_node", reason="needs the pyre extra")
    (tmp_path / "other").write_bytes(b"")  # a handle that is not our namespace
    assert node.namespace_problem("other", str(tmp_path)) == (
        "not running in network namespace other"
    )
    # A handle to this process's own namespace passes.
    os.symlink("/proc/self/ns/net", tmp_path / "mine")
    assert node.namespace_problem("mine", str(tmp_path)) is None
