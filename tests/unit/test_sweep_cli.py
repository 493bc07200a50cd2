"""``zmqcast sweep`` through the CLI: flags, exit codes, the table, JSON, failures."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

import zmqcast.sim.sweep as sweep_module
from zmqcast.cli import app
from zmqcast.sim.runner import SimParams, SimResult, simulate
from zmqcast.sim.sweep import Matrix, draw_runs


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sweep", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--runs", "0"], "--runs"),
        (["--jobs", "0"], "--jobs"),
        (["--seed", "-1"], "--seed"),
        (["--nodes", "9"], "--nodes"),
        (["--nodes", "two"], "--nodes"),
        (["--nodes", "6-3"], "--nodes"),
        (["--topology", "star"], "--topology"),
        (["--channel", "fifo,tcp"], "--channel"),
        (["--window", "0"], "--window"),
        (["--window", "big"], "--window"),
        (["--workload", "video"], "--workload"),
        (["--relay", "tree,gossip"], "--relay"),
        (["--max-time", "0"], "--max-time"),
        (["--topology", "squares", "--nodes", "3"], "--nodes"),
        (["--topology", "squares,ring", "--nodes", "3"], "--nodes"),
    ],
)
def test_bad_flags_exit_2_with_one_line_naming_the_flag(args: list[str], flag: str) -> None:
    code, out, err = _invoke(*args)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {flag}: ")
    assert "Traceback" not in err


def test_a_small_sweep_passes_and_prints_a_table() -> None:
    code, out, _ = _invoke("--runs", "6", "--jobs", "1", "--seed", "0")
    assert code == 0, out
    assert out.startswith("zmqcast sweep: 6 runs, seed 0, 1 job, ")
    assert "topology  channel    window   passed" in out
    runs = draw_runs(Matrix(), 0, 6)
    for p in runs:
        cell = f"  {p.topology:<8}  {p.channel.value:<9}  {p.window:>6}"
        assert cell in out, cell
    assert "total: 6/6 passed, 0 failed" in out
    assert "FAILED" not in out


def test_json_report_parses_and_adds_up() -> None:
    code, out, _ = _invoke("--runs", "4", "--jobs", "1", "--seed", "3", "--json")
    assert code == 0, out
    report = orjson.loads(out)
    assert (report["runs"], report["passed"], report["failed"]) == (4, 4, 0)
    assert report["seed"] == 3 and report["failures"] == []
    assert sum(c["runs"] for c in report["cells"]) == 4
    assert sum(g["runs"] for g in report["by_workload"].values()) == 4
    expected = {(p.topology, p.channel.value, p.window) for p in draw_runs(Matrix(), 3, 4)}
    assert {(c["topology"], c["channel"], c["window"]) for c in report["cells"]} == expected


def test_filters_reach_the_runs() -> None:
    args = ["--runs", "3", "--jobs", "1", "--json", "--topology", "ring", "--channel", "lossy"]
    code, out, _ = _invoke(*args, "--window", "32", "--nodes", "3-4", "--workload", "chat")
    assert code == 0, out
    cells = orjson.loads(out)["cells"]
    assert [(c["topology"], c["channel"], c["window"]) for c in cells] == [("ring", "lossy", 32)]


def test_failures_exit_1_with_the_invariant_and_the_replay_command() -> None:
    # A virtual deadline no run can meet: every run fails liveness.
    code, out, _ = _invoke("--runs", "2", "--jobs", "1", "--max-time", "0.1")
    assert code == 1
    assert "total: 0/2 passed, 2 failed (liveness 2)" in out
    assert out.count("FAILED run ") == 2
    assert "FAILED run 0: liveness" in out
    for p in draw_runs(Matrix(max_time=0.1), 0, 2):
        assert f"  replay: {p.command()}" in out


def test_an_exception_in_one_run_is_a_failure_and_the_others_still_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doomed = draw_runs(Matrix(), 0, 3)[1]

    def flaky(params: SimParams) -> SimResult:
        if params == doomed:
            raise RuntimeError("boom")
        return simulate(params)

    monkeypatch.setattr(sweep_module, "simulate", flaky)
    code, out, _ = _invoke("--runs", "3", "--jobs", "1", "--json")
    assert code == 1
    report = orjson.loads(out)
    assert (report["runs"], report["passed"], report["failed"]) == (3, 2, 1)
    [failure] = report["failures"]
    assert failure["run"] == 1
    assert failure["failure"] == "exception"
    assert failure["detail"].startswith("RuntimeError: boom (at ")
    assert failure["command"] == doomed.command()


def test_worker_processes_give_the_same_report_as_inline() -> None:
    inline = orjson.loads(_invoke("--runs", "3", "--jobs", "1", "--json", "--seed", "5")[1])
    pooled = orjson.loads(_invoke("--runs", "3", "--jobs", "2", "--json", "--seed", "5")[1])
    assert pooled["jobs"] == 2
    for key in ("runs", "passed", "failed", "cells", "by_workload", "failures"):
        assert pooled[key] == inline[key], key
