"""A sweep run replays exactly from the ``zmqcast sim`` command it prints."""

from __future__ import annotations

import shlex
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.sim.runner import SimParams
from zmqcast.sim.sweep import Matrix, RunOutcome, draw_run, run_one, work_per_turn


def _replay(command: str) -> tuple[int, dict[str, Any], str]:
    """Run a printed command through the CLI with ``--json``."""
    argv = shlex.split(command)
    assert argv[:2] == ["zmqcast", "sim"]
    result = CliRunner().invoke(app, [*argv[1:], "--json"])
    return result.exit_code, orjson.loads(result.stdout), result.stderr


def _assert_same_run(outcome: RunOutcome, code: int, replayed: dict[str, Any]) -> None:
    summary = outcome.summary
    assert summary, "the sweep kept no summary for this run"
    for key, value in summary.items():
        if key != "invariants":
            assert replayed[key] == value, key
    assert _violated(replayed["invariants"]) == _violated(summary["invariants"])
    assert replayed["ok"] is outcome.ok
    assert code == (0 if outcome.ok else 1)


def _violated(invariants: dict[str, Any]) -> set[str]:
    """Names of violated invariants, whether a verdict is a string or an object."""
    verdicts = {k: v["verdict"] if isinstance(v, dict) else v for k, v in invariants.items()}
    return {k for k, v in verdicts.items() if v == "VIOLATED"}


def _small_runs(matrix: Matrix, count: int) -> list[tuple[int, SimParams]]:
    """The first ``count`` runs of seed 0 that are cheap enough for a unit test."""
    picked: list[tuple[int, SimParams]] = []
    index = 0
    while len(picked) < count:
        params = draw_run(matrix, 0, index)
        turn = work_per_turn(params.topology, params.nodes, params.workload)
        if params.nodes * params.messages * turn <= 2000:
            picked.append((index, params))
        index += 1
    return picked


@pytest.mark.parametrize("which", range(3))
def test_a_generated_run_replays_to_the_same_summary(which: int) -> None:
    index, params = _small_runs(Matrix(), 3)[which]
    outcome = run_one(index, params)
    code, replayed, _ = _replay(outcome.command)
    assert replayed["command"] == outcome.command
    _assert_same_run(outcome, code, replayed)


def test_a_failing_run_replays_to_the_same_failure() -> None:
    # No run can go quiet by t=0.1, so this one fails, as a stuck run would:
    # liveness, or validity if a copy lost on the way was not yet resent.
    index, params = _small_runs(Matrix(max_time=0.1, workloads=("mixed",)), 1)[0]
    outcome = run_one(index, params)
    assert outcome.failure in ("liveness", "validity")
    assert "--max-time 0.1" in outcome.command
    code, replayed, err = _replay(outcome.command)
    _assert_same_run(outcome, code, replayed)
    assert f"VIOLATED: {outcome.failure}" in err
    assert f"replay with: {outcome.command}" in err
